/**
 * The deploy/local-cluster.sh topology for real: HAProxy (PROXY v2) → two gateway processes → Redis,
 * with a dispatcher and a storage worker. Two clients that land on (possibly) different gateways log in
 * and message each other; the station sees their real address through the PROXY header.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectClient, createUserIdentity, KeyDirectory } from '../helpers/station-harness.ts';
import type { DimClient } from '../../src/client/dim-client.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import { aliceAndBob, freePort } from '../helpers/cluster.ts';
import { repoDir } from '../helpers/vectors.ts';

const run = promisify(execFile);
const script = join(repoDir, 'deploy', 'local-cluster.sh');

/** `a` (logged in as `from`) sends `text` to `to`; `b` gets it and `a` gets "Message delivered.". */
async function assertRelayed(
  a: DimClient,
  b: DimClient,
  from: UserIdentity,
  to: UserIdentity,
  text: string,
): Promise<void> {
  const mark = b.mark();
  const sent = await a.sendText(to.id, text);
  const got = await b.waitForMessage((m) => m.sender.isSameAs(from.id), 10_000, { since: mark });
  assert.equal(got.content.dict['text'], text);
  assert.equal((await a.waitReceipt(sent, 10_000))?.text, 'Message delivered.');
}

async function haveHaproxy(): Promise<boolean> {
  try {
    await run('haproxy', ['-v']);
    return true;
  } catch {
    return false;
  }
}

describe('HAProxy in front of two gateways (local-cluster.sh)', { timeout: 120_000 }, async () => {
  const available = await haveHaproxy();
  const dir = mkdtempSync(join(tmpdir(), 'dim-cluster-'));
  let env: NodeJS.ProcessEnv;
  let port = 0;
  const clients: DimClient[] = [];

  before(async () => {
    if (!available) return;
    port = await freePort();
    env = {
      ...process.env,
      CLUSTER_DIR: dir,
      DIM_CLUSTER_PORT: String(port),
      REDIS_PORT: String(await freePort()),
      GATEWAY1_PORT: String(await freePort()),
      GATEWAY2_PORT: String(await freePort()),
      NODE: process.execPath,
    };
    await run('bash', [script, 'start'], { env, cwd: repoDir });
    // `start` returns only once both gateways and HAProxy accept connections (issue 13: it printed
    // "cluster up" ~15 s early): no waiting here. Both gateways must be listening on their own ports (a port
    // taken by something else fails the test).
    const { stdout } = await run('bash', [script, 'status'], { env, cwd: repoDir });
    assert.ok(!stdout.includes('down'), stdout);
    for (const name of ['gateway-1', 'gateway-2']) {
      const log = readFileSync(join(dir, 'logs', `${name}.log`), 'utf8');
      assert.ok(log.includes('GATEWAY_LISTENING'), `${name} is not listening after start:\n${log}`);
    }
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    if (available) await run('bash', [script, 'stop'], { env, cwd: repoDir }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'clients behind HAProxy log in, see their real address, and message each other',
    { skip: !available && 'haproxy is not installed' },
    async () => {
      const directory = new KeyDirectory();
      const now = Date.now() / 1000;
      const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now });
      const bob = createUserIdentity({ kind: 'eth', now });
      directory.add(alice);
      directory.add(bob);
      const a = await connectClient(port, 'mtp', alice, directory);
      const b = await connectClient(port, 'ws', bob, directory);
      clients.push(a, b);
      const ha = await a.handshake({ timeoutMs: 10_000 });
      await b.handshake({ timeoutMs: 10_000 });
      assert.equal(ha.remoteAddress?.[0], '127.0.0.1', 'the PROXY header carried the client address');
      assert.notEqual(ha.remoteAddress?.[1], port, 'the client port, not the proxy port');
      assert.equal(await a.login(), 'Login received.');
      assert.equal(await b.login(), 'Login received.');
      await assertRelayed(a, b, alice, bob, 'through haproxy');
    },
  );
});

/** A base port whose 6 ports and 6 cluster-bus ports (base+100…) are all free now. */
async function freeClusterBase(): Promise<number> {
  const isFree = (p: number): Promise<boolean> =>
    new Promise((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(p, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const ports = [0, 1, 2, 3, 4, 5].flatMap((i) => [base + i, base + 100 + i]);
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return base;
  }
  throw new Error('no free port range for a local Redis Cluster');
}

describe(
  'local-cluster.sh variants: one gateway, two dispatchers, on a Redis Cluster (bench/redis-cluster.sh)',
  { timeout: 120_000 },
  async () => {
    const available = await haveHaproxy();
    const dir = mkdtempSync(join(tmpdir(), 'dim-cluster-'));
    const redisScript = join(repoDir, 'bench', 'redis-cluster.sh');
    let env: NodeJS.ProcessEnv;
    let base = 0;
    let port = 0;
    const clients: DimClient[] = [];

    before(async () => {
      if (!available) return;
      base = await freeClusterBase();
      const { stdout: url } = await run('bash', [redisScript, 'start', join(dir, 'redis'), String(base)], {
        cwd: repoDir,
      });
      assert.equal(url.trim().split(',').length, 6, `six nodes in the URL: ${url}`);
      port = await freePort();
      env = {
        ...process.env,
        CLUSTER_DIR: dir,
        DIM_CLUSTER_PORT: String(port),
        GATEWAY1_PORT: String(await freePort()),
        GATEWAY2_PORT: String(await freePort()),
        GATEWAYS: '1',
        DISPATCHERS: '2',
        DIM_REDIS_URL: url.trim(),
        NODE: process.execPath,
      };
      await run('bash', [script, 'start'], { env, cwd: repoDir });
    });

    after(async () => {
      await Promise.all(clients.map((c) => c.close()));
      if (available) {
        await run('bash', [script, 'stop'], { env, cwd: repoDir }).catch(() => undefined);
        await run('bash', [redisScript, 'stop', join(dir, 'redis'), String(base)]).catch(() => undefined);
      }
      rmSync(dir, { recursive: true, force: true });
    });

    it(
      'runs the processes asked for, on the cluster, and relays through the one gateway',
      { skip: !available && 'haproxy is not installed' },
      async () => {
        const { stdout } = await run('bash', [script, 'status'], { env, cwd: repoDir });
        assert.deepEqual(stdout.trim().split('\n').sort(), [
          'dispatcher-1 up',
          'dispatcher-2 up',
          'gateway-1 up',
          'haproxy up',
          'storage-1 up',
        ]);
        assert.match(readFileSync(join(dir, 'haproxy.cfg'), 'utf8'), /server gateway-1 /);
        assert.doesNotMatch(readFileSync(join(dir, 'haproxy.cfg'), 'utf8'), /server gateway-2 /);
        const { directory, alice, bob } = aliceAndBob();
        const a = await connectClient(port, 'mtp', alice, directory);
        const b = await connectClient(port, 'mtp', bob, directory);
        clients.push(a, b);
        await a.handshake({ timeoutMs: 10_000 });
        await b.handshake({ timeoutMs: 10_000 });
        assert.equal(await a.login(), 'Login received.');
        assert.equal(await b.login(), 'Login received.');
        await assertRelayed(a, b, alice, bob, 'through one gateway on a Redis Cluster');
        // the station's keys are on the cluster's nodes, not on some standalone Redis
        assert.ok(await clusterHasKeys(base), 'station keys on the Redis Cluster');
      },
    );
  },
);

/** Whether any of the cluster's six nodes holds a `dim:` key (`--scan` sees one node only). */
async function clusterHasKeys(base: number): Promise<boolean> {
  for (let i = 0; i < 6; i++) {
    const { stdout } = await run('redis-cli', ['-p', String(base + i), '--scan', '--pattern', 'dim:*']);
    if (stdout.trim().length > 0) return true;
  }
  return false;
}

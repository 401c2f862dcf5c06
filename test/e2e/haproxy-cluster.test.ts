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
import { repoDir } from '../helpers/vectors.ts';

const run = promisify(execFile);
const script = join(repoDir, 'deploy', 'local-cluster.sh');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
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
      const mark = b.mark();
      const sent = await a.sendText(bob.id, 'through haproxy');
      const got = await b.waitForMessage((m) => m.sender.isSameAs(alice.id), 10_000, { since: mark });
      assert.equal(got.content.dict['text'], 'through haproxy');
      assert.equal((await a.waitReceipt(sent, 10_000))?.text, 'Message delivered.');
    },
  );
});

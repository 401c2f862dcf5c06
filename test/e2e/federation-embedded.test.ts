/**
 * Federation on the embedded (in-memory) engine, in one process: two stations linked both ways, and a
 * neighbour that accepts connections but never answers (stalled): its queue is bounded, the overflow is
 * stored here, and local delivery goes on as if it were not there.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import type { DimClient } from '../../src/client/dim-client.ts';
import { KeyDirectory } from '../../src/client/key-directory.ts';
import { createUserIdentity } from '../../src/client/user-identity.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { createMemoryBackend } from '../../src/engine/memory-backend.ts';
import { ALL_ROLES, StationNode } from '../../src/engine/station-node.ts';
import { createStationIdentity } from '../../src/identity/station-identity.ts';
import type { StationIdentity } from '../../src/identity/station-identity.ts';
import { createLogger, silentLogger } from '../../src/ops/logger.ts';
import { collect, freePort, waitUntil } from '../helpers/cluster.ts';
import { connectClient } from '../helpers/station-harness.ts';

const now = (): number => Date.now() / 1000;

async function embedded(
  identity: StationIdentity,
  port: number,
  env: Record<string, string>,
): Promise<StationNode> {
  const config = loadConfig({ DIM_HOST: '127.0.0.1', DIM_PORT: String(port), ...env }, process.cwd());
  const node = new StationNode({
    config,
    identity,
    backend: createMemoryBackend(),
    roles: ALL_ROLES,
    instanceName: `emb-${identity.id.name}`,
    logger: process.env['FED_DEBUG'] ? createLogger('debug') : silentLogger,
  });
  await node.start();
  return node;
}

describe('federation on the embedded engine', { timeout: 60_000 }, () => {
  const directory = new KeyDirectory();
  const user = (name: string): UserIdentity => {
    const id = createUserIdentity({ kind: 'mkm-ecc', name, now: now() });
    directory.add(id);
    return id;
  };
  const nodes: StationNode[] = [];
  const clients: DimClient[] = [];
  const servers: Server[] = [];
  const sockets: Socket[] = [];

  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await Promise.all(nodes.map((n) => n.close()));
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
  });

  async function online(port: number, who: UserIdentity): Promise<DimClient> {
    const client = await connectClient(port, 'mtp', who, directory);
    clients.push(client);
    await client.handshake();
    assert.equal(await client.login(), 'Login received.');
    return client;
  }

  it('two embedded stations linked both ways: redirected, delivered, answered', async () => {
    const [i1, i2] = ['e1', 'e2'].map((name) =>
      createStationIdentity({ name, host: '127.0.0.1', rsaBits: 1024, now: now() }),
    ) as [StationIdentity, StationIdentity];
    const [p1, p2] = [await freePort(), await freePort()];
    nodes.push(await embedded(i1, p1, { DIM_NEIGHBORS: `${i2.id.string}=127.0.0.1:${p2}` }));
    nodes.push(await embedded(i2, p2, { DIM_NEIGHBORS: `${i1.id.string}=127.0.0.1:${p1}` }));
    await waitUntil(
      () => nodes.every((n) => n.bridge?.links().every((l) => l.state === 'up')),
      15_000,
      'links up',
    );
    const alice = user('alice');
    const bob = user('bob');
    const a = await online(p1, alice);
    const b = await online(p2, bob);
    const fromA = collect(b, alice.id);
    const fromB = collect(a, bob.id);
    await waitUntil(
      async () => (await nodes[0]?.backend.accounts.getLogins(bob.id))?.[0]?.station === i2.id.string,
      10_000,
      'e1 to learn where bob is',
    );
    const sent = await a.sendText(bob.id, 'over the bridge');
    assert.equal((await a.waitReceipt(sent, 10_000))?.text, 'Message redirected.');
    await waitUntil(() => fromA.length === 1, 10_000, 'bob to get it');
    const reply = await b.sendText(alice.id, 'and back');
    assert.equal((await b.waitReceipt(reply, 10_000))?.text, 'Message redirected.');
    await waitUntil(() => fromB.length === 1, 10_000, 'alice to get the reply');
  });

  it('a stalled neighbour: bounded queue, overflow stored here, local delivery unaffected', async () => {
    const stalled = createStationIdentity({ name: 'stalled', rsaBits: 1024, now: now() });
    const blackhole = createServer((socket) => {
      sockets.push(socket); // accepts, reads, never answers
      socket.on('data', () => undefined);
    });
    servers.push(blackhole);
    const holePort = await new Promise<number>((done) =>
      blackhole.listen(0, '127.0.0.1', () => done((blackhole.address() as { port: number }).port)),
    );
    const self = createStationIdentity({ name: 'e3', host: '127.0.0.1', rsaBits: 1024, now: now() });
    const port = await freePort();
    const node = await embedded(self, port, {
      DIM_NEIGHBORS: `${stalled.id.string}=127.0.0.1:${holePort}`,
      DIM_FEDERATION_QUEUE_LIMIT: '4', // alice's and carol's login broadcasts take two places
    });
    nodes.push(node);
    const far = user('far');
    await node.backend.accounts.putLogin(far.id, {
      time: now(),
      terminal: undefined,
      station: stalled.id.string,
      message: {},
    });
    const alice = user('alice2');
    const carol = user('carol2');
    const a = await online(port, alice);
    const c = await online(port, carol);
    const fromA = collect(c, alice.id);
    const texts: (string | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      const sent = await a.sendText(far.id, `far ${i}`);
      texts.push((await a.waitReceipt(sent, 5000))?.text);
    }
    assert.deepEqual(texts, ['Message redirected.', 'Message redirected.', 'Message cached.']);
    await waitUntil(
      async () => (await node.backend.inbox.count(far.id.string)) === 1,
      5000,
      'overflow stored',
    );
    const started = Date.now();
    const local = await a.sendText(carol.id, 'local');
    assert.equal((await a.waitReceipt(local, 5000))?.text, 'Message delivered.');
    await waitUntil(() => fromA.length === 1, 5000, 'carol to get it');
    assert.ok(Date.now() - started < 3000, 'local delivery did not wait for the neighbour');
    assert.notEqual(node.bridge?.link(stalled.id.string)?.state, 'up');
  });
});

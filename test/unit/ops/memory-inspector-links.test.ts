/**
 * The embedded station's inspector shows the federation links its bridge recorded, as the Redis inspector
 * does (dimctl status's NEIGHBOURS table): state, address, who holds the link, how long, queue length.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryMessageBus } from '../../../src/bus/memory-message-bus.ts';
import { MemoryFederationStore } from '../../../src/federation/federation-store.ts';
import { MemoryInspector } from '../../../src/ops/memory-inspector.ts';
import { createRedisKeys } from '../../../src/redis/redis-keys.ts';
import { MemorySessionRegistry } from '../../../src/registry/memory-session-registry.ts';
import { MemoryInboxStore } from '../../../src/storage/memory-inbox-store.ts';

describe('MemoryInspector: federation links', () => {
  it('lists the recorded links with their queues and lease; none without neighbours', async () => {
    const bus = new MemoryMessageBus();
    const keys = createRedisKeys('mem:');
    let store: MemoryFederationStore | undefined;
    const inspector = new MemoryInspector({
      bus,
      keys,
      shards: 1,
      registry: new MemorySessionRegistry(),
      inbox: new MemoryInboxStore(),
      gateway: () => undefined,
      version: 'test',
      federation: () => store,
    });
    try {
      assert.deepEqual((await inspector.status()).links, [], 'no neighbours: no links');
      store = new MemoryFederationStore();
      const since = Date.now() - 90_000;
      const record = {
        neighbour: 'gsp-s3@x',
        host: '10.0.0.3',
        port: 9394,
        state: 'backoff',
        owner: 'station-1',
        since,
        attempts: 4,
        lastError: 'ECONNREFUSED',
        sent: 12,
        received: 3,
      };
      await store.putLinkState(record);
      await store.putLinkState({ ...record, neighbour: 'gsp-s2@x', state: 'up', lastError: undefined });
      assert.ok(await store.ownLink('gsp-s2@x', 'station-1', 60_000));
      for (let i = 0; i < 2; i++) await bus.publish(keys.federationQueue('gsp-s3@x'), { msg: `m${i}` });

      const links = (await inspector.status()).links!;
      assert.deepEqual(
        links.map((l) => [
          l.neighbour,
          l.address,
          l.state,
          l.owner,
          l.owned,
          l.attempts,
          l.queued,
          l.lastError,
        ]),
        [
          ['gsp-s2@x', '10.0.0.3:9394', 'up', 'station-1', true, 4, 0, undefined],
          ['gsp-s3@x', '10.0.0.3:9394', 'backoff', 'station-1', false, 4, 2, 'ECONNREFUSED'],
        ],
      );
      for (const l of links) assert.ok(l.forMs >= 90_000 && l.forMs < 120_000, `for ${l.forMs} ms`);
      assert.deepEqual([links[0]!.sent, links[0]!.received], [12, 3]);
    } finally {
      await bus.close();
    }
  });
});

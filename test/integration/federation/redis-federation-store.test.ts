import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryFederationStore } from '../../../src/federation/federation-store.ts';
import type { FederationStore } from '../../../src/federation/federation-store.ts';
import { RedisFederationStore } from '../../../src/federation/redis-federation-store.ts';
import { useRedis } from '../storage/redis-fixture.ts';

const N = 'gsp-s002@wpjUWg1oYDnkHh74tHQFPxii6q9j3ymnyW';

describe('federation store (Redis and memory, same contract)', () => {
  const redis = useRedis();
  const stores: Array<[string, () => FederationStore]> = [
    ['redis', () => new RedisFederationStore(redis.redis, redis.freshKeys())],
    ['memory', () => new MemoryFederationStore()],
  ];
  for (const [name, make] of stores) {
    it(`${name}: reservations dedup, are bounded, and are released`, async () => {
      const store = make();
      const now = Date.now();
      assert.equal(await store.reserve(N, 'u s1', 2, now), 'reserved');
      assert.equal(await store.reserve(N, 'u s1', 2, now), 'duplicate');
      assert.equal(await store.reserve(N, 'u s2', 2, now), 'reserved');
      assert.equal(await store.reserve(N, 'u s3', 2, now), 'full');
      assert.equal(await store.reserve('other@x', 'u s3', 2, now), 'reserved', 'per neighbour');
      assert.equal(await store.queued(N), 2);
      await store.release(N, 'u s1');
      assert.equal(await store.reserve(N, 'u s3', 2, now), 'reserved');
      // a reservation left by a crash between reserve and queue is forgotten after a week
      assert.equal(await store.reserve(N, 'u s4', 2, now + 8 * 24 * 3600 * 1000), 'reserved');
    });

    it(`${name}: seen marks are first-only within their TTL`, async () => {
      const store = make();
      assert.equal(await store.firstSeen('b:x', 200), true);
      assert.equal(await store.firstSeen('b:x', 200), false);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await store.firstSeen('b:x', 200), true);
    });

    it(`${name}: one owner per link; the owner renews; released links can be taken`, async () => {
      const store = make();
      assert.equal(await store.ownLink(N, 'p1', 10_000), true);
      assert.equal(await store.ownLink(N, 'p2', 10_000), false);
      assert.equal(await store.ownLink(N, 'p1', 10_000), true);
      await store.releaseLink(N, 'p2'); // not its link: no effect
      assert.equal(await store.ownLink(N, 'p2', 10_000), false);
      await store.releaseLink(N, 'p1');
      await new Promise((r) => setTimeout(r, 5));
      assert.equal(await store.ownLink(N, 'p2', 10_000), true);
    });

    it(`${name}: link states for inspection`, async () => {
      const store = make();
      const state = {
        neighbour: N,
        host: 'h',
        port: 1,
        state: 'up',
        owner: 'p1',
        since: 1,
        attempts: 0,
        sent: 3,
        received: 4,
      };
      await store.putLinkState(state);
      assert.deepEqual(await store.linkStates(), [state]);
    });
  }
});

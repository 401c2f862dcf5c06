import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { inboxStoreContract } from '../../contract/inbox-store.contract.ts';
import type { InboxMessage, InboxStore } from '../../../src/storage/inbox-store.ts';
import { MemoryInboxStore } from '../../../src/storage/memory-inbox-store.ts';
import { RedisInboxStore } from '../../../src/storage/redis-inbox-store.ts';
import { captureLogger, useRedis } from './redis-fixture.ts';
import { createPrng } from '../../helpers/seeded-prng.ts';

const fx = useRedis();

inboxStoreContract('redis', async (options) => new RedisInboxStore(fx.redis, fx.freshKeys(), options));
inboxStoreContract(
  'redis, one-member chunks',
  async (options) =>
    new RedisInboxStore(fx.redis, fx.freshKeys(), { ...options, scanChunk: 1, expireBatch: 1 }),
);

const msg = (sig: string, time: number, storedAt: number, terminal?: string, size = 0): InboxMessage => ({
  sig,
  time,
  storedAt,
  terminal,
  json: JSON.stringify({ signature: sig, data: 'x'.repeat(size) }),
});

/** Seeded PRNG (sfc32, shared test helper) as a function returning floats in [0, 1). */
const prng = (seed: number): (() => number) => createPrng(seed).next;

/** Reply bytes of every command sent on `redis` while `fn` runs. */
async function replyBytes(redis: Redis, fn: () => Promise<unknown>): Promise<number> {
  let bytes = 0;
  const size = (value: unknown): number =>
    Array.isArray(value) ? value.reduce((n: number, v) => n + size(v), 0) : String(value).length;
  const original = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command, stream) => {
    command.promise.then(
      (reply: unknown) => {
        bytes += size(reply);
      },
      () => undefined,
    );
    return original(command, stream);
  }) as Redis['sendCommand'];
  try {
    await fn();
  } finally {
    redis.sendCommand = original;
  }
  return bytes;
}

describe('RedisInboxStore', () => {
  it('behaves like the memory store on random operations (differential, seeded)', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const random = prng(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      let now = 1_000;
      const options = { now: () => now, ttlMs: 400 };
      const memory = new MemoryInboxStore(options);
      const redis = new RedisInboxStore(fx.redis, fx.freshKeys(), {
        ...options,
        scanChunk: 1 + Math.floor(random() * 4),
        expireBatch: 1 + Math.floor(random() * 3),
      });
      const stores: InboxStore[] = [memory, redis];
      const users = ['u1', 'u2'];
      const terminals = ['phone', 'tablet', '*'];
      const sigs = Array.from({ length: 12 }, (_, i) => `s${i}`);
      const both = async <T>(op: (s: InboxStore) => Promise<T>, what: string): Promise<void> => {
        const [a, b] = [await op(memory), await op(redis)];
        assert.deepEqual(b, a, `seed ${seed}: ${what}`);
      };
      for (let step = 0; step < 150; step++) {
        now += Math.floor(random() * 40);
        const user = pick(users);
        const terminal = pick(terminals);
        const roll = random();
        if (roll < 0.35) {
          const m = msg(
            pick(sigs),
            Math.floor(random() * 5) * 100,
            now - Math.floor(random() * 50),
            random() < 0.3 ? pick(terminals) : undefined,
          );
          await both((s) => s.put(user, m), `put ${JSON.stringify(m)}`);
        } else if (roll < 0.45) {
          await both((s) => s.addTerminal(user, terminal), `addTerminal ${user} ${terminal}`);
        } else if (roll < 0.65) {
          const sig = pick(sigs);
          await both((s) => s.markDelivered(user, terminal, sig), `markDelivered ${user} ${terminal} ${sig}`);
        } else if (roll < 0.9) {
          // drain page by page, following the cursors
          const limit = Math.floor(random() * 4);
          const until = now - Math.floor(random() * 60);
          let cursor: string | undefined;
          for (let pages = 0; pages < 20; pages++) {
            const what = `page ${user} ${terminal} limit ${limit} until ${until} after ${cursor}`;
            const [a, b] = [
              await memory.page(user, terminal, { limit, until, cursor }),
              await redis.page(user, terminal, { limit, until, cursor }),
            ];
            assert.deepEqual(b, a, `seed ${seed}: ${what}`);
            if (a.next === undefined) break;
            cursor = a.next;
          }
        } else {
          await both((s) => s.count(user), `count ${user}`);
        }
      }
      for (const user of users) await both((s) => s.count(user), `final count ${user}`);
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('reads a page without loading the whole inbox', async () => {
    const store = new RedisInboxStore(fx.redis, fx.freshKeys(), { now: () => 10_000, scanChunk: 16 });
    const client = fx.redis;
    await store.addTerminal('u', 'phone');
    await store.addTerminal('u', 'tablet');
    for (let i = 0; i < 300; i++) {
      await store.put('u', msg(`m${String(i).padStart(3, '0')}`, 1000 + i, 100, undefined, 1000));
    }
    for (let i = 0; i < 250; i++) await store.markDelivered('u', 'phone', `m${String(i).padStart(3, '0')}`);
    let page: Awaited<ReturnType<InboxStore['page']>> | undefined;
    const bytes = await replyBytes(client, async () => {
      page = await store.page('u', 'tablet', { limit: 2, until: 10_000 });
    });
    assert.deepEqual(
      page?.entries.map((e) => e.sig),
      ['m000', 'm001'],
    );
    assert.ok(page?.next);
    assert.ok(bytes < 5 * 1100, `a 2-entry page read ${bytes} bytes of a ~300 kB inbox`);
    // skipping 250 delivered entries to reach the rest still reads only the page (plus the members)
    const skipped = await replyBytes(client, async () => {
      page = await store.page('u', 'phone', { limit: 3, until: 10_000 });
    });
    assert.deepEqual(
      page?.entries.map((e) => e.sig),
      ['m250', 'm251', 'm252'],
    );
    assert.ok(skipped < 3 * 1100 + 250 * 60, `skipping delivered entries read ${skipped} bytes`);
    await store.close();
  });

  it('keeps entries across connections, with a safety expiry on every key', async () => {
    const keys = fx.freshKeys();
    const writer = new RedisInboxStore(fx.client(), keys, { now: () => 10_000, ttlMs: 60_000 });
    await writer.addTerminal('u', 'phone');
    await writer.put('u', msg('a', 1000, 9_000, undefined, 10));
    await writer.markDelivered('u', 'tablet', 'a');
    const reader = new RedisInboxStore(fx.client(), keys, { now: () => 10_000, ttlMs: 60_000 });
    assert.equal(await reader.count('u'), 1);
    const page = await reader.page('u', 'phone', { limit: 5, until: 10_000 });
    assert.deepEqual(page.entries, [msg('a', 1000, 9_000, undefined, 10)]);
    assert.deepEqual((await reader.page('u', 'tablet', { limit: 5, until: 10_000 })).entries, []);
    for (const key of [
      keys.inbox('u'),
      keys.inboxByStoredAt('u'),
      keys.inboxCursors('u'),
      keys.inboxMessages('u'),
      keys.inboxTerminals('u'),
      keys.inboxDelivered('u'),
    ]) {
      const ttl = await fx.redis.pttl(key);
      assert.ok(ttl > 60_000 && ttl <= 120_000, `${key} expires after twice the TTL (${ttl})`);
    }
    await reader.markDelivered('u', 'phone', 'a');
    assert.equal(await writer.count('u'), 0);
    assert.deepEqual(await fx.redis.keys(`${keys.prefix}*`), [keys.inboxTerminals('u')], 'marks removed too');
  });

  it('drops index members whose entry is gone and skips corrupt members with a log', async () => {
    const keys = fx.freshKeys();
    const { logger, lines } = captureLogger();
    const store = new RedisInboxStore(fx.redis, keys, { now: () => 10_000, logger });
    await store.put('u', msg('a', 1000, 100));
    await store.put('u', msg('b', 2000, 100));
    await store.put('u', msg('c', 3000, 100));
    await fx.redis.hdel(keys.inboxCursors('u'), 'a');
    await fx.redis.hdel(keys.inboxMessages('u'), 'b');
    const page = await store.page('u', '*', { limit: 10, until: 10_000 });
    assert.deepEqual(
      page.entries.map((e) => e.sig),
      ['c'],
    );
    assert.equal(await store.count('u'), 1, 'the dangling members are gone');
    // a member whose time is not a number, with a matching cursor: returned by the script, refused here
    await fx.redis.zadd(keys.inbox('u'), 0, 'x:100:d');
    await fx.redis.hset(keys.inboxCursors('u'), 'd', 'x:100:d');
    await fx.redis.hset(keys.inboxMessages('u'), 'd', '{}');
    assert.deepEqual(
      (await store.page('u', '*', { limit: 10, until: 10_000 })).entries.map((e) => e.sig),
      ['c'],
    );
    assert.ok(lines.some((l) => l.code === 'INBOX_ENTRY_CORRUPT'));
    await store.markDelivered('u', '*', 'd');
    assert.equal(await store.count('u'), 1);
  });

  it('a signature stored again after its entry vanished is returned once', async () => {
    const keys = fx.freshKeys();
    const store = new RedisInboxStore(fx.redis, keys, { now: () => 10_000 });
    await store.put('u', msg('a', 1000, 100));
    await fx.redis.hdel(keys.inboxCursors('u'), 'a'); // e.g. lost
    assert.equal(await store.put('u', msg('a', 2000, 200)), true);
    assert.deepEqual((await store.page('u', '*', { limit: 10, until: 10_000 })).entries, [
      msg('a', 2000, 200),
    ]);
    assert.equal(await store.count('u'), 1);
  });
});

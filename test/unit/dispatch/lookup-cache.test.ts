/**
 * The dispatcher's lookup cache (src/dispatch/lookup-cache.ts): served only while change signals arrive,
 * dropped by a signal, a reset or its TTL, never keeping a read a signal overtook, and always telling when
 * the read it serves started.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LookupCache } from '../../../src/dispatch/lookup-cache.ts';

/** A read that resolves when told to, counting how often it ran. */
function controlledRead<V>(value: V) {
  const state = { reads: 0, pending: [] as (() => void)[] };
  const read = (): Promise<V> => {
    state.reads++;
    return new Promise((resolve) => state.pending.push(() => resolve(value)));
  };
  const settle = (): void => {
    for (const done of state.pending.splice(0)) done();
  };
  return { state, read, settle };
}

function setup(options: { ttlMs?: number; maxEntries?: number } = {}) {
  const clock = { now: 1000, live: true };
  const cache = new LookupCache<string>({
    ttlMs: options.ttlMs ?? 5000,
    maxEntries: options.maxEntries,
    live: () => clock.live,
    now: () => clock.now,
  });
  let reads = 0;
  const read = (value: string) => async () => {
    reads++;
    return value;
  };
  return { clock, cache, read, reads: () => reads };
}

describe('LookupCache', () => {
  it('serves a read until its TTL, with the time the read started', async () => {
    const { clock, cache, read, reads } = setup({ ttlMs: 5000 });
    assert.deepEqual(await cache.get('bob', read('v1')), { value: 'v1', fetchedAt: 1000 });
    clock.now = 5999;
    assert.deepEqual(await cache.get('bob', read('v2')), { value: 'v1', fetchedAt: 1000 });
    assert.equal(reads(), 1);
    clock.now = 6000;
    assert.deepEqual(await cache.get('bob', read('v3')), { value: 'v3', fetchedAt: 6000 });
    assert.equal(reads(), 2);
    assert.deepEqual(cache.stats(), { hits: 1, misses: 2, size: 1 });
  });

  it('reads again after the key is invalidated or everything is cleared; other keys stay', async () => {
    const { cache, read, reads } = setup();
    await cache.get('bob', read('b1'));
    await cache.get('carol', read('c1'));
    cache.invalidate('bob');
    assert.equal((await cache.get('bob', read('b2'))).value, 'b2');
    assert.equal((await cache.get('carol', read('c2'))).value, 'c1');
    assert.equal(reads(), 3);
    cache.clear();
    assert.equal((await cache.get('bob', read('b3'))).value, 'b3');
    assert.equal((await cache.get('carol', read('c3'))).value, 'c3');
  });

  it('reads every time while signals are not arriving, and keeps nothing then', async () => {
    const { clock, cache, read, reads } = setup();
    clock.live = false;
    assert.equal((await cache.get('bob', read('a'))).value, 'a');
    assert.equal((await cache.get('bob', read('b'))).value, 'b');
    assert.equal(reads(), 2);
    assert.equal(cache.stats().size, 0);
    clock.live = true;
    assert.equal((await cache.get('bob', read('c'))).value, 'c');
    assert.equal((await cache.get('bob', read('d'))).value, 'c');
  });

  it('a TTL of 0 disables it', async () => {
    const { cache, read, reads } = setup({ ttlMs: 0 });
    await cache.get('bob', read('a'));
    await cache.get('bob', read('b'));
    assert.equal(reads(), 2);
  });

  it('lookups of a key while its read runs share that read and its start time', async () => {
    const clock = { now: 1000 };
    const cache = new LookupCache<string>({ ttlMs: 5000, live: () => true, now: () => clock.now });
    const r = controlledRead('v');
    const first = cache.get('bob', r.read);
    clock.now = 1500;
    const second = cache.get('bob', r.read);
    assert.equal(r.state.reads, 1);
    r.settle();
    assert.deepEqual(await first, { value: 'v', fetchedAt: 1000 });
    assert.deepEqual(await second, { value: 'v', fetchedAt: 1000 });
  });

  it('a read that a signal overtook is answered but not kept', async () => {
    const cache = new LookupCache<string>({ ttlMs: 5000, live: () => true, now: () => 1000 });
    const stale = controlledRead('old sessions');
    const pending = cache.get('bob', stale.read);
    cache.invalidate('bob'); // bob bound a session while the read ran
    stale.settle();
    assert.equal((await pending).value, 'old sessions');
    const fresh = controlledRead('new sessions');
    const next = cache.get('bob', fresh.read);
    fresh.settle();
    assert.equal((await next).value, 'new sessions');
    assert.equal(fresh.state.reads, 1, 'the overtaken read was not kept');
  });

  it('a failed read is not kept', async () => {
    const { cache, read } = setup();
    await assert.rejects(
      cache.get('bob', async () => {
        throw new Error('redis down');
      }),
      /redis down/,
    );
    assert.equal((await cache.get('bob', read('ok'))).value, 'ok');
  });

  it('keeps at most maxEntries, dropping the oldest', async () => {
    const { cache, read, reads } = setup({ maxEntries: 2 });
    await cache.get('a', read('a'));
    await cache.get('b', read('b'));
    await cache.get('c', read('c'));
    assert.equal(cache.stats().size, 2);
    await cache.get('c', read('c'));
    await cache.get('b', read('b'));
    assert.equal(reads(), 3);
    await cache.get('a', read('a'));
    assert.equal(reads(), 4, 'the oldest entry was dropped');
  });
});

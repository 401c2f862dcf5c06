/**
 * The MessageBus contract, run against every implementation (message-bus.contract.test.ts). A factory
 * creates buses on one shared backing store: two buses from one factory behave like two processes on one
 * Redis. Every test uses its own streams, so tests share the store.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, it } from 'node:test';
import assert from 'node:assert/strict';
import { BusError, isBusError } from '../../../src/bus/bus-error.ts';
import type { InspectableMessageBus } from '../../../src/bus/inspectable-message-bus.ts';
import type { BusEntry, ConsumerOptions, MessageBus, TailOptions } from '../../../src/bus/message-bus.ts';
import { createRedisKeys } from '../../../src/redis/redis-keys.ts';
import { createPrng } from '../../helpers/seeded-prng.ts';

export interface BusFactory {
  /** A new bus on the shared store. */
  createBus(options?: { readonly maxLen?: number }): InspectableMessageBus;
}

const TEST_TIMEOUT = 10_000;
const keys = createRedisKeys();

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export function uniqueStream(tag: string): string {
  return `test:${tag}:${randomUUID().slice(0, 8)}`;
}

function idParts(id: string): [number, number] {
  const [ms, seq] = id.split('-').map(Number);
  return [ms ?? NaN, seq ?? NaN];
}

function idLess(a: string, b: string): boolean {
  const [am, as] = idParts(a);
  const [bm, bs] = idParts(b);
  return am !== bm ? am < bm : as < bs;
}

/** Seeded PRNG (sfc32, shared test helper) as a function returning floats in [0, 1). */
const prng = (seed: number): (() => number) => createPrng(seed).next;

/**
 * A handler that records, per order key, the order its entries ran in, how many ran at once and whether two
 * of one key overlapped (each pausing `pause(n)` ms for entry n); `publishAndCheck` publishes 60 entries over
 * five keys and none (every sixth) and checks each key's order, the concurrency bound and that different
 * keys overlapped.
 */
function keyedOrderProbe(pause: (n: number) => number) {
  const active = new Map<string, number>();
  const order = new Map<string, number[]>();
  let running = 0;
  let maxRunning = 0;
  let overlaps = 0;
  let keyOverlaps = 0;
  let done = 0;
  const handler = async (e: BusEntry): Promise<void> => {
    const key = e.orderKey ?? '-';
    const n = Number(e.fields['p']!.split(':')[1]);
    running++;
    maxRunning = Math.max(maxRunning, running);
    if (running > 1) overlaps++;
    if (e.orderKey !== undefined) {
      if ((active.get(key) ?? 0) > 0) keyOverlaps++;
      active.set(key, 1);
    }
    order.set(key, [...(order.get(key) ?? []), n]);
    await sleep(pause(n));
    if (e.orderKey !== undefined) active.set(key, 0);
    running--;
    done++;
  };
  const publishAndCheck = async (bus: MessageBus, stream: string, concurrency: number): Promise<void> => {
    const published = new Map<string, number[]>();
    const all: Promise<string>[] = [];
    for (let i = 0; i < 60; i++) {
      const key = i % 6 === 5 ? undefined : `k${i % 5}`;
      published.set(key ?? '-', [...(published.get(key ?? '-') ?? []), i]);
      all.push(bus.publish(stream, { p: `e:${i}` }, key));
    }
    await Promise.all(all);
    await waitFor(() => done >= 60, 'all 60 entries');
    for (const [key, seq] of published) {
      if (key === '-')
        assert.deepEqual(
          [...(order.get(key) ?? [])].sort((a, b) => a - b),
          seq,
        );
      else assert.deepEqual(order.get(key), seq, `order of ${key}`);
    }
    assert.equal(keyOverlaps, 0, 'entries of one order key never overlap');
    assert.ok(maxRunning > 1 && maxRunning <= concurrency, `concurrency used and bounded (${maxRunning})`);
    assert.ok(overlaps > 0, 'different keys overlap');
  };
  return { handler, publishAndCheck };
}

export function messageBusContract(factory: BusFactory): void {
  const created: InspectableMessageBus[] = [];
  const newBus = (options?: { maxLen?: number }): InspectableMessageBus => {
    const bus = factory.createBus(options);
    created.push(bus);
    return bus;
  };
  const consumer = (
    bus: InspectableMessageBus,
    stream: string,
    handler: (entry: BusEntry) => Promise<void>,
    options: Partial<ConsumerOptions> = {},
  ) => bus.consume({ stream, group: 'g', consumer: 'c1', blockMs: 50, handler, ...options });

  const tail = (
    bus: InspectableMessageBus,
    stream: string,
    handler: (entry: BusEntry) => Promise<void>,
    options: Partial<TailOptions> = {},
  ) => bus.tail({ stream, name: 't1', blockMs: 50, handler, ...options });

  afterEach(() => {
    for (const bus of created.splice(0)) bus.destroy();
  });

  it('publishes and consumes in order', { timeout: TEST_TIMEOUT }, async () => {
    const bus = newBus();
    const s = uniqueStream('order');
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await bus.publish(s, { p: `m${i}` }));
    for (let i = 1; i < ids.length; i++) assert.ok(idLess(ids[i - 1]!, ids[i]!), 'IDs increase');
    const seen: BusEntry[] = [];
    consumer(bus, s, async (e) => void seen.push(e), { concurrency: 1 });
    for (let i = 20; i < 30; i++) ids.push(await bus.publish(s, { p: `m${i}` }));
    await waitFor(() => seen.length >= 30, '30 entries');
    assert.deepEqual(
      seen.map((e) => e.fields['p']!),
      Array.from({ length: 30 }, (_, i) => `m${i}`),
    );
    assert.deepEqual(
      seen.map((e) => e.id),
      ids,
    );
    for (const e of seen) {
      assert.equal(e.stream, s);
      assert.equal(e.deliveries, 1);
      assert.equal(e.orderKey, undefined);
    }
    assert.equal(await bus.length(s), 30);
    await waitFor(async () => (await bus.pendingCount(s, 'g')) === 0, 'all acknowledged');
    const records = await bus.range(s, 2);
    assert.deepEqual(records[0], { id: ids[0], fields: { p: 'm0' } });
  });

  it('hands each entry once per group; every group gets every entry', { timeout: TEST_TIMEOUT }, async () => {
    const bus = newBus();
    const s = uniqueStream('groups');
    const seenA: string[] = [];
    const seenB: string[] = [];
    consumer(bus, s, async (e) => void seenA.push(e.fields['p']!), { group: 'A' });
    consumer(bus, s, async (e) => void seenB.push(e.fields['p']!), { group: 'B', consumer: 'c2' });
    const sent: string[] = [];
    for (let i = 0; i < 40; i++) {
      sent.push(`e${i}`);
      await bus.publish(s, { p: `e${i}` }, i % 2 ? 'odd' : undefined);
    }
    await waitFor(() => seenA.length >= 40 && seenB.length >= 40, 'both groups');
    await sleep(100);
    assert.deepEqual([...seenA].sort(), [...sent].sort());
    assert.deepEqual([...seenB].sort(), [...sent].sort());
  });

  it(
    'splits a group between two consumers, each entry seen exactly once',
    { timeout: TEST_TIMEOUT },
    async () => {
      const bus1 = newBus();
      const bus2 = newBus();
      const s = uniqueStream('split');
      const seen = new Map<string, string[]>();
      const handler = (name: string) => async (e: BusEntry) => {
        seen.set(e.fields['p']!, [...(seen.get(e.fields['p']!) ?? []), name]);
        await sleep(5);
      };
      const opts = { concurrency: 1, batchSize: 1 };
      consumer(bus1, s, handler('c1'), { ...opts, consumer: 'c1' });
      consumer(bus2, s, handler('c2'), { ...opts, consumer: 'c2' });
      await sleep(20);
      await Promise.all(Array.from({ length: 40 }, (_, i) => bus1.publish(s, { p: `e${i}` })));
      await waitFor(() => seen.size >= 40, 'all 40 entries');
      await sleep(100);
      assert.equal(seen.size, 40);
      for (const [payload, by] of seen) assert.equal(by.length, 1, `${payload} handled once`);
      const counts = { c1: 0, c2: 0 };
      for (const by of seen.values()) counts[by[0] as 'c1' | 'c2']++;
      assert.ok(counts.c1 > 0 && counts.c2 > 0, `both consumers worked: ${JSON.stringify(counts)}`);
    },
  );

  it(
    're-delivers a failed entry after claimIdleMs, counting deliveries',
    { timeout: TEST_TIMEOUT },
    async () => {
      const bus = newBus();
      const s = uniqueStream('retry');
      const deliveries: { payload: string; deliveries: number; at: number }[] = [];
      consumer(
        bus,
        s,
        async (e) => {
          deliveries.push({ payload: e.fields['p']!, deliveries: e.deliveries, at: Date.now() });
          if (e.fields['p']! === 'flaky' && e.deliveries === 1) throw new Error('first attempt fails');
        },
        { claimIdleMs: 100 },
      );
      await bus.publish(s, { p: 'ok1' });
      await bus.publish(s, { p: 'flaky' });
      await bus.publish(s, { p: 'ok2' });
      await waitFor(() => deliveries.filter((d) => d.payload === 'flaky').length >= 2, 'the re-delivery');
      const flaky = deliveries.filter((d) => d.payload === 'flaky');
      assert.deepEqual(
        flaky.map((d) => d.deliveries),
        [1, 2],
      );
      const gap = flaky[1]!.at - flaky[0]!.at;
      assert.ok(gap >= 90, `re-delivered after claimIdleMs (${gap} ms)`);
      assert.ok(gap < 2000, `re-delivered soon after claimIdleMs (${gap} ms)`);
      await waitFor(async () => (await bus.pendingCount(s, 'g')) === 0, 'all acknowledged');
      await sleep(250);
      assert.equal(deliveries.length, 4, 'the others were delivered once, the flaky one twice');
    },
  );

  it(
    'moves an entry to the dead-letter stream after maxDeliveries, and acks it',
    { timeout: TEST_TIMEOUT },
    async () => {
      const bus = newBus();
      const s = uniqueStream('dead');
      const dead = keys.deadLetterStream(s);
      const poison: number[] = [];
      let good = 0;
      consumer(
        bus,
        s,
        async (e) => {
          if (e.fields['p']! !== 'poison') {
            good++;
            return;
          }
          poison.push(e.deliveries);
          throw new Error('boom');
        },
        { claimIdleMs: 50, maxDeliveries: 3 },
      );
      const id = await bus.publish(s, { p: 'poison' }, 'user-1');
      await bus.publish(s, { p: 'fine' }, 'user-2');
      await waitFor(async () => (await bus.length(dead)) === 1, 'the dead letter');
      assert.deepEqual(poison, [1, 2, 3]);
      const [record] = await bus.range(dead);
      assert.ok(record);
      assert.equal(record.fields['p'], 'poison');
      assert.equal(record.fields['k'], 'user-1');
      assert.equal(record.fields['from'], s);
      assert.equal(record.fields['id'], id);
      assert.match(record.fields['reason'] ?? '', /boom/);
      await waitFor(async () => (await bus.pendingCount(s, 'g')) === 0, 'the dead letter acknowledged');
      assert.equal(await bus.length(s), 2, 'the original entry stays in the stream');
      await sleep(200);
      assert.deepEqual(poison, [1, 2, 3], 'never delivered again');
      assert.equal(good, 1);
      // The dead-letter stream is a stream like any other.
      const read: BusEntry[] = [];
      bus.consume({
        stream: dead,
        group: 'ops',
        consumer: 'o',
        blockMs: 50,
        handler: async (e) => void read.push(e),
      });
      await waitFor(() => read.length === 1, 'reading the dead-letter stream');
      assert.equal(read[0]!.fields['p'], 'poison');
      assert.equal(read[0]!.orderKey, 'user-1');
    },
  );

  it(
    'retries a handler that meets a store outage (BUS_UNAVAILABLE) in place: no delivery counted, never dead-lettered, order kept',
    { timeout: TEST_TIMEOUT },
    async () => {
      const bus = newBus();
      const s = uniqueStream('outage');
      const seen: string[] = [];
      let failures = 0;
      consumer(
        bus,
        s,
        async (e) => {
          if (e.fields['p'] === 'first' && failures < 4) {
            failures++;
            throw new BusError('BUS_UNAVAILABLE', 'write not confirmed by 1 replica(s)');
          }
          seen.push(`${e.fields['p']}:${e.deliveries}`);
        },
        { claimIdleMs: 50, maxDeliveries: 1 },
      );
      await bus.publish(s, { p: 'first' }, 'user-1');
      await bus.publish(s, { p: 'second' }, 'user-1');
      await waitFor(() => seen.length === 2, 'both entries handled');
      assert.equal(failures, 4);
      assert.deepEqual(seen, ['first:1', 'second:1'], 'in order, each delivered once');
      assert.equal(await bus.length(keys.deadLetterStream(s)), 0);
      await waitFor(async () => (await bus.pendingCount(s, 'g')) === 0, 'both acknowledged');
    },
  );

  it('reclaims the pending entries of a consumer that died', { timeout: TEST_TIMEOUT }, async () => {
    const bus1 = newBus();
    const s = uniqueStream('died');
    let started = 0;
    consumer(bus1, s, () => {
      started++;
      return new Promise<void>(() => {}); // hangs until the "process" dies
    });
    await bus1.publish(s, { p: 'a' });
    await bus1.publish(s, { p: 'b' });
    await bus1.publish(s, { p: 'c' });
    await waitFor(() => started === 3, 'the first consumer to start all three');
    bus1.destroy();
    const bus2 = newBus();
    const seen: BusEntry[] = [];
    const t0 = Date.now();
    consumer(bus2, s, async (e) => void seen.push(e), { consumer: 'c2', claimIdleMs: 100 });
    await waitFor(() => seen.length >= 3, 'the reclaimed entries');
    assert.ok(Date.now() - t0 >= 50, 'only once idle');
    assert.deepEqual(seen.map((e) => e.fields['p']!).sort(), ['a', 'b', 'c']);
    for (const e of seen) assert.equal(e.deliveries, 2);
    await waitFor(async () => (await bus2.pendingCount(s, 'g')) === 0, 'all acknowledged');
  });

  it(
    'dead-letters without running an entry reclaimed past maxDeliveries',
    { timeout: TEST_TIMEOUT },
    async () => {
      const bus1 = newBus();
      const s = uniqueStream('died-last');
      let started = 0;
      consumer(bus1, s, () => {
        started++;
        return new Promise<void>(() => {});
      });
      const id = await bus1.publish(s, { p: 'crashes its consumer' });
      await waitFor(() => started === 1, 'the first delivery');
      bus1.destroy();
      const bus2 = newBus();
      let ran = 0;
      consumer(bus2, s, async () => void ran++, { consumer: 'c2', claimIdleMs: 100, maxDeliveries: 1 });
      const dead = keys.deadLetterStream(s);
      await waitFor(async () => (await bus2.length(dead)) === 1, 'the dead letter');
      const [record] = await bus2.range(dead);
      assert.equal(record?.fields['id'], id);
      assert.equal(record?.fields['deliveries'], '2');
      assert.match(record?.fields['reason'] ?? '', /delivered 2 times/);
      assert.equal(ran, 0);
      await waitFor(async () => (await bus2.pendingCount(s, 'g')) === 0, 'acknowledged');
    },
  );

  it(
    'resumes its own pending entries when restarted with the same name',
    { timeout: TEST_TIMEOUT },
    async () => {
      const bus1 = newBus();
      const s = uniqueStream('resume');
      let started = 0;
      consumer(bus1, s, () => {
        started++;
        return new Promise<void>(() => {});
      });
      await bus1.publish(s, { p: 'a' }, 'k');
      await bus1.publish(s, { p: 'b' }, 'k');
      await waitFor(() => started === 1, 'the first entry to start (the second waits for its key)');
      bus1.destroy();
      const bus2 = newBus();
      const seen: BusEntry[] = [];
      const t0 = Date.now();
      consumer(bus2, s, async (e) => void seen.push(e), { claimIdleMs: 60_000 });
      await bus2.publish(s, { p: 'c' }, 'k');
      await waitFor(() => seen.length >= 3, 'the resumed entries');
      assert.ok(Date.now() - t0 < 2000, 'without waiting for claimIdleMs');
      assert.deepEqual(
        seen.map((e) => [e.fields['p']!, e.deliveries]),
        [
          ['a', 2],
          ['b', 2],
          ['c', 1],
        ],
      );
      await waitFor(async () => (await bus2.pendingCount(s, 'g')) === 0, 'all acknowledged');
    },
  );

  it(
    'does not let another consumer steal entries held longer than claimIdleMs',
    { timeout: TEST_TIMEOUT },
    async () => {
      const bus1 = newBus();
      const bus2 = newBus();
      const s = uniqueStream('slow');
      const seen: { payload: string; by: string; deliveries: number }[] = [];
      const handler = (by: string) => async (e: BusEntry) => {
        seen.push({ payload: e.fields['p']!, by, deliveries: e.deliveries });
        await sleep(120);
      };
      // One key, so the entries queue behind each other (held, not running) far beyond claimIdleMs.
      const opts = { concurrency: 1, claimIdleMs: 100 };
      consumer(bus1, s, handler('c1'), { ...opts, consumer: 'c1' });
      consumer(bus2, s, handler('c2'), { ...opts, consumer: 'c2' });
      await Promise.all(['a', 'b', 'c', 'd'].map((p) => bus1.publish(s, { p: p }, 'hot')));
      await waitFor(() => seen.length >= 4, 'all four entries', 5000);
      await sleep(250);
      assert.deepEqual(
        seen.map((e) => e.payload).sort(),
        ['a', 'b', 'c', 'd'],
        `each handled once: ${JSON.stringify(seen)}`,
      );
      for (const e of seen) assert.equal(e.deliveries, 1);
    },
  );

  it('serializes entries per order key under concurrency 8', { timeout: TEST_TIMEOUT }, async () => {
    const bus = newBus();
    const s = uniqueStream('keys');
    const random = prng(42);
    const probe = keyedOrderProbe(() => 1 + Math.floor(random() * 6));
    consumer(bus, s, probe.handler, { concurrency: 8 });
    await probe.publishAndCheck(bus, s, 8);
  });

  it(
    'trims entries every group acknowledged, keeps pending and undelivered ones',
    { timeout: TEST_TIMEOUT },
    async () => {
      const bus = newBus();
      const s = uniqueStream('acked');
      let release: () => void = () => undefined;
      const blocked = new Promise<void>((r) => (release = r));
      const c = consumer(
        bus,
        s,
        async (e) => {
          if (e.fields['p']! === 'slow') await blocked;
        },
        { claimIdleMs: 200, concurrency: 4 },
      );
      for (const p of ['a', 'b', 'slow', 'c']) await bus.publish(s, { p: p });
      await sleep(600);
      // 'a' and 'b' are acknowledged and trimmed; 'slow' is pending, so it and what follows stay
      const left = (await bus.range(s, 10)).map((r) => r.fields['p']);
      assert.deepEqual(left, ['slow', 'c']);
      // a second group that has read nothing keeps everything from now on
      let releaseLate: () => void = () => undefined;
      const lateBlocked = new Promise<void>((r) => (releaseLate = r));
      const other = consumer(bus, s, async () => lateBlocked, { group: 'late', claimIdleMs: 200 });
      release();
      await waitFor(async () => (await bus.pendingCount(s, 'g')) === 0, 'group g done');
      await sleep(300);
      assert.ok((await bus.length(s)) >= 1, 'entries the late group has not acknowledged are kept');
      releaseLate();
      await other.close();
      await c.close();
    },
  );

  it('trims streams to about maxLen', { timeout: TEST_TIMEOUT }, async () => {
    const bus = newBus({ maxLen: 50 });
    const s = uniqueStream('trim');
    for (let i = 0; i < 10; i++) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => bus.publish(s, { p: `e${i * 100 + j}` })));
    }
    const length = await bus.length(s);
    assert.ok(length >= 50 && length <= 200, `length ${length} about 50`);
    const [first] = await bus.range(s, 1);
    assert.notEqual(first?.fields['p'], 'e0', 'the oldest entries were dropped');
  });

  it(
    'close() waits for running handlers, acks them, and is idempotent',
    { timeout: TEST_TIMEOUT },
    async () => {
      const bus = newBus();
      const s = uniqueStream('close');
      let started = 0;
      let finished = 0;
      const c = consumer(
        bus,
        s,
        async () => {
          started++;
          await sleep(150);
          finished++;
        },
        { concurrency: 3, blockMs: 1000 },
      );
      await Promise.all([bus.publish(s, { p: 'a' }), bus.publish(s, { p: 'b' }), bus.publish(s, { p: 'c' })]);
      await waitFor(() => started === 3, 'three handlers running');
      const t0 = Date.now();
      const first = c.close();
      const second = c.close();
      await Promise.all([first, second]);
      assert.equal(finished, 3, 'close() resolved after the handlers');
      assert.ok(Date.now() - t0 < 1000, 'and without waiting for a full blockMs');
      assert.equal(await bus.pendingCount(s, 'g'), 0, 'their entries were acknowledged');
      await c.close();

      // An idle consumer blocked in its read closes promptly.
      const idle = consumer(bus, s, async () => {}, { group: 'idle', blockMs: 5000 });
      await sleep(100);
      const t1 = Date.now();
      await idle.close();
      assert.ok(Date.now() - t1 < 1000, `idle consumer closed in ${Date.now() - t1} ms`);

      await Promise.all([bus.close(), bus.close()]);
      await bus.close();
      await assert.rejects(bus.publish(s, { p: 'late' }), (err) => isBusError(err, 'BUS_CLOSED'));
      assert.throws(
        () => consumer(bus, s, async () => {}),
        (err) => isBusError(err, 'BUS_CLOSED'),
      );
    },
  );

  it(
    'tail: reads, in order, only the entries published after it is ready',
    { timeout: TEST_TIMEOUT },
    async () => {
      const publisher = newBus();
      const bus = newBus();
      const s = uniqueStream('tail-order');
      for (let i = 0; i < 3; i++) await publisher.publish(s, { p: `old${i}` });
      const seen: BusEntry[] = [];
      const t = tail(bus, s, async (e) => void seen.push(e), { concurrency: 1 });
      await t.ready;
      const ids: string[] = [];
      // sequential, then concurrent publishes: none published between two reads is lost
      for (let i = 0; i < 10; i++)
        ids.push(await publisher.publish(s, { p: `m${i}` }, i % 2 ? 'odd' : undefined));
      ids.push(
        ...(await Promise.all(
          Array.from({ length: 30 }, (_, i) => publisher.publish(s, { p: `m${10 + i}` })),
        )),
      );
      await waitFor(() => seen.length >= 40, '40 entries');
      await sleep(100);
      assert.deepEqual(
        seen.map((e) => e.fields['p']!),
        Array.from({ length: 40 }, (_, i) => `m${i}`),
      );
      assert.deepEqual(
        seen.map((e) => e.id),
        ids,
      );
      for (const [i, e] of seen.entries()) {
        assert.equal(e.stream, s);
        assert.equal(e.deliveries, 1);
        assert.equal(e.orderKey, i < 10 && i % 2 ? 'odd' : undefined);
      }
      assert.equal(await bus.pendingCount(s, 'g'), 0, 'no group involved');
      await t.close();
    },
  );

  it(
    'tail: bounded concurrency, never two entries of one order key at once',
    { timeout: TEST_TIMEOUT },
    async () => {
      const bus = newBus();
      const s = uniqueStream('tail-keys');
      const probe = keyedOrderProbe((n) => 3 + (n % 4));
      const t = tail(bus, s, probe.handler, { concurrency: 4, batchSize: 8 });
      await t.ready;
      await probe.publishAndCheck(bus, s, 4);
      await t.close();
    },
  );

  it(
    'tail: a failing handler drops its entry (never re-delivered); later entries still arrive',
    { timeout: TEST_TIMEOUT },
    async () => {
      const bus = newBus();
      const s = uniqueStream('tail-fail');
      const seen: string[] = [];
      const t = tail(
        bus,
        s,
        async (e) => {
          seen.push(e.fields['p']!);
          if (e.fields['p'] === 'bad') throw new Error('boom');
        },
        { concurrency: 1 },
      );
      await t.ready;
      for (const p of ['a', 'bad', 'b', 'c']) await bus.publish(s, { p }, 'same-key');
      await waitFor(() => seen.length >= 4, 'four entries');
      await sleep(300);
      assert.deepEqual(seen, ['a', 'bad', 'b', 'c'], 'each entry once, the failed one included');
      await t.close();
    },
  );

  it(
    'tail: trims what it has read every trimEveryMs, keeps what it has not read',
    { timeout: TEST_TIMEOUT },
    async () => {
      const bus = newBus();
      const s = uniqueStream('tail-trim');
      for (let i = 0; i < 3; i++) await bus.publish(s, { p: `old${i}` });
      let release: () => void = () => undefined;
      const blocked = new Promise<void>((r) => (release = r));
      let started = 0;
      let finished = 0;
      const t = tail(
        bus,
        s,
        async () => {
          started++;
          await blocked;
          finished++;
        },
        { concurrency: 1, batchSize: 1, trimEveryMs: 50 },
      );
      await t.ready;
      for (let i = 0; i < 6; i++) await bus.publish(s, { p: `e${i}` });
      // one entry running and one queued (concurrency + batchSize): the tail has read two, not the other four
      await waitFor(() => started === 1, 'the first handler');
      await sleep(300);
      const left = (await bus.range(s, 20)).map((r) => r.fields['p']);
      assert.deepEqual(
        left,
        ['e2', 'e3', 'e4', 'e5'],
        'entries read (and those before the start) are trimmed',
      );
      release();
      await waitFor(() => finished === 6, 'every entry');
      await waitFor(async () => (await bus.length(s)) === 0, 'the stream trimmed empty', 2000);
      await t.close();
    },
  );

  it(
    'tail: close() waits for running handlers, returns promptly from a blocked read, is idempotent',
    { timeout: TEST_TIMEOUT },
    async () => {
      const bus = newBus();
      const s = uniqueStream('tail-close');
      let started = 0;
      let finished = 0;
      const t = tail(
        bus,
        s,
        async () => {
          started++;
          await sleep(150);
          finished++;
        },
        { concurrency: 3, blockMs: 5000 },
      );
      await t.ready;
      await Promise.all([bus.publish(s, { p: 'a' }), bus.publish(s, { p: 'b' }), bus.publish(s, { p: 'c' })]);
      await waitFor(() => started === 3, 'three handlers running');
      const t0 = Date.now();
      await Promise.all([t.close(), t.close()]);
      assert.equal(finished, 3, 'close() resolved after the handlers');
      assert.ok(Date.now() - t0 < 1000, 'and without waiting for a full blockMs');
      await t.close();

      // An idle tail blocked in its read closes promptly, and reads nothing more.
      let late = 0;
      const idle = tail(bus, s, async () => void late++, { name: 'idle', blockMs: 5000 });
      await idle.ready;
      await sleep(100);
      const t1 = Date.now();
      await idle.close();
      assert.ok(Date.now() - t1 < 1000, `idle tail closed in ${Date.now() - t1} ms`);
      await bus.publish(s, { p: 'after close' });
      await sleep(100);
      assert.equal(late, 0);

      await bus.close();
      assert.throws(
        () => tail(bus, s, async () => {}),
        (err) => isBusError(err, 'BUS_CLOSED'),
      );
    },
  );
}

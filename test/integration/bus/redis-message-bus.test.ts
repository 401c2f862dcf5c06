/** RedisMessageBus under Redis outages and restarts (each test on its own redis-server). */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { isBusError } from '../../../src/bus/bus-error.ts';
import type { BusEntry } from '../../../src/bus/message-bus.ts';
import { RedisMessageBus } from '../../../src/bus/redis-message-bus.ts';
import type { RedisMessageBusOptions } from '../../../src/bus/redis-message-bus.ts';
import { startRedisServer } from '../../helpers/redis-server.ts';
import type { RedisServer, RedisServerOptions } from '../../helpers/redis-server.ts';
import { sleep, uniqueStream, waitFor } from './message-bus-contract.ts';

const TEST_TIMEOUT = 15_000;

/** A pino logger whose lines are kept (parsed) in `lines`. */
function captureLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

describe('RedisMessageBus outages', () => {
  const servers: RedisServer[] = [];
  const buses: RedisMessageBus[] = [];
  const server = async (options?: RedisServerOptions) => {
    const s = await startRedisServer(options);
    servers.push(s);
    return s;
  };
  const bus = (s: RedisServer, options: RedisMessageBusOptions = {}) => {
    const b = new RedisMessageBus({ url: s.url, maxReconnectDelayMs: 100, ...options });
    buses.push(b);
    return b;
  };
  afterEach(async () => {
    for (const b of buses.splice(0)) b.destroy();
    await Promise.all(servers.splice(0).map((s) => s.dispose()));
  });

  /** Publishing until it succeeds (what a gateway does with a client's retransmission). */
  async function publishEventually(b: RedisMessageBus, stream: string, payload: string): Promise<string> {
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        return await b.publish(stream, { p: payload });
      } catch (err) {
        assert.ok(isBusError(err, 'BUS_UNAVAILABLE'), `unexpected ${String(err)}`);
        if (Date.now() > deadline) throw err;
        await sleep(50);
      }
    }
  }

  it(
    'rejects a publish with BUS_UNAVAILABLE within 2 s while Redis is down',
    { timeout: TEST_TIMEOUT },
    async () => {
      const s = await server();
      const b = bus(s, { maxReconnectDelayMs: 1000 });
      const stream = uniqueStream('down');
      await b.publish(stream, { p: 'before' });
      await s.kill();
      for (let i = 0; i < 2; i++) {
        const t0 = Date.now();
        await assert.rejects(b.publish(stream, { p: `during-${i}` }), (err) =>
          isBusError(err, 'BUS_UNAVAILABLE'),
        );
        const elapsed = Date.now() - t0;
        assert.ok(elapsed < 2000, `rejected after ${elapsed} ms`);
      }
      await s.start();
      await publishEventually(b, stream, 'after');
      // Without persistence the restart lost the stream: only the entry published since is there.
      assert.equal(await b.length(stream), 1);
      // close() while Redis is down does not hang either.
      await s.kill();
      const t0 = Date.now();
      await b.close();
      assert.ok(Date.now() - t0 < 3000, `closed in ${Date.now() - t0} ms`);
    },
  );

  it(
    'consumes again after a restart without persistence, recreating the group',
    { timeout: TEST_TIMEOUT },
    async () => {
      const s = await server();
      const { logger, lines } = captureLogger();
      const b = bus(s, { logger });
      const stream = uniqueStream('restart');
      const seen: BusEntry[] = [];
      b.consume({
        stream,
        group: 'g',
        consumer: 'c1',
        blockMs: 100,
        handler: async (e) => void seen.push(e),
      });
      await b.publish(stream, { p: 'before' });
      await waitFor(() => seen.length === 1, 'the entry before the restart');
      await s.restart();
      await publishEventually(b, stream, 'after-1');
      await publishEventually(b, stream, 'after-2');
      await waitFor(() => seen.length === 3, 'the entries after the restart');
      assert.deepEqual(
        seen.map((e) => [e.fields['p']!, e.deliveries]),
        [
          ['before', 1],
          ['after-1', 1],
          ['after-2', 1],
        ],
      );
      await waitFor(async () => (await b.pendingCount(stream, 'g')) === 0, 'all acknowledged');
      // And through a crash (SIGKILL) with a consumer blocked in its read.
      await s.kill();
      await sleep(300);
      await s.start();
      await publishEventually(b, stream, 'after-crash');
      await waitFor(() => seen.length === 4, 'the entry after the crash');
      await b.close();
      const codes = new Set(lines.map((l) => l['code']));
      for (const code of ['BUS_UNAVAILABLE', 'BUS_NO_GROUP', 'BUS_GROUP_CREATED', 'BUS_RECOVERED']) {
        assert.ok(codes.has(code), `logged ${code}`);
      }
    },
  );

  it(
    'tail: goes on after Redis restarts (BUS_UNAVAILABLE once, then BUS_RECOVERED); a failing handler is logged',
    { timeout: TEST_TIMEOUT },
    async () => {
      const s = await server();
      const { logger, lines } = captureLogger();
      const b = bus(s, { logger });
      const stream = uniqueStream('tail-restart');
      const seen: string[] = [];
      const t = b.tail({
        stream,
        name: 'gw-1',
        blockMs: 100,
        handler: async (e) => {
          seen.push(e.fields['p']!);
          if (e.fields['p'] === 'bad') throw new Error('boom');
        },
      });
      await t.ready;
      await b.publish(stream, { p: 'before' });
      await b.publish(stream, { p: 'bad' });
      await waitFor(() => seen.length === 2, 'the entries before the restart');
      await s.kill();
      await sleep(500);
      await s.start();
      await publishEventually(b, stream, 'after-1');
      await publishEventually(b, stream, 'after-2');
      await waitFor(() => seen.length === 4, 'the entries after the restart');
      assert.deepEqual(seen, ['before', 'bad', 'after-1', 'after-2']);
      await t.close();
      const codes = lines.map((l) => l['code']);
      const failed = lines.filter((l) => l['code'] === 'BUS_TAIL_HANDLER_FAILED');
      assert.equal(failed.length, 1, 'the failing handler logged');
      assert.equal(failed[0]!['level'], 40, 'at warn level');
      assert.match(String(failed[0]!['err']), /boom/);
      const unavailable = lines.filter(
        (l) => l['code'] === 'BUS_UNAVAILABLE' && l['tail'] === 'gw-1' && l['level'] === 40,
      );
      assert.equal(unavailable.length, 1, 'the tail logged the outage once');
      assert.ok(codes.includes('BUS_RECOVERED'), 'and its end');
    },
  );

  it(
    'tail: ready waits for Redis; the start point is fixed once it is back',
    { timeout: TEST_TIMEOUT },
    async () => {
      const s = await server();
      const b = bus(s);
      const stream = uniqueStream('tail-ready');
      await b.publish(stream, { p: 'old' });
      await s.kill();
      const seen: string[] = [];
      const t = b.tail({
        stream,
        name: 'gw-1',
        blockMs: 100,
        handler: async (e) => void seen.push(e.fields['p']!),
      });
      let ready = false;
      void t.ready.then(() => (ready = true));
      await sleep(500);
      assert.equal(ready, false, 'not ready while Redis is down');
      await s.start();
      await t.ready;
      await b.publish(stream, { p: 'new' });
      await waitFor(() => seen.length === 1, 'the new entry');
      assert.deepEqual(seen, ['new']);
      // closed before its start point is fixed: ready rejects
      await s.kill();
      const early = b.tail({ stream, name: 'gw-2', handler: async () => {} });
      await early.close();
      await assert.rejects(early.ready, (err) => isBusError(err, 'BUS_CLOSED'));
    },
  );

  it(
    'keeps the group and pending entries across a restart with persistence',
    { timeout: TEST_TIMEOUT },
    async () => {
      const s = await server({ appendonly: true });
      const b = bus(s);
      const stream = uniqueStream('aof');
      const seen: BusEntry[] = [];
      let fail = true;
      b.consume({
        stream,
        group: 'g',
        consumer: 'c1',
        blockMs: 100,
        claimIdleMs: 200,
        handler: async (e) => {
          seen.push(e);
          if (e.fields['p']! === 'flaky' && fail) throw new Error('fails until the restart');
        },
      });
      await b.publish(stream, { p: 'done' });
      await b.publish(stream, { p: 'flaky' });
      await waitFor(() => seen.length === 2, 'both entries');
      await s.restart();
      fail = false;
      await publishEventually(b, stream, 'new');
      await waitFor(() => seen.some((e) => e.fields['p']! === 'new'), 'the new entry');
      await waitFor(
        () => seen.filter((e) => e.fields['p']! === 'flaky').length === 2,
        'the pending entry, reclaimed',
      );
      assert.equal(
        seen.filter((e) => e.fields['p']! === 'done').length,
        1,
        'acknowledged entries stay acknowledged',
      );
      assert.equal(seen.filter((e) => e.fields['p']! === 'flaky')[1]!.deliveries, 2);
      await waitFor(async () => (await b.pendingCount(stream, 'g')) === 0, 'all acknowledged');
      await waitFor(async () => (await b.length(stream)) === 0, 'acknowledged entries trimmed');
      await b.close();
    },
  );

  it(
    "ackNow: offered on standalone Redis; acknowledged with the handler's own commands, so a later failure is not re-delivered",
    { timeout: TEST_TIMEOUT },
    async () => {
      const s = await server();
      const { logger, lines } = captureLogger();
      const b = bus(s, { logger });
      const stream = uniqueStream('ack-now');
      const out = uniqueStream('ack-now-out');
      await b.publish(stream, { p: 'one' });
      const seen: string[] = [];
      const consumer = b.consume({
        stream,
        group: 'g',
        consumer: 'c1',
        claimIdleMs: 100,
        handler: async (entry: BusEntry) => {
          seen.push(entry.id);
          assert.equal(typeof entry.ackNow, 'function', 'standalone Redis offers ackNow');
          const published = b.publish(out, { source: entry.id });
          entry.ackNow?.();
          await published;
          throw new Error('failed after its output was written');
        },
      });
      await waitFor(async () => (await b.length(out)) === 1, 'the output');
      // claimIdleMs is 100 ms: a pending entry would have been re-delivered several times by now
      await sleep(600);
      assert.equal(seen.length, 1, 'not re-delivered');
      const pending = (await b.redis.call('XPENDING', stream, 'g')) as unknown[];
      assert.equal(Number(pending[0]), 0, 'nothing pending');
      assert.ok(
        lines.some(
          (l) => l['code'] === 'BUS_HANDLER_FAILED' && /after it acknowledged/.test(String(l['msg'])),
        ),
        'the failure is logged',
      );
      await consumer.close();
    },
  );
});

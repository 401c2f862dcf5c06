/**
 * The message bus in this process's memory (embedded single-process engine, tests), with the semantics of
 * RedisMessageBus: consumer groups, pending entries re-delivered after `claimIdleMs`, dead letters after
 * `maxDeliveries`, approximate `maxLen` trimming, tails (no group; they trim what they read), blocked
 * consumers and tails woken at once by a publish. Nothing
 * survives the process. Pass one `store` to several instances to simulate several processes on one Redis.
 */
import { pino } from 'pino';
import type { Logger } from 'pino';
import { createRedisKeys } from '../redis/redis-keys.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { BUS_DEFAULTS } from './bus-defaults.ts';
import { BusError } from './bus-error.ts';
import type { ClaimResult, ConsumerBackend, ConsumerRecord, DeadLetter } from './consumer-backend.ts';
import type { BusRecord, InspectableMessageBus } from './inspectable-message-bus.ts';
import { MemoryStreamStore } from './memory-stream-store.ts';
import type { StoreDelivery, StoreWait } from './memory-stream-store.ts';
import { checkFields } from './bus-fields.ts';
import type { BusConsumer, BusTail, ConsumerOptions, StreamFields, TailOptions } from './message-bus.ts';
import { resolveConsumerOptions, StreamConsumer } from './stream-consumer.ts';
import { resolveTailOptions, StreamTail } from './stream-tail.ts';
import type { TailBackend, TailRecord } from './tail-backend.ts';

export interface MemoryMessageBusOptions {
  /** Shared storage (default: a new one for this bus). */
  readonly store?: MemoryStreamStore;
  /** Entries kept per stream, approximately (default 1,000,000), or a function of the stream name. */
  readonly maxLen?: number | ((stream: string) => number);
  /** Names the dead-letter streams (default `createRedisKeys()`: `<stream>:dead`). */
  readonly keys?: RedisKeys;
  readonly logger?: Logger;
}

function toRecord(d: StoreDelivery): ConsumerRecord {
  if (d.fields === undefined)
    return { id: d.id, fields: undefined, orderKey: undefined, deliveries: d.deliveries };
  const { k, ...fields } = d.fields;
  return { id: d.id, fields, orderKey: k, deliveries: d.deliveries };
}

/**
 * A blocking read on one stream of the store (the in-memory XREADGROUP / XREAD … BLOCK): `read()` again once
 * entries arrive or `blockMs` passes; `interrupt()` ends a pending read with nothing, and every later one.
 */
class MemoryBlockingRead {
  readonly #store: MemoryStreamStore;
  readonly #stream: string;
  #wait: StoreWait | undefined;
  #stopped = false;

  constructor(store: MemoryStreamStore, stream: string) {
    this.#store = store;
    this.#stream = stream;
  }

  async read<T>(read: () => T[], blockMs: number): Promise<T[]> {
    const first = read();
    if (first.length > 0 || this.#stopped) return first;
    this.#wait = this.#store.waitForEntries(this.#stream, blockMs);
    await this.#wait.promise;
    this.#wait = undefined;
    return this.#stopped ? [] : read();
  }

  interrupt(): void {
    this.#stopped = true;
    this.#wait?.cancel();
  }
}

class MemoryConsumerBackend implements ConsumerBackend {
  readonly sharesWrites = false;
  readonly #store: MemoryStreamStore;
  readonly #stream: string;
  readonly #group: string;
  readonly #consumer: string;
  readonly #dead: string;
  readonly #maxLen: number;
  readonly #blocking: MemoryBlockingRead;

  constructor(store: MemoryStreamStore, o: ConsumerOptions, dead: string, maxLen: number) {
    this.#store = store;
    this.#blocking = new MemoryBlockingRead(store, o.stream);
    this.#stream = o.stream;
    this.#group = o.group;
    this.#consumer = o.consumer;
    this.#dead = dead;
    this.#maxLen = maxLen;
  }

  async ensureGroup(): Promise<void> {
    this.#store.createGroup(this.#stream, this.#group);
  }

  async readHistory(after: string, count: number): Promise<ConsumerRecord[]> {
    return this.#store.readPending(this.#stream, this.#group, this.#consumer, after, count).map(toRecord);
  }

  readNew(count: number, blockMs: number): Promise<ConsumerRecord[]> {
    return this.#blocking.read(
      () => this.#store.readNew(this.#stream, this.#group, this.#consumer, count).map(toRecord),
      blockMs,
    );
  }

  async claimIdle(cursor: string, minIdleMs: number, count: number): Promise<ClaimResult> {
    const r = this.#store.autoClaim(this.#stream, this.#group, this.#consumer, minIdleMs, cursor, count);
    return { cursor: r.cursor, records: r.claimed.map(toRecord), deleted: r.deleted };
  }

  async touch(ids: readonly string[]): Promise<string[]> {
    return this.#store.touch(this.#stream, this.#group, this.#consumer, ids);
  }

  async ack(ids: readonly string[]): Promise<void> {
    this.#store.ack(this.#stream, this.#group, ids);
  }

  async trimAcknowledged(): Promise<number> {
    return this.#store.trimAcknowledged(this.#stream);
  }

  async deadLetter(entry: DeadLetter): Promise<void> {
    const fields: Record<string, string> = { ...entry.fields };
    if (entry.orderKey !== undefined) fields['k'] = entry.orderKey;
    Object.assign(fields, {
      reason: entry.reason,
      from: this.#stream,
      id: entry.id,
      group: this.#group,
      consumer: this.#consumer,
      deliveries: String(entry.deliveries),
    });
    this.#store.deadLetter(this.#stream, this.#group, entry.id, this.#dead, fields, this.#maxLen);
  }

  interrupt(): void {
    this.#blocking.interrupt();
  }

  async close(): Promise<void> {
    this.interrupt();
  }

  destroy(): void {
    this.interrupt();
  }
}

class MemoryTailBackend implements TailBackend {
  readonly #store: MemoryStreamStore;
  readonly #stream: string;
  readonly #blocking: MemoryBlockingRead;

  constructor(store: MemoryStreamStore, stream: string) {
    this.#store = store;
    this.#stream = stream;
    this.#blocking = new MemoryBlockingRead(store, stream);
  }

  async lastId(): Promise<string> {
    return this.#store.lastId(this.#stream);
  }

  read(after: string, count: number, blockMs: number): Promise<TailRecord[]> {
    return this.#blocking.read(
      () =>
        this.#store.readAfter(this.#stream, after, count).map((d) => {
          const { id, fields, orderKey } = toRecord(d);
          return { id, fields: fields ?? {}, orderKey };
        }),
      blockMs,
    );
  }

  async trim(minId: string): Promise<number> {
    return this.#store.trimBelow(this.#stream, minId);
  }

  interrupt(): void {
    this.#blocking.interrupt();
  }

  async close(): Promise<void> {
    this.interrupt();
  }

  destroy(): void {
    this.interrupt();
  }
}

export class MemoryMessageBus implements InspectableMessageBus {
  readonly store: MemoryStreamStore;
  readonly #maxLen: (stream: string) => number;
  readonly #keys: RedisKeys;
  readonly #log: Logger;
  readonly #consumers = new Set<StreamConsumer | StreamTail>();
  /** consume() and tail() refused (closing or closed). */
  #closing = false;
  /** publish() refused too. */
  #closed = false;
  #closed$: Promise<void> | undefined;

  constructor(options: MemoryMessageBusOptions = {}) {
    this.store = options.store ?? new MemoryStreamStore();
    const maxLen = options.maxLen ?? BUS_DEFAULTS.maxLen;
    if (typeof maxLen === 'number' && (!Number.isSafeInteger(maxLen) || maxLen < 1)) {
      throw new BusError('BUS_BAD_ARGUMENT', `maxLen must be a positive integer, got ${maxLen}`);
    }
    this.#maxLen = typeof maxLen === 'number' ? () => maxLen : maxLen;
    this.#keys = options.keys ?? createRedisKeys();
    this.#log = (options.logger ?? pino({ level: 'silent' })).child({ module: 'memory-message-bus' });
  }

  async publish(stream: string, fields: StreamFields, orderKey?: string): Promise<string> {
    if (this.#closed) throw new BusError('BUS_CLOSED', 'the bus is closed');
    checkFields(fields);
    const stored: Record<string, string> = { ...fields };
    if (orderKey !== undefined) stored['k'] = orderKey;
    return this.store.add(stream, stored, this.#maxLen(stream));
  }

  consume(options: ConsumerOptions): BusConsumer {
    if (this.#closing) throw new BusError('BUS_CLOSED', 'the bus is closed');
    const resolved = resolveConsumerOptions(options);
    const dead = this.#keys.deadLetterStream(resolved.stream);
    const backend = new MemoryConsumerBackend(this.store, resolved, dead, this.#maxLen(dead));
    const consumer: StreamConsumer = new StreamConsumer(backend, resolved, this.#log, () =>
      this.#consumers.delete(consumer),
    );
    this.#consumers.add(consumer);
    consumer.start();
    return consumer;
  }

  tail(options: TailOptions): BusTail {
    if (this.#closing) throw new BusError('BUS_CLOSED', 'the bus is closed');
    const resolved = resolveTailOptions(options);
    const backend = new MemoryTailBackend(this.store, resolved.stream);
    const tail: StreamTail = new StreamTail(backend, resolved, this.#log, () => this.#consumers.delete(tail));
    this.#consumers.add(tail);
    tail.start();
    return tail;
  }

  async length(stream: string): Promise<number> {
    return this.store.length(stream);
  }

  async range(stream: string, count = 100): Promise<BusRecord[]> {
    return this.store.range(stream, count);
  }

  async pendingCount(stream: string, group: string): Promise<number> {
    return this.store.pendingCount(stream, group);
  }

  /** Close every consumer and tail (their running handlers finish; consumers' are acknowledged). */
  close(): Promise<void> {
    this.#closing = true;
    this.#closed$ ??= (async () => {
      // Handlers finishing during close may still publish: publishes stay open until consumers are done.
      await Promise.all([...this.#consumers].map((c) => c.close()));
      this.#closed = true;
    })();
    return this.#closed$;
  }

  destroy(): void {
    this.#closing = true;
    this.#closed = true;
    for (const c of [...this.#consumers]) c.destroy();
    this.#closed$ ??= Promise.resolve();
  }
}

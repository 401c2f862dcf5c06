/**
 * The consumer side of the bus, shared by the Redis and in-memory implementations (each supplies a
 * ConsumerBackend). Per consumer, a read loop:
 *
 *  1. create the group if missing (again whenever it vanishes: `BUS_NO_GROUP`);
 *  2. first resume this consumer's own pending entries (a restarted consumer with the same name);
 *  3. then read new entries, blocking up to `blockMs`;
 *
 * and, beside it, a maintenance timer every `claimIdleMs / 2` (at most 5 s): send the acks still due, reset
 * the idle time of the entries it holds for more than `claimIdleMs / 4` (so that slow handlers and entries
 * queued behind their order key are not stolen), and claim entries idle ≥ `claimIdleMs` — failed ones, or
 * those of dead consumers.
 *
 * Entries run on a KeyedScheduler (`concurrency`, one at a time per order key); the loop holds at most
 * `concurrency + batchSize` entries (running, queued or awaiting their ack). A handler resolving queues
 * an XACK (sent in batches); a handler throwing leaves the entry pending for re-delivery after
 * `claimIdleMs`, unless it has had `maxDeliveries` deliveries: then it goes to the dead-letter stream. An
 * entry reclaimed with more than `maxDeliveries` deliveries (its consumer died during the last one) goes
 * there without running.
 *
 * Store outages never end the loop: it logs `BUS_UNAVAILABLE` once, retries with backoff (50 ms doubling up
 * to 2 s) and logs `BUS_RECOVERED` when a command succeeds again.
 */
import type { Logger } from 'pino';
import { BUS_DEFAULTS } from './bus-defaults.ts';
import { BusError, isBusError } from './bus-error.ts';
import type { ConsumerBackend, ConsumerRecord } from './consumer-backend.ts';
import { KeyedScheduler } from './keyed-scheduler.ts';
import { errorText, LoopWait, OutageLog, retryDelay } from './read-loop.ts';
import type { BusConsumer, BusEntry, ConsumerOptions, StreamFields } from './message-bus.ts';

const MAINTENANCE_MAX_MS = 5000;
const ACK_BATCH = 512;

interface Task {
  readonly record: ConsumerRecord & { readonly fields: StreamFields };
  readonly orderKey: string | undefined;
}

export type ResolvedConsumerOptions = Required<Omit<ConsumerOptions, 'handler'>> &
  Pick<ConsumerOptions, 'handler'>;

/** Validates consumer options and applies the defaults. */
export function resolveConsumerOptions(options: ConsumerOptions): ResolvedConsumerOptions {
  const resolved: ResolvedConsumerOptions = {
    stream: options.stream,
    group: options.group,
    consumer: options.consumer,
    handler: options.handler,
    concurrency: options.concurrency ?? BUS_DEFAULTS.concurrency,
    blockMs: options.blockMs ?? BUS_DEFAULTS.blockMs,
    claimIdleMs: options.claimIdleMs ?? BUS_DEFAULTS.claimIdleMs,
    maxDeliveries: options.maxDeliveries ?? BUS_DEFAULTS.maxDeliveries,
    batchSize: options.batchSize ?? BUS_DEFAULTS.batchSize,
  };
  for (const name of ['stream', 'group', 'consumer'] as const) {
    if (typeof resolved[name] !== 'string' || resolved[name] === '') {
      throw new BusError('BUS_BAD_ARGUMENT', `consumer option ${name} must be a non-empty string`);
    }
  }
  if (typeof resolved.handler !== 'function') {
    throw new BusError('BUS_BAD_ARGUMENT', 'consumer option handler must be a function');
  }
  for (const name of ['concurrency', 'blockMs', 'claimIdleMs', 'maxDeliveries', 'batchSize'] as const) {
    const value = resolved[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new BusError(
        'BUS_BAD_ARGUMENT',
        `consumer option ${name} must be a positive integer, got ${value}`,
      );
    }
  }
  return resolved;
}

export class StreamConsumer implements BusConsumer {
  readonly #backend: ConsumerBackend;
  readonly #o: ResolvedConsumerOptions;
  readonly #log: Logger;
  readonly #onClosed: () => void;
  readonly #scheduler: KeyedScheduler<Task>;
  readonly #maxHeld: number;
  readonly #maintenanceMs: number;
  /** Entries this consumer holds (queued, running, or awaiting their ack) → when last delivered/touched. */
  readonly #held = new Map<string, number>();
  #ackQueue: string[] = [];
  #acking: Promise<void> | undefined;
  #ackScheduled = false;
  #claimCursor = '0-0';
  #closing = false;
  #destroyed = false;
  readonly #waits = new LoopWait();
  readonly #outage: OutageLog;
  #loop: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  #groupReady = false;
  #maintenanceTimer: ReturnType<typeof setTimeout> | undefined;
  #maintenance: Promise<void> | undefined;

  constructor(
    backend: ConsumerBackend,
    options: ResolvedConsumerOptions,
    logger: Logger,
    onClosed: () => void = () => {},
  ) {
    this.#backend = backend;
    this.#o = options;
    this.#log = logger.child({ stream: options.stream, group: options.group, consumer: options.consumer });
    this.#outage = new OutageLog(this.#log, 'bus consumer');
    this.#onClosed = onClosed;
    this.#scheduler = new KeyedScheduler(options.concurrency, (task) => this.#process(task));
    this.#maxHeld = options.concurrency + options.batchSize;
    this.#maintenanceMs = Math.max(10, Math.min(MAINTENANCE_MAX_MS, Math.floor(options.claimIdleMs / 2)));
  }

  start(): void {
    if (this.#loop) return;
    this.#loop = this.#run();
    this.#scheduleMaintenance();
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      this.#signal();
      this.#backend.interrupt();
      await this.#loop;
      await this.#backend.close();
      this.#onClosed();
    })();
    return this.#closed;
  }

  /** Stop at once: no more reads, no acks; running handlers' results are ignored. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#closing = true;
    clearTimeout(this.#maintenanceTimer);
    this.#scheduler.takeQueued();
    this.#held.clear();
    this.#ackQueue = [];
    this.#signal();
    this.#backend.destroy();
    this.#closed ??= Promise.resolve().then(() => this.#onClosed());
  }

  async #run(): Promise<void> {
    const o = this.#o;
    let history: string | undefined = '0-0';
    let failures = 0;
    let noGroupRetried = false;
    while (!this.#closing) {
      try {
        if (!this.#groupReady) {
          await this.#backend.ensureGroup();
          this.#groupReady = true;
        }
        const free = this.#maxHeld - this.#held.size;
        if (free <= 0) {
          await this.#wait('capacity', o.blockMs);
          continue;
        }
        const count = Math.min(o.batchSize, free);
        if (history !== undefined) {
          const records = await this.#backend.readHistory(history, count);
          history = records.length === 0 ? undefined : records[records.length - 1]!.id;
          if (!this.#closing) this.#accept(records);
        } else {
          const records = await this.#backend.readNew(count, o.blockMs);
          if (!this.#closing) this.#accept(records);
        }
        failures = 0;
        noGroupRetried = false;
        this.#outage.recovered();
      } catch (err) {
        if (this.#closing) break;
        failures++;
        if (isBusError(err, 'BUS_NO_GROUP')) {
          // The group vanished (Redis restarted without persistence): recreate it, at once the first time.
          this.#log.warn({ code: 'BUS_NO_GROUP' }, 'consumer group missing; recreating it');
          this.#groupReady = false;
          history = undefined;
          if (!noGroupRetried) {
            noGroupRetried = true;
            continue;
          }
        }
        this.#outage.failed(err);
        await this.#wait('backoff', retryDelay(failures));
      }
    }
    clearTimeout(this.#maintenanceTimer);
    await this.#maintenance;
    if (this.#destroyed) return;
    // Closing: entries not started stay pending (this consumer resumes them on restart; others reclaim them).
    for (const task of this.#scheduler.takeQueued()) this.#held.delete(task.record.id);
    await this.#scheduler.whenIdle();
    if (this.#destroyed) return;
    try {
      await this.#flushAcks();
    } catch (err) {
      this.#log.warn(
        { code: 'BUS_ACK_FAILED', err: errorText(err), entries: this.#ackQueue.length },
        'acks lost on close; the entries will be re-delivered',
      );
    }
  }

  /**
   * Maintenance runs on its own timer, beside the read loop (on Redis it uses the shared connection while
   * the loop blocks on its own), so that its cadence does not depend on how promptly blocking reads return.
   */
  #scheduleMaintenance(): void {
    if (this.#closing) return;
    this.#maintenanceTimer = setTimeout(() => {
      this.#maintenance = this.#maintainSafely().finally(() => {
        this.#maintenance = undefined;
        this.#scheduleMaintenance();
      });
    }, this.#maintenanceMs);
  }

  async #maintainSafely(): Promise<void> {
    if (!this.#groupReady || this.#closing) return;
    try {
      await this.#maintain();
    } catch (err) {
      // Outages are logged by the read loop, which meets them too.
      this.#log.debug(
        { code: isBusError(err) ? err.code : 'BUS_UNAVAILABLE', err: errorText(err) },
        'maintenance failed',
      );
    }
  }

  async #maintain(): Promise<void> {
    await this.#flushAcks();
    // Acknowledged entries are history: drop them so that memory (and Redis) stay bounded by the
    // backlog, not by the traffic ever carried. Pending and undelivered entries are kept.
    const trimmed = await this.#backend.trimAcknowledged();
    if (trimmed > 0) this.#log.debug({ code: 'BUS_TRIMMED', count: trimmed }, 'acknowledged entries trimmed');
    const now = Date.now();
    const stale: string[] = [];
    const threshold = now - this.#o.claimIdleMs / 4;
    for (const [id, at] of this.#held) if (at <= threshold) stale.push(id);
    if (stale.length > 0) {
      const lost = await this.#backend.touch(stale);
      for (const id of stale) if (this.#held.has(id)) this.#held.set(id, now);
      if (lost.length > 0) {
        this.#log.warn(
          { code: 'BUS_OWNERSHIP_LOST', ids: lost.slice(0, 16), count: lost.length },
          'held entries were claimed by another consumer; they may be processed twice',
        );
      }
    }
    const free = this.#maxHeld - this.#held.size;
    if (free <= 0) return;
    const claim = await this.#backend.claimIdle(
      this.#claimCursor,
      this.#o.claimIdleMs,
      Math.min(this.#o.batchSize, free),
    );
    this.#claimCursor = claim.cursor;
    if (claim.deleted.length > 0) {
      this.#log.warn(
        { code: 'BUS_ENTRY_TRIMMED', ids: claim.deleted.slice(0, 16), count: claim.deleted.length },
        'pending entries were trimmed from the stream before being processed',
      );
    }
    if (!this.#closing) this.#accept(claim.records);
  }

  #accept(records: readonly ConsumerRecord[]): void {
    const now = Date.now();
    for (const record of records) {
      if (this.#held.has(record.id)) continue; // already ours (reclaimed while queued or running)
      if (record.fields === undefined) {
        this.#log.warn(
          { code: 'BUS_ENTRY_TRIMMED', id: record.id },
          'pending entry was trimmed; dropping it',
        );
        this.#held.set(record.id, now);
        this.#ack(record.id);
        continue;
      }
      this.#held.set(record.id, now);
      this.#scheduler.push({ record: { ...record, fields: record.fields }, orderKey: record.orderKey });
    }
  }

  async #process(task: Task): Promise<void> {
    const { record } = task;
    const o = this.#o;
    if (this.#destroyed) return;
    if (record.deliveries > o.maxDeliveries) {
      await this.#deadLetter(task, `delivered ${record.deliveries} times (max ${o.maxDeliveries})`);
      return;
    }
    let acked = false;
    const ackNow = (): void => {
      if (acked || this.#destroyed) return;
      acked = true;
      this.#ackQueue.push(record.id);
      // now, not at the next turn: the XACK goes out in the write of the handler's own commands
      this.#flushAcks().catch((err: unknown) => {
        this.#log.debug({ code: 'BUS_ACK_FAILED', err: errorText(err) }, 'ack failed; will retry');
      });
    };
    const entry: BusEntry = {
      id: record.id,
      stream: o.stream,
      fields: record.fields,
      orderKey: record.orderKey,
      deliveries: record.deliveries,
      ackNow: this.#backend.sharesWrites ? ackNow : undefined,
    };
    try {
      await this.#runHandler(entry);
    } catch (err) {
      if (this.#destroyed) return;
      if (acked) {
        this.#log.warn(
          { code: 'BUS_HANDLER_FAILED', id: record.id, deliveries: record.deliveries, err: errorText(err) },
          'handler failed after it acknowledged its entry; not re-delivered',
        );
        return;
      }
      if (isBusError(err, 'BUS_UNAVAILABLE')) {
        // closing during a store outage: the entry stays pending (resumed on restart or reclaimed)
        this.#release(record.id);
        return;
      }
      const last = record.deliveries >= o.maxDeliveries;
      this.#log.warn(
        { code: 'BUS_HANDLER_FAILED', id: record.id, deliveries: record.deliveries, err: errorText(err) },
        last ? 'handler failed for the last time' : 'handler failed; the entry will be re-delivered',
      );
      if (last) {
        await this.#deadLetter(
          task,
          `handler failed ${record.deliveries} times; last error: ${errorText(err)}`,
        );
      } else {
        this.#release(record.id);
      }
      return;
    }
    if (this.#destroyed || acked) return;
    this.#ack(record.id);
  }

  /**
   * Run the handler; while it fails because the store is unavailable or did not confirm a write
   * (BUS_UNAVAILABLE: an outage, a Redis Cluster failover, no replica for the `replica` durability mode),
   * retry it here with backoff instead of counting a delivery: an outage never sends an entry to the
   * dead-letter stream, and the entry keeps its place before later entries of its order key. Rethrows
   * other errors, and BUS_UNAVAILABLE once the consumer is closing.
   */
  async #runHandler(entry: BusEntry): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#o.handler(entry);
        if (attempt > 1) {
          this.#log.info(
            { code: 'BUS_HANDLER_RECOVERED', id: entry.id, attempts: attempt },
            'handler succeeded',
          );
        }
        return;
      } catch (err) {
        if (!isBusError(err, 'BUS_UNAVAILABLE') || this.#closing || this.#destroyed) throw err;
        if (attempt === 1) {
          this.#log.warn(
            { code: 'BUS_HANDLER_RETRYING', id: entry.id, err: errorText(err) },
            'handler met a store outage; retrying it until the store is back',
          );
        }
        const ms = retryDelay(attempt);
        await new Promise<void>((resolve) => setTimeout(resolve, ms));
      }
    }
  }

  async #deadLetter(task: Task, reason: string): Promise<void> {
    const { record } = task;
    try {
      await this.#backend.deadLetter({
        id: record.id,
        fields: record.fields,
        orderKey: record.orderKey,
        deliveries: record.deliveries,
        reason: reason.slice(0, 1000),
      });
      this.#log.warn(
        { code: 'BUS_DEAD_LETTER', id: record.id, deliveries: record.deliveries, reason },
        'entry moved to the dead-letter stream',
      );
    } catch (err) {
      this.#log.warn(
        { code: 'BUS_DEAD_LETTER_FAILED', id: record.id, err: errorText(err) },
        'could not move the entry to the dead-letter stream; it stays pending',
      );
    } finally {
      this.#release(record.id);
    }
  }

  #release(id: string): void {
    if (this.#held.delete(id)) this.#signal('capacity');
  }

  #ack(id: string): void {
    this.#ackQueue.push(id);
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(() => {
      this.#ackScheduled = false;
      this.#flushAcks().catch((err: unknown) => {
        // The loop retries on its next maintenance; it logs the outage itself.
        this.#log.debug({ code: 'BUS_ACK_FAILED', err: errorText(err) }, 'ack failed; will retry');
      });
    });
  }

  /** Sends every queued ack (in batches, one at a time); rejects if one fails (the ids stay queued). */
  #flushAcks(): Promise<void> {
    if (this.#acking === undefined && this.#ackQueue.length === 0) return Promise.resolve();
    this.#acking ??= (async () => {
      await Promise.resolve(); // so that `finally` runs after the assignment above
      try {
        while (this.#ackQueue.length > 0 && !this.#destroyed) {
          const ids = this.#ackQueue.splice(0, ACK_BATCH);
          try {
            await this.#backend.ack(ids);
          } catch (err) {
            this.#ackQueue.unshift(...ids);
            throw err;
          }
          for (const id of ids) this.#held.delete(id);
          this.#signal('capacity');
        }
      } finally {
        this.#acking = undefined;
      }
    })();
    return this.#acking;
  }

  #wait(kind: 'capacity' | 'backoff', ms: number): Promise<void> {
    return this.#waits.wait(kind, ms, this.#closing);
  }

  /** Wakes the loop: from any wait when closing (no kind), else only from a wait of that kind. */
  #signal(kind?: 'capacity'): void {
    this.#waits.signal(kind);
  }
}

/**
 * The tail side of the bus (MessageBus.tail), shared by the Redis and in-memory implementations (each
 * supplies a TailBackend). Per tail, a read loop:
 *
 *  1. fix the starting point: the stream's last entry ID (`0-0` when empty); `ready` resolves then;
 *  2. read the entries after the last ID read, blocking up to `blockMs` (never "from the end" again: what
 *     is published between two reads is read by the next one);
 *
 * and, beside it, a trim timer every `trimEveryMs`: when the tail has read something since its last trim,
 * it removes every entry up to the last one read (those before its starting point included), so that the
 * stream stays small — no consumer group acknowledges anything, so nothing else would trim it.
 *
 * Entries run on a KeyedScheduler (`concurrency`, one at a time per order key), each once: no group, no
 * acknowledgement, no re-delivery. A handler rejection is logged (`BUS_TAIL_HANDLER_FAILED`) and the tail
 * goes on. The loop holds at most `concurrency + batchSize` entries (running or queued); closing drops the
 * queued ones and waits for the running ones.
 *
 * Store outages never end the loop: it logs `BUS_UNAVAILABLE` once, retries with backoff (50 ms doubling up
 * to 2 s) and logs `BUS_RECOVERED` when a command succeeds again; reading resumes after the last ID read.
 */
import type { Logger } from 'pino';
import { BUS_DEFAULTS } from './bus-defaults.ts';
import { BusError, isBusError } from './bus-error.ts';
import { KeyedScheduler } from './keyed-scheduler.ts';
import { errorText, LoopWait, OutageLog, retryDelay } from './read-loop.ts';
import type { BusTail, TailOptions } from './message-bus.ts';
import type { TailBackend, TailRecord } from './tail-backend.ts';

export type ResolvedTailOptions = Required<Omit<TailOptions, 'handler'>> & Pick<TailOptions, 'handler'>;

/** Validates tail options and applies the defaults. */
export function resolveTailOptions(options: TailOptions): ResolvedTailOptions {
  const resolved: ResolvedTailOptions = {
    stream: options.stream,
    name: options.name,
    handler: options.handler,
    concurrency: options.concurrency ?? BUS_DEFAULTS.concurrency,
    blockMs: options.blockMs ?? BUS_DEFAULTS.blockMs,
    batchSize: options.batchSize ?? BUS_DEFAULTS.batchSize,
    trimEveryMs: options.trimEveryMs ?? BUS_DEFAULTS.tailTrimEveryMs,
  };
  for (const name of ['stream', 'name'] as const) {
    if (typeof resolved[name] !== 'string' || resolved[name] === '') {
      throw new BusError('BUS_BAD_ARGUMENT', `tail option ${name} must be a non-empty string`);
    }
  }
  if (typeof resolved.handler !== 'function') {
    throw new BusError('BUS_BAD_ARGUMENT', 'tail option handler must be a function');
  }
  for (const name of ['concurrency', 'blockMs', 'batchSize', 'trimEveryMs'] as const) {
    const value = resolved[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new BusError('BUS_BAD_ARGUMENT', `tail option ${name} must be a positive integer, got ${value}`);
    }
  }
  return resolved;
}

/** The smallest stream ID after `id` (`<ms>-<seq + 1>`): XTRIM MINID of it removes `id` too. */
export function idAfter(id: string): string {
  const dash = id.indexOf('-');
  return `${id.slice(0, dash)}-${BigInt(id.slice(dash + 1)) + 1n}`;
}

export class StreamTail implements BusTail {
  readonly ready: Promise<void>;
  readonly #backend: TailBackend;
  readonly #o: ResolvedTailOptions;
  readonly #log: Logger;
  readonly #onClosed: () => void;
  readonly #scheduler: KeyedScheduler<TailRecord>;
  readonly #maxHeld: number;
  #resolveReady: () => void = () => {};
  #rejectReady: (err: Error) => void = () => {};
  /** Entries queued or running. */
  #held = 0;
  /** The last ID read (the starting point until something is read); undefined until it is fixed. */
  #cursor: string | undefined;
  /** The cursor at the last trim. */
  #trimmedTo: string | undefined;
  #closing = false;
  #destroyed = false;
  readonly #waits = new LoopWait();
  readonly #outage: OutageLog;
  #loop: Promise<void> | undefined;
  #closed: Promise<void> | undefined;
  #trimTimer: ReturnType<typeof setTimeout> | undefined;
  #trimming: Promise<void> | undefined;

  constructor(
    backend: TailBackend,
    options: ResolvedTailOptions,
    logger: Logger,
    onClosed: () => void = () => {},
  ) {
    this.#backend = backend;
    this.#o = options;
    this.#log = logger.child({ stream: options.stream, tail: options.name });
    this.#outage = new OutageLog(this.#log, 'bus tail');
    this.#onClosed = onClosed;
    this.#scheduler = new KeyedScheduler(options.concurrency, (record) => this.#process(record));
    this.#maxHeld = options.concurrency + options.batchSize;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    // a caller that never awaits `ready` must not see an unhandled rejection when the tail is closed early
    this.ready.catch(() => {});
  }

  start(): void {
    if (this.#loop) return;
    this.#loop = this.#run();
    this.#scheduleTrim();
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

  /** Stop at once: no more reads or trims; running handlers are left to finish unawaited. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#closing = true;
    clearTimeout(this.#trimTimer);
    this.#held -= this.#scheduler.takeQueued().length;
    this.#rejectReady(new BusError('BUS_CLOSED', 'the tail was closed before it started'));
    this.#signal();
    this.#backend.destroy();
    this.#closed ??= Promise.resolve().then(() => this.#onClosed());
  }

  async #run(): Promise<void> {
    const o = this.#o;
    let failures = 0;
    while (!this.#closing) {
      try {
        if (this.#cursor === undefined) {
          this.#cursor = await this.#backend.lastId();
          this.#log.debug({ code: 'BUS_TAIL_STARTED', after: this.#cursor }, 'tail started');
          this.#resolveReady();
        }
        const free = this.#maxHeld - this.#held;
        if (free <= 0) {
          await this.#wait('capacity', o.blockMs);
          continue;
        }
        const records = await this.#backend.read(this.#cursor, Math.min(o.batchSize, free), o.blockMs);
        failures = 0;
        this.#outage.recovered();
        if (this.#closing) break; // read while closing: dropped (nothing is re-delivered anyway)
        for (const record of records) {
          this.#cursor = record.id;
          this.#held++;
          this.#scheduler.push(record);
        }
      } catch (err) {
        if (this.#closing) break;
        failures++;
        this.#outage.failed(err);
        await this.#wait('backoff', retryDelay(failures));
      }
    }
    clearTimeout(this.#trimTimer);
    this.#rejectReady(new BusError('BUS_CLOSED', 'the tail was closed before it started'));
    await this.#trimming;
    if (this.#destroyed) return;
    this.#held -= this.#scheduler.takeQueued().length;
    await this.#scheduler.whenIdle();
    // what was read is of no use to a later reader: leave the stream trimmed (unless the store is away)
    if (!this.#outage.failing && !this.#destroyed) await this.#trim();
  }

  async #process(record: TailRecord): Promise<void> {
    try {
      await this.#o.handler({
        id: record.id,
        stream: this.#o.stream,
        fields: record.fields,
        orderKey: record.orderKey,
        deliveries: 1,
      });
    } catch (err) {
      if (!this.#destroyed) {
        this.#log.warn(
          { code: 'BUS_TAIL_HANDLER_FAILED', id: record.id, err: errorText(err) },
          'tail handler failed; the entry is dropped',
        );
      }
    } finally {
      this.#held--;
      this.#signal('capacity');
    }
  }

  #scheduleTrim(): void {
    if (this.#closing) return;
    this.#trimTimer = setTimeout(() => {
      this.#trimming = this.#trim().finally(() => {
        this.#trimming = undefined;
        this.#scheduleTrim();
      });
    }, this.#o.trimEveryMs);
  }

  /** Remove every entry up to the last one read, if anything was read since the last trim. */
  async #trim(): Promise<void> {
    const cursor = this.#cursor;
    if (cursor === undefined || cursor === '0-0' || cursor === this.#trimmedTo) return;
    try {
      const trimmed = await this.#backend.trim(idAfter(cursor));
      this.#trimmedTo = cursor;
      if (trimmed > 0) this.#log.debug({ code: 'BUS_TRIMMED', count: trimmed }, 'read entries trimmed');
    } catch (err) {
      // Outages are logged by the read loop, which meets them too; the next trim catches up.
      this.#log.debug(
        { code: isBusError(err) ? err.code : 'BUS_UNAVAILABLE', err: errorText(err) },
        'trim failed',
      );
    }
  }

  #wait(kind: 'capacity' | 'backoff', ms: number): Promise<void> {
    return this.#waits.wait(kind, ms, this.#closing);
  }

  /** Wakes the loop: from any wait when closing (no kind), else only from a wait of that kind. */
  #signal(kind?: 'capacity'): void {
    this.#waits.signal(kind);
  }
}

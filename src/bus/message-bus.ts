/**
 * The station's message bus: append-only streams with consumer groups (Redis Streams in production, an
 * in-memory implementation for the embedded single-process engine). Both pass the same contract tests.
 *
 * Semantics (at-least-once): `publish` resolves once the entry is durable. A consumer's handler resolving
 * acknowledges the entry (XACK); throwing leaves it pending, and it is re-delivered (to this or another
 * consumer of the group) after `claimIdleMs`; after `maxDeliveries` deliveries it is moved to the dead-letter
 * stream and acknowledged. Entries of one stream are handed to a consumer in stream order; with
 * `concurrency` > 1 handlers may overlap, but entries with the same `orderKey` never do.
 *
 * A tail (`tail`) is the other way to read a stream: no group, no acknowledgement, no re-delivery (at most
 * once per process), for streams addressed to one live process whose state dies with it.
 */

/**
 * An entry's fields as published (name → value). The bus gives them no meaning; names in RESERVED_FIELDS
 * are its own (the order key, and what dead letters add) and cannot be published.
 */
export type StreamFields = Readonly<Record<string, string>>;

/** Field names the bus writes itself: `k` (order key) and the dead-letter annotations. */
export const RESERVED_FIELDS: ReadonlySet<string> = new Set([
  'k',
  'reason',
  'from',
  'id',
  'group',
  'consumer',
  'deliveries',
]);

export interface BusEntry {
  /** Stream entry ID (`<ms>-<seq>`). */
  readonly id: string;
  readonly stream: string;
  /** The fields as published (the order key is not among them). */
  readonly fields: StreamFields;
  /** Optional ordering key: entries with the same key are processed one at a time, in order. */
  readonly orderKey: string | undefined;
  /** How many times this entry has been delivered (1 on first delivery). */
  readonly deliveries: number;
  /**
   * Acknowledge the entry now, before the handler ends. Offered only where it saves a write (standalone
   * Redis: the XACK joins the commands the handler issued in the same tick, after them). A handler calls it
   * once everything a re-delivery would have to redo is durable; after that a store outage is still
   * retried in this process, but any other failure is logged (BUS_HANDLER_FAILED) and not re-delivered.
   */
  readonly ackNow?: (() => void) | undefined;
}

export interface ConsumerOptions {
  readonly stream: string;
  readonly group: string;
  /** Unique per process (e.g. `dispatcher-<host>-<pid>`). */
  readonly consumer: string;
  readonly handler: (entry: BusEntry) => Promise<void>;
  /** Handlers running at once (default 16). */
  readonly concurrency?: number;
  /** Blocking read timeout (default 1000 ms); also bounds how fast close() returns. */
  readonly blockMs?: number;
  /** Pending entries idle this long are reclaimed from dead consumers (default 30 s). */
  readonly claimIdleMs?: number;
  /** Deliveries before an entry goes to the dead-letter stream (default 5). */
  readonly maxDeliveries?: number;
  /** Entries fetched per read (default 64). */
  readonly batchSize?: number;
}

export interface BusConsumer {
  /** Stop reading, wait for running handlers to finish (their entries are acked), then resolve. Idempotent. */
  close(): Promise<void>;
}

export interface TailOptions {
  readonly stream: string;
  /** Names the tail's connection and log lines (e.g. the gateway ID). */
  readonly name: string;
  /** Runs once per entry read; a rejection is logged (`BUS_TAIL_HANDLER_FAILED`) and the entry dropped. */
  readonly handler: (entry: BusEntry) => Promise<void>;
  /** Handlers running at once (default 16). */
  readonly concurrency?: number;
  /** Blocking read timeout (default 1000 ms). */
  readonly blockMs?: number;
  /** Entries fetched per read (default 64). */
  readonly batchSize?: number;
  /** How often the tail trims the entries it has read from the stream (default 5000 ms). */
  readonly trimEveryMs?: number;
}

export interface BusTail extends BusConsumer {
  /**
   * Resolves once the tail's starting point is fixed: every entry published after that is read. Rejects
   * (`BUS_CLOSED`) if the tail is closed first.
   */
  readonly ready: Promise<void>;
  /** Stop reading, wait for running handlers to finish (entries read but not started are dropped). Idempotent. */
  close(): Promise<void>;
}

export interface MessageBus {
  /** Append; resolves with the entry ID once durable. Rejects reserved or no field names (BUS_BAD_ARGUMENT). */
  publish(stream: string, fields: StreamFields, orderKey?: string): Promise<string>;
  /** Start consuming `stream` in `group` (created at the stream's start if missing). */
  consume(options: ConsumerOptions): BusConsumer;
  /**
   * Read `stream` from its current end: the entries published after the tail started (see `ready`), in
   * stream order, with no consumer group, no acknowledgement and no re-delivery — each entry is handed to
   * the handler at most once per process, and a handler rejection is logged (`BUS_TAIL_HANDLER_FAILED`)
   * and not retried. Handlers overlap up to `concurrency`; entries with the same order key never overlap
   * (as with consume). Store outages never end the tail: it logs `BUS_UNAVAILABLE` once, retries with
   * backoff and goes on from the last entry it read. The tail owns its stream: every `trimEveryMs` it
   * trims what it has read (and what was there before it started), so the stream stays small.
   *
   * For streams addressed to one live process whose state dies with it (a gateway's deliveries go to its
   * own connections): what it has not read when it dies is of no use to anyone.
   */
  tail(options: TailOptions): BusTail;
  /** Entries currently in a stream (for inspection and tests). */
  length(stream: string): Promise<number>;
  /** Close every consumer, then the connections. Idempotent. */
  close(): Promise<void>;
}

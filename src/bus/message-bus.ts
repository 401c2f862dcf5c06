/**
 * The station's message bus: append-only streams with consumer groups (Redis Streams in production, an
 * in-memory implementation for the embedded single-process engine). Both pass the same contract tests.
 *
 * Semantics (at-least-once): `publish` resolves once the entry is durable. A consumer's handler resolving
 * acknowledges the entry (XACK); throwing leaves it pending, and it is re-delivered (to this or another
 * consumer of the group) after `claimIdleMs`; after `maxDeliveries` deliveries it is moved to the dead-letter
 * stream and acknowledged. Entries of one stream are handed to a consumer in stream order; with
 * `concurrency` > 1 handlers may overlap, but entries with the same `orderKey` never do.
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

export interface MessageBus {
  /** Append; resolves with the entry ID once durable. Rejects reserved or no field names (BUS_BAD_ARGUMENT). */
  publish(stream: string, fields: StreamFields, orderKey?: string): Promise<string>;
  /** Start consuming `stream` in `group` (created at the stream's start if missing). */
  consume(options: ConsumerOptions): BusConsumer;
  /** Entries currently in a stream (for inspection and tests). */
  length(stream: string): Promise<number>;
  /** Close every consumer, then the connections. Idempotent. */
  close(): Promise<void>;
}

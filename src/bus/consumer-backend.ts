/**
 * What a StreamConsumer needs from a stream store, for one (stream, group, consumer): the consumer-group
 * primitives of Redis Streams (XGROUP CREATE, XREADGROUP, XAUTOCLAIM, XACK…). The Redis and in-memory buses
 * each implement it; the consumer loop, ordering, acks and dead letters are shared (stream-consumer.ts).
 *
 * Methods reject with a BusError: `BUS_NO_GROUP` when the group is missing (the consumer recreates it),
 * `BUS_UNAVAILABLE` when the store cannot be reached.
 */
import type { StreamFields } from './message-bus.ts';

/** An entry handed to this consumer. */
export interface ConsumerRecord {
  readonly id: string;
  /** The published fields (order key excluded); `undefined` when the entry is still pending but was trimmed. */
  readonly fields: StreamFields | undefined;
  readonly orderKey: string | undefined;
  /** Deliveries so far, this one included. */
  readonly deliveries: number;
}

export interface ClaimResult {
  /** Where the next claim scan starts (`0-0` once the whole pending list was scanned). */
  readonly cursor: string;
  readonly records: readonly ConsumerRecord[];
  /** Pending entries that no longer exist in the stream (dropped from the pending list). */
  readonly deleted: readonly string[];
}

export interface DeadLetter {
  readonly id: string;
  readonly fields: StreamFields;
  readonly orderKey: string | undefined;
  readonly deliveries: number;
  readonly reason: string;
}

export interface ConsumerBackend {
  /** Whether an XACK issued with a handler's commands shares their write (BusEntry.ackNow is offered). */
  readonly sharesWrites: boolean;
  /** Create the group at the stream's start (and the stream) unless it exists. */
  ensureGroup(): Promise<void>;
  /** This consumer's own pending entries with IDs after `after` (a restarted consumer resumes them). */
  readHistory(after: string, count: number): Promise<ConsumerRecord[]>;
  /** New entries (never delivered to the group); waits up to `blockMs` (≥ 1) when there are none. */
  readNew(count: number, blockMs: number): Promise<ConsumerRecord[]>;
  /** Claim pending entries idle ≥ `minIdleMs` (any consumer's), scanning from `cursor`. */
  claimIdle(cursor: string, minIdleMs: number, count: number): Promise<ClaimResult>;
  /** Reset the idle time of entries still pending for this consumer; returns those that are not any more. */
  touch(ids: readonly string[]): Promise<string[]>;
  ack(ids: readonly string[]): Promise<void>;
  /** Remove the stream's entries that every group has acknowledged; returns how many. */
  trimAcknowledged(): Promise<number>;
  /** Atomically append the entry to the dead-letter stream and acknowledge it. */
  deadLetter(entry: DeadLetter): Promise<void>;
  /** Make a blocked `readNew` return early (closing). */
  interrupt(): void;
  /** Release this consumer's resources (its dedicated connection). Idempotent. */
  close(): Promise<void>;
  /** Release them now, abandoning commands in flight. */
  destroy(): void;
}

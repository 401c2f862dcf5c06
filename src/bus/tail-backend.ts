/**
 * What a StreamTail needs from a stream store, for one stream read without a consumer group: the stream's
 * last entry ID (XREVRANGE … COUNT 1), plain reads after an ID (XREAD … BLOCK) and trimming below an ID
 * (XTRIM … MINID). The Redis and in-memory buses each implement it; the loop is shared (stream-tail.ts).
 *
 * Methods reject with a BusError: `BUS_UNAVAILABLE` when the store cannot be reached.
 */
import type { StreamFields } from './message-bus.ts';

/** An entry read by a tail. */
export interface TailRecord {
  readonly id: string;
  /** The published fields (order key excluded). */
  readonly fields: StreamFields;
  readonly orderKey: string | undefined;
}

export interface TailBackend {
  /** The ID of the stream's last entry, `0-0` when it is empty or missing. */
  lastId(): Promise<string>;
  /** Entries with IDs after `after`, oldest first; waits up to `blockMs` (≥ 1) when there are none. */
  read(after: string, count: number, blockMs: number): Promise<TailRecord[]>;
  /** Remove the entries with IDs below `minId` (exactly); returns how many. */
  trim(minId: string): Promise<number>;
  /** Make a blocked `read` return early (closing). */
  interrupt(): void;
  /** Release the tail's resources (its dedicated connection). Idempotent. */
  close(): Promise<void>;
  /** Release them now, abandoning commands in flight. */
  destroy(): void;
}

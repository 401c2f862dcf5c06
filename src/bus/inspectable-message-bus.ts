/**
 * What both bus implementations offer beyond MessageBus: inspection (tests, operations tooling) and
 * `destroy()`, which drops everything at once the way a crash would.
 */
import type { MessageBus } from './message-bus.ts';

/** A raw stream entry: its ID and fields (as published, plus `k` the order key; dead letters add `reason`, `from`…). */
export interface BusRecord {
  readonly id: string;
  readonly fields: Readonly<Record<string, string>>;
}

export interface InspectableMessageBus extends MessageBus {
  /** The first `count` entries of a stream (oldest first). */
  range(stream: string, count?: number): Promise<BusRecord[]>;
  /** Entries delivered to the group and not acknowledged yet (0 when the group does not exist). */
  pendingCount(stream: string, group: string): Promise<number>;
  /**
   * Stop now without waiting for handlers or acknowledging anything (handlers still running are left to
   * finish, their results ignored): their entries stay pending and are reclaimed by other consumers.
   * Idempotent; close() afterwards resolves at once.
   */
  destroy(): void;
}

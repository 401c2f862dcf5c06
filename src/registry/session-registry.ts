/**
 * Which gateway and connection hold each user and terminal, and whether the session is active (wants
 * messages pushed) — the routing table of the station.
 */
export interface SessionRecord {
  readonly gatewayId: string;
  readonly connId: string;
  /** Naked user ID string. */
  readonly user: string;
  readonly terminal: string | undefined;
  readonly active: boolean;
  /** When the session was bound (ms since the epoch). */
  readonly since: number;
}

/** A user's sessions and the epoch they were read at, read together (SessionRegistry.snapshotOf). */
export interface SessionsSnapshot {
  readonly records: SessionRecord[];
  /** Opaque; '' when the user has had no session bound or activated for a long time (or ever). */
  readonly epoch: string;
}

export interface SessionRegistry {
  bind(record: SessionRecord): Promise<void>;
  setActive(gatewayId: string, connId: string, active: boolean): Promise<void>;
  unbind(gatewayId: string, connId: string): Promise<void>;
  /** Sessions of a user (naked ID string), optionally only one terminal's. */
  sessionsOf(user: string, terminal?: string): Promise<SessionRecord[]>;
  /**
   * A user's sessions with their epoch, in one atomic read. The epoch takes a new value whenever a session of
   * the user is bound or becomes active, that is whenever a backlog drain may start: InboxStore.putChecked
   * compares it with the one a message was routed on, in the same atomic step as the put, so that a message
   * stored while a drain was passing its place is pushed to the new session instead of waiting for the next
   * drain (the dispatcher).
   */
  snapshotOf(user: string): Promise<SessionsSnapshot>;
  /**
   * Remove every session of a gateway, whatever its liveness: a gateway starting under the name of a
   * process that died (and whose heartbeat may not have expired yet) holds none of them. Returns how many.
   */
  dropGateway(gatewayId: string): Promise<number>;
  close(): Promise<void>;
}

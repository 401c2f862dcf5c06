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

export interface SessionRegistry {
  bind(record: SessionRecord): Promise<void>;
  setActive(gatewayId: string, connId: string, active: boolean): Promise<void>;
  unbind(gatewayId: string, connId: string): Promise<void>;
  /** Sessions of a user (naked ID string), optionally only one terminal's. */
  sessionsOf(user: string, terminal?: string): Promise<SessionRecord[]>;
  /**
   * Remove every session of a gateway, whatever its liveness: a gateway starting under the name of a
   * process that died (and whose heartbeat may not have expired yet) holds none of them. Returns how many.
   */
  dropGateway(gatewayId: string): Promise<number>;
  close(): Promise<void>;
}

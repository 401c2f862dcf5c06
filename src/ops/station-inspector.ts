/**
 * What operators ask about a running station — streams and their consumer groups, dead letters, gateways,
 * sessions, inboxes — as one interface with two implementations: on Redis (redis-inspector.ts, used by
 * dimctl and by every Redis-backed process's admin API) and on the embedded engine (memory-inspector.ts,
 * behind the embedded station's admin API). Results are plain JSON-able objects (the admin API sends
 * them as they are; dimctl renders them as tables).
 */

import type { LinkStateRecord } from '../federation/federation-store.ts';

export type StreamKind = 'inbound' | 'store' | 'deliver' | 'other';

export interface GroupStatus {
  readonly name: string;
  readonly consumers: number;
  /** Delivered to a consumer and not acknowledged. */
  readonly pending: number;
  /** Entries not yet delivered to the group (undefined when Redis cannot tell). */
  readonly lag: number | undefined;
  /** Age (ms) of the oldest pending entry, from its ID's time. */
  readonly oldestPendingMs: number | undefined;
}

export interface StreamStatus {
  readonly name: string;
  readonly kind: StreamKind;
  readonly length: number;
  /** Entries ever appended (Redis `entries-added`), for rates. */
  readonly added: number | undefined;
  readonly groups: readonly GroupStatus[];
  /** Entries in its dead-letter stream. */
  readonly deadLetters: number;
}

/** What a process publishes about itself (ops-registration.ts), read by dimctl and dashboards. */
export interface InstanceInfo {
  readonly name: string;
  readonly roles: readonly string[];
  readonly pid: number;
  readonly host: string;
  readonly version: string;
  /** Base URL of its ops server, if it runs one. */
  readonly ops: string | undefined;
  readonly startedAt: number;
  readonly updatedAt: number;
  readonly ready: boolean;
  readonly draining: boolean;
  /** Open client connections (gateways). */
  readonly connections?: number | undefined;
}

export interface GatewayStatus {
  readonly id: string;
  readonly alive: boolean;
  /** Milliseconds since its last heartbeat (undefined: none recorded). */
  readonly heartbeatAgeMs: number | undefined;
  /** Sessions it holds in the registry. */
  readonly sessions: number;
  /** Open connections it reports (bound or not), when it publishes its ops info. */
  readonly connections: number | undefined;
  readonly version: string | undefined;
  readonly ops: string | undefined;
  readonly ready: boolean | undefined;
  readonly draining: boolean | undefined;
}

/** Job counts of the push notification queue (BullMQ), when the station has one. */
export interface PushQueueStatus {
  readonly waiting: number;
  readonly active: number;
  readonly delayed: number;
  readonly prioritized: number;
  readonly failed: number;
  readonly completed: number;
  readonly paused: number;
}

/** A federation link to a neighbour station, as its bridge last recorded it (src/federation). */
export interface LinkStatus {
  readonly neighbour: string;
  /** `host:port`. */
  readonly address: string;
  readonly state: string;
  /** The bridge process that recorded it, and whether it still holds the link (its ownership lease). */
  readonly owner: string;
  readonly owned: boolean;
  /** How long it has been in `state` (ms). */
  readonly forMs: number;
  readonly attempts: number;
  readonly lastError: string | undefined;
  readonly sent: number;
  readonly received: number;
  /** Messages waiting in its queue. */
  readonly queued: number;
}

/** A number read from Redis or from a record another version wrote; undefined when it is none. */
export function num(value: unknown): number | undefined {
  if (value === null || value === undefined) return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * A link's status from what its bridge recorded (`record`, possibly written by another version: every field
 * is checked), who holds its ownership lease now (`lease`, undefined: nobody), and its queue's length.
 */
export function linkStatus(
  neighbour: string,
  record: Partial<LinkStateRecord>,
  lease: string | undefined,
  queued: number,
  now: number,
): LinkStatus {
  return {
    neighbour,
    address: `${record.host ?? '?'}:${record.port ?? '?'}`,
    state: String(record.state ?? 'unknown'),
    // the lease names who holds the link now; the record, who last wrote it
    owner: lease ?? String(record.owner ?? ''),
    owned: lease !== undefined,
    forMs: Math.max(0, now - (num(record.since) ?? now)),
    attempts: num(record.attempts) ?? 0,
    lastError: typeof record.lastError === 'string' ? record.lastError : undefined,
    sent: num(record.sent) ?? 0,
    received: num(record.received) ?? 0,
    queued,
  };
}

/** Links sorted by neighbour, as status() lists them. */
export function byNeighbour(links: LinkStatus[]): LinkStatus[] {
  return links.sort((a, b) => (a.neighbour < b.neighbour ? -1 : 1));
}

export interface StationStatus {
  /** When this snapshot was taken (ms). */
  readonly at: number;
  readonly engine: 'redis' | 'memory';
  readonly shards: number;
  readonly gateways: readonly GatewayStatus[];
  readonly instances: readonly InstanceInfo[];
  readonly streams: readonly StreamStatus[];
  readonly deadLetters: number;
  /** Messages ever accepted into the inbound streams (sum of their `added`), for a messages/s rate. */
  readonly inboundAdded: number | undefined;
  /** The push queue's counts (undefined: no push queue in this deployment). */
  readonly push?: PushQueueStatus | undefined;
  /** Links to neighbour stations (empty: none recorded; undefined: this engine cannot tell). */
  readonly links?: readonly LinkStatus[] | undefined;
}

export interface PendingEntry {
  readonly id: string;
  readonly consumer: string;
  readonly idleMs: number;
  readonly deliveries: number;
}

export interface PendingReport {
  readonly stream: string;
  readonly groups: readonly { readonly group: string; readonly entries: readonly PendingEntry[] }[];
}

export interface DeadLetterRecord {
  /** The dead-letter stream and the entry's ID in it. */
  readonly stream: string;
  readonly id: string;
  /** The stream it came from and its ID there. */
  readonly from: string;
  readonly originalId: string;
  readonly group: string;
  readonly consumer: string;
  readonly reason: string;
  readonly deliveries: number;
  readonly ageMs: number;
  /** The entry's fields as published (only in `deadLetter()`). */
  readonly fields?: Readonly<Record<string, string>>;
  readonly orderKey?: string | undefined;
}

export interface SessionInfo {
  readonly gatewayId: string;
  readonly connId: string;
  readonly terminal: string | undefined;
  readonly active: boolean;
  readonly since: number;
  /** Client address as the gateway sees it (asked from the gateway; undefined when it cannot say). */
  readonly remote?: string | undefined;
  readonly transport?: string | undefined;
}

export interface InboxInfo {
  readonly user: string;
  readonly stored: number;
  /** Store time (ms) of the oldest stored message. */
  readonly oldestStoredAt: number | undefined;
  readonly terminals: readonly { readonly terminal: string; readonly undelivered: number }[];
}

export interface StationInspector {
  status(): Promise<StationStatus>;
  streams(): Promise<StreamStatus[]>;
  /** A stream by full name or short name (`inbound:0`, `store:2`, `deliver:gateway-1`). */
  resolveStream(name: string): string;
  pending(stream: string, count?: number): Promise<PendingReport>;
  deadLetters(count?: number): Promise<DeadLetterRecord[]>;
  /** One dead letter by its ID (searched in every dead-letter stream unless `stream` names one). */
  deadLetter(id: string, stream?: string): Promise<DeadLetterRecord | undefined>;
  /** Put it back on the stream it came from (a new entry) and remove it; undefined if not found. */
  retryDeadLetter(id: string, stream?: string): Promise<{ stream: string; id: string } | undefined>;
  dropDeadLetter(id: string, stream?: string): Promise<boolean>;
  sessions(user: string): Promise<SessionInfo[]>;
  inbox(user: string): Promise<InboxInfo>;
  gateways(): Promise<GatewayStatus[]>;
  close(): Promise<void>;
}

export class InspectError extends Error {
  readonly code: 'NOT_FOUND' | 'BAD_ARGUMENT' | 'UNAVAILABLE';
  constructor(code: 'NOT_FOUND' | 'BAD_ARGUMENT' | 'UNAVAILABLE', message: string) {
    super(message);
    this.name = 'InspectError';
    this.code = code;
  }
}

/** The time (ms) in a stream entry ID (`<ms>-<seq>`). */
export function entryTime(id: string): number | undefined {
  const ms = Number(id.split('-')[0]);
  return Number.isFinite(ms) ? ms : undefined;
}

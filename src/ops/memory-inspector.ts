/**
 * StationInspector on the embedded engine (one process, everything in memory), behind the embedded
 * station's admin API. The same answers as on Redis where the memory engine keeps the data: streams with
 * their groups (pending, lag), dead letters (list, show, retry, drop), sessions, inbox counts, federation
 * links (when neighbours are configured). Per-terminal
 * undelivered counts are not kept by the memory inbox: terminals are listed as unknown.
 */
import type { MemoryMessageBus } from '../bus/memory-message-bus.ts';
import type { MemoryFederationStore } from '../federation/federation-store.ts';
import { RESERVED_FIELDS } from '../bus/message-bus.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { SessionRegistry } from '../registry/session-registry.ts';
import type { InboxStore } from '../storage/inbox-store.ts';
import type {
  DeadLetterRecord,
  GatewayStatus,
  InboxInfo,
  LinkStatus,
  PendingReport,
  SessionInfo,
  StationInspector,
  StationStatus,
  StreamStatus,
} from './station-inspector.ts';
import { byNeighbour, entryTime, linkStatus } from './station-inspector.ts';
import { knownStreams, resolveStreamName, streamKind } from './stream-names.ts';

export interface MemoryInspectorOptions {
  readonly bus: MemoryMessageBus;
  readonly keys: RedisKeys;
  readonly shards: number;
  readonly registry: SessionRegistry;
  readonly inbox: InboxStore;
  /** The embedded gateway: its ID and open connections. */
  readonly gateway: () => { id: string; connections: number } | undefined;
  readonly version: string;
  /** The bridge's link records (undefined: no neighbours configured). */
  readonly federation?: () => MemoryFederationStore | undefined;
}

export class MemoryInspector implements StationInspector {
  readonly #o: MemoryInspectorOptions;

  constructor(options: MemoryInspectorOptions) {
    this.#o = options;
  }

  resolveStream(name: string): string {
    return resolveStreamName(this.#o.keys, name);
  }

  #names(): string[] {
    const gw = this.#o.gateway();
    return knownStreams(this.#o.keys, this.#o.shards, gw ? [gw.id] : []);
  }

  async status(): Promise<StationStatus> {
    const streams = await this.streams();
    return {
      at: Date.now(),
      engine: 'memory',
      shards: this.#o.shards,
      gateways: await this.gateways(),
      instances: [],
      streams,
      deadLetters: streams.reduce((sum, s) => sum + s.deadLetters, 0),
      inboundAdded: streams.filter((s) => s.kind === 'inbound').reduce((sum, s) => sum + (s.added ?? 0), 0),
      links: await this.links(),
    };
  }

  /** The federation links the embedded bridge recorded, with their queues and whether it holds them. */
  async links(): Promise<LinkStatus[]> {
    const store = this.#o.federation?.();
    if (store === undefined) return [];
    const now = Date.now();
    return byNeighbour(
      (await store.linkStates()).map((record) =>
        linkStatus(
          record.neighbour,
          record,
          store.linkOwner(record.neighbour),
          this.#o.bus.store.length(this.#o.keys.federationQueue(record.neighbour)),
          now,
        ),
      ),
    );
  }

  async streams(): Promise<StreamStatus[]> {
    const store = this.#o.bus.store;
    const now = Date.now();
    return this.#names().map((name) => {
      return {
        name,
        kind: streamKind(this.#o.keys, name),
        length: store.length(name),
        added: store.addedCount(name),
        groups: store.groups(name).map((g) => ({
          name: g.name,
          consumers: 1,
          pending: g.pending,
          lag: g.lag,
          oldestPendingMs:
            g.oldestPending === undefined
              ? undefined
              : Math.max(0, now - (entryTime(g.oldestPending) ?? now)),
        })),
        deadLetters: store.length(this.#o.keys.deadLetterStream(name)),
      };
    });
  }

  async pending(stream: string, count = 50): Promise<PendingReport> {
    const name = this.resolveStream(stream);
    const store = this.#o.bus.store;
    return {
      stream: name,
      groups: store
        .groups(name)
        .map((g) => ({ group: g.name, entries: store.pendingEntries(name, g.name, count) })),
    };
  }

  #deadRecords(withPayload: boolean): DeadLetterRecord[] {
    const out: DeadLetterRecord[] = [];
    const now = Date.now();
    for (const name of this.#names()) {
      const dead = this.#o.keys.deadLetterStream(name);
      for (const r of this.#o.bus.store.range(dead, Number.MAX_SAFE_INTEGER)) {
        const f = r.fields;
        out.push({
          stream: dead,
          id: r.id,
          from: f['from'] ?? name,
          originalId: f['id'] ?? '',
          group: f['group'] ?? '',
          consumer: f['consumer'] ?? '',
          reason: f['reason'] ?? '',
          deliveries: Number(f['deliveries'] ?? 0),
          ageMs: Math.max(0, now - (entryTime(r.id) ?? now)),
          ...(withPayload
            ? {
                fields: Object.fromEntries(Object.entries(f).filter(([k]) => !RESERVED_FIELDS.has(k))),
                orderKey: f['k'],
              }
            : {}),
        });
      }
    }
    return out;
  }

  async deadLetters(count = 100): Promise<DeadLetterRecord[]> {
    return this.#deadRecords(false).slice(0, count);
  }

  async deadLetter(id: string, stream?: string): Promise<DeadLetterRecord | undefined> {
    const dead = stream === undefined ? undefined : this.#deadName(stream);
    return this.#deadRecords(true).find((r) => r.id === id && (dead === undefined || r.stream === dead));
  }

  #deadName(stream: string): string {
    const name = this.resolveStream(stream);
    return name.endsWith(':dead') ? name : this.#o.keys.deadLetterStream(name);
  }

  async retryDeadLetter(id: string, stream?: string): Promise<{ stream: string; id: string } | undefined> {
    const record = await this.deadLetter(id, stream);
    if (record === undefined || record.fields === undefined) return undefined;
    const newId = await this.#o.bus.publish(record.from, record.fields, record.orderKey);
    this.#o.bus.store.remove(record.stream, [record.id]);
    return { stream: record.from, id: newId };
  }

  async dropDeadLetter(id: string, stream?: string): Promise<boolean> {
    const record = await this.deadLetter(id, stream);
    return record !== undefined && this.#o.bus.store.remove(record.stream, [record.id]) > 0;
  }

  async sessions(user: string): Promise<SessionInfo[]> {
    const records = await this.#o.registry.sessionsOf(user);
    return records.map((r) => ({
      gatewayId: r.gatewayId,
      connId: r.connId,
      terminal: r.terminal,
      active: r.active,
      since: r.since,
    }));
  }

  async inbox(user: string): Promise<InboxInfo> {
    return { user, stored: await this.#o.inbox.count(user), oldestStoredAt: undefined, terminals: [] };
  }

  async gateways(): Promise<GatewayStatus[]> {
    const gw = this.#o.gateway();
    if (gw === undefined) return [];
    return [
      {
        id: gw.id,
        alive: true,
        heartbeatAgeMs: 0,
        sessions: gw.connections,
        connections: gw.connections,
        version: this.#o.version,
        ops: undefined,
        ready: true,
        draining: false,
      },
    ];
  }

  async close(): Promise<void> {}
}

/**
 * StationInspector on Redis. Cluster-ready: it never scans keys (no KEYS/SCAN across nodes); the streams it
 * looks at are the ones the keys module names — inbound and store shards, the delivery stream of every
 * gateway in the registry or announcing itself — and every command touches keys of one hash slot, sent
 * through `call()` so that a standalone client or an ioredis Cluster both route it.
 */
import type { Cluster, Redis } from 'ioredis';
import { BUS_DEFAULTS } from '../bus/bus-defaults.ts';
import type { LinkStateRecord } from '../federation/federation-store.ts';
import { RESERVED_FIELDS } from '../bus/message-bus.ts';
import { readLuaScript } from '../redis/redis-scripts.ts';
import { parseSessionField } from '../registry/redis-session-registry.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type {
  DeadLetterRecord,
  GatewayStatus,
  GroupStatus,
  InboxInfo,
  InstanceInfo,
  LinkStatus,
  PendingReport,
  PushQueueStatus,
  SessionInfo,
  StationInspector,
  StationStatus,
  StreamStatus,
} from './station-inspector.ts';
import { byNeighbour, linkStatus, num } from './station-inspector.ts';
import { entryTime, InspectError } from './station-inspector.ts';
import { knownStreams, resolveStreamName, streamKind } from './stream-names.ts';

export type RedisClient = Redis | Cluster;

/** The BullMQ queue name of push notifications (PUSH_QUEUE_NAME of src/push/bullmq-push-queue.ts, not
 * imported so that dimctl does not load BullMQ). */
const PUSH_QUEUE_NAME = 'push';

export interface RedisInspectorOptions {
  readonly redis: RedisClient;
  readonly keys: RedisKeys;
  readonly shards: number;
  readonly now?: () => number;
}

/** A flat `[name, value, name, value…]` reply as a map. */
function pairs(reply: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out.set(String(reply[i]), reply[i + 1]);
  return out;
}

function isNoSuchKey(err: unknown): boolean {
  return err instanceof Error && /no such key|NOGROUP/i.test(err.message);
}

function parseInstance(text: unknown): InstanceInfo | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const value = JSON.parse(text) as InstanceInfo;
    return typeof value?.name === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

export class RedisInspector implements StationInspector {
  readonly #r: RedisClient;
  readonly #keys: RedisKeys;
  readonly #shards: number;
  readonly #now: () => number;

  constructor(options: RedisInspectorOptions) {
    this.#r = options.redis;
    this.#keys = options.keys;
    this.#shards = options.shards;
    this.#now = options.now ?? Date.now;
  }

  #call(command: string, ...args: (string | number)[]): Promise<unknown> {
    return this.#r.call(command, ...args);
  }

  resolveStream(name: string): string {
    return resolveStreamName(this.#keys, name);
  }

  async status(): Promise<StationStatus> {
    const [gateways, instances, push, links] = await Promise.all([
      this.gateways(),
      this.instances(),
      this.pushQueue(),
      this.links(),
    ]);
    const streams = await this.#streamStatus(gateways.map((g) => g.id));
    let inboundAdded: number | undefined = 0;
    for (const s of streams) {
      if (s.kind !== 'inbound') continue;
      inboundAdded = s.added === undefined || inboundAdded === undefined ? undefined : inboundAdded + s.added;
    }
    return {
      at: this.#now(),
      engine: 'redis',
      shards: this.#shards,
      gateways,
      instances,
      streams,
      deadLetters: streams.reduce((sum, s) => sum + s.deadLetters, 0),
      inboundAdded,
      push,
      links,
    };
  }

  /** The federation links the bridges recorded (`federationLinks()`), with their queues and owners. */
  async links(): Promise<LinkStatus[]> {
    const k = this.#keys;
    const all = pairs(await this.#call('HGETALL', k.federationLinks()));
    const now = this.#now();
    const out: LinkStatus[] = [];
    for (const [neighbour, raw] of all) {
      let record: Partial<LinkStateRecord>;
      try {
        record = JSON.parse(String(raw)) as Partial<LinkStateRecord>;
      } catch {
        continue; // not written by a bridge of this version: nothing to show
      }
      const [queued, owner] = await Promise.all([
        this.#call('XLEN', k.federationQueue(neighbour)),
        this.#call('GET', k.federationLinkOwner(neighbour)),
      ]);
      const lease = owner !== null && owner !== undefined ? String(owner) : undefined;
      out.push(linkStatus(neighbour, record, lease, num(queued) ?? 0, now));
    }
    return byNeighbour(out);
  }

  /** The push queue's job counts, read from its BullMQ keys (`<pushQueuePrefix>:push:wait|active|…`). */
  async pushQueue(): Promise<PushQueueStatus | undefined> {
    const base = `${this.#keys.pushQueuePrefix()}:${PUSH_QUEUE_NAME}`;
    const [waiting, active, delayed, prioritized, failed, completed, paused] = await Promise.all([
      this.#call('LLEN', `${base}:wait`),
      this.#call('LLEN', `${base}:active`),
      this.#call('ZCARD', `${base}:delayed`),
      this.#call('ZCARD', `${base}:prioritized`),
      this.#call('ZCARD', `${base}:failed`),
      this.#call('ZCARD', `${base}:completed`),
      this.#call('LLEN', `${base}:paused`),
    ]);
    return {
      waiting: num(waiting) ?? 0,
      active: num(active) ?? 0,
      delayed: num(delayed) ?? 0,
      prioritized: num(prioritized) ?? 0,
      failed: num(failed) ?? 0,
      completed: num(completed) ?? 0,
      paused: num(paused) ?? 0,
    };
  }

  async streams(): Promise<StreamStatus[]> {
    return this.#streamStatus(await this.#gatewayIds());
  }

  async #streamStatus(gatewayIds: readonly string[]): Promise<StreamStatus[]> {
    return Promise.all(knownStreams(this.#keys, this.#shards, gatewayIds).map((s) => this.#stream(s)));
  }

  async #stream(name: string): Promise<StreamStatus> {
    const now = this.#now();
    const dead = this.#keys.deadLetterStream(name);
    const [info, groupsReply, deadLen] = await Promise.all([
      this.#call('XINFO', 'STREAM', name).catch((err: unknown) => {
        if (isNoSuchKey(err)) return undefined;
        throw err;
      }),
      this.#call('XINFO', 'GROUPS', name).catch((err: unknown) => {
        if (isNoSuchKey(err)) return [];
        throw err;
      }),
      this.#call('XLEN', dead),
    ]);
    const fields = pairs(info);
    const groups: GroupStatus[] = await Promise.all(
      (Array.isArray(groupsReply) ? groupsReply : []).map(async (row: unknown) => {
        const g = pairs(row);
        const group = String(g.get('name'));
        const pending = num(g.get('pending')) ?? 0;
        let oldestPendingMs: number | undefined;
        if (pending > 0) {
          const summary = await this.#call('XPENDING', name, group);
          const minId = Array.isArray(summary) ? summary[1] : undefined;
          const at = typeof minId === 'string' ? entryTime(minId) : undefined;
          if (at !== undefined) oldestPendingMs = Math.max(0, now - at);
        }
        return {
          name: group,
          consumers: num(g.get('consumers')) ?? 0,
          pending,
          lag: num(g.get('lag')),
          oldestPendingMs,
        };
      }),
    );
    return {
      name,
      kind: streamKind(this.#keys, name),
      length: num(fields.get('length')) ?? 0,
      added: info === undefined ? 0 : num(fields.get('entries-added')),
      groups,
      deadLetters: num(deadLen) ?? 0,
    };
  }

  async pending(stream: string, count = 50): Promise<PendingReport> {
    const name = this.resolveStream(stream);
    const groupsReply = await this.#call('XINFO', 'GROUPS', name).catch((err: unknown) => {
      if (isNoSuchKey(err)) throw new InspectError('NOT_FOUND', `no stream ${name}`);
      throw err;
    });
    const groups = [];
    for (const row of Array.isArray(groupsReply) ? groupsReply : []) {
      const group = String(pairs(row).get('name'));
      const reply = await this.#call('XPENDING', name, group, '-', '+', count);
      const entries = (Array.isArray(reply) ? reply : []).map((item: unknown) => {
        const [id, consumer, idle, deliveries] = item as [string, string, number, number];
        return {
          id: String(id),
          consumer: String(consumer),
          idleMs: Number(idle),
          deliveries: Number(deliveries),
        };
      });
      groups.push({ group, entries });
    }
    return { stream: name, groups };
  }

  async #deadStreams(): Promise<string[]> {
    const streams = knownStreams(this.#keys, this.#shards, await this.#gatewayIds());
    return streams.map((s) => this.#keys.deadLetterStream(s));
  }

  #record(stream: string, id: string, flat: unknown, withPayload: boolean): DeadLetterRecord {
    const f = pairs(flat);
    const str = (key: string): string => (f.has(key) ? String(f.get(key)) : '');
    return {
      stream,
      id,
      from: str('from'),
      originalId: str('id'),
      group: str('group'),
      consumer: str('consumer'),
      reason: str('reason'),
      deliveries: num(f.get('deliveries')) ?? 0,
      ageMs: Math.max(0, this.#now() - (entryTime(id) ?? this.#now())),
      ...(withPayload
        ? {
            fields: Object.fromEntries(
              [...f].filter(([k]) => !RESERVED_FIELDS.has(k)).map(([k, v]) => [k, String(v)]),
            ),
            orderKey: f.has('k') ? str('k') : undefined,
          }
        : {}),
    };
  }

  async deadLetters(count = 100): Promise<DeadLetterRecord[]> {
    const out: DeadLetterRecord[] = [];
    for (const dead of await this.#deadStreams()) {
      const reply = await this.#call('XRANGE', dead, '-', '+', 'COUNT', count);
      for (const item of Array.isArray(reply) ? reply : []) {
        const [id, flat] = item as [string, unknown];
        out.push(this.#record(dead, String(id), flat, false));
      }
    }
    return out.sort((a, b) => (entryTime(a.id) ?? 0) - (entryTime(b.id) ?? 0)).slice(0, count);
  }

  async deadLetter(id: string, stream?: string): Promise<DeadLetterRecord | undefined> {
    if (!/^\d+-\d+$/.test(id)) throw new InspectError('BAD_ARGUMENT', `not a stream entry ID: ${id}`);
    const candidates = stream === undefined ? await this.#deadStreams() : [this.#deadName(stream)];
    for (const dead of candidates) {
      const reply = await this.#call('XRANGE', dead, id, id);
      if (Array.isArray(reply) && reply.length > 0) {
        const [entryId, flat] = reply[0] as [string, unknown];
        return this.#record(dead, String(entryId), flat, true);
      }
    }
    return undefined;
  }

  #deadName(stream: string): string {
    const name = this.resolveStream(stream);
    return name.endsWith(':dead') ? name : this.#keys.deadLetterStream(name);
  }

  async retryDeadLetter(id: string, stream?: string): Promise<{ stream: string; id: string } | undefined> {
    const record = await this.deadLetter(id, stream);
    if (record === undefined) return undefined;
    if (record.from === '' || this.#keys.deadLetterStream(record.from) !== record.stream) {
      throw new InspectError('BAD_ARGUMENT', `dead letter ${id} does not name the stream it came from`);
    }
    const newId = await this.#call(
      'EVAL',
      readLuaScript('dead-retry.lua'),
      2,
      record.stream,
      record.from,
      record.id,
      BUS_DEFAULTS.maxLen,
    );
    if (typeof newId !== 'string') return undefined;
    return { stream: record.from, id: newId };
  }

  async dropDeadLetter(id: string, stream?: string): Promise<boolean> {
    const record = await this.deadLetter(id, stream);
    if (record === undefined) return false;
    return Number(await this.#call('XDEL', record.stream, record.id)) > 0;
  }

  async sessions(user: string): Promise<SessionInfo[]> {
    const all = pairs(await this.#call('HGETALL', this.#keys.userSessions(user)));
    const out: SessionInfo[] = [];
    for (const [field, value] of all) {
      const record = parseSessionField(user, String(field), String(value));
      if (!record) continue;
      out.push({
        gatewayId: record.gatewayId,
        connId: record.connId,
        terminal: record.terminal,
        active: record.active,
        since: record.since,
      });
    }
    return out.sort((a, b) => a.since - b.since);
  }

  async inbox(user: string): Promise<InboxInfo> {
    const k = this.#keys;
    const [stored, oldest, terminals] = await Promise.all([
      this.#call('ZCARD', k.inbox(user)),
      this.#call('ZRANGE', k.inboxByStoredAt(user), 0, 0, 'WITHSCORES'),
      this.#call('SMEMBERS', k.inboxTerminals(user)),
    ]);
    const total = num(stored) ?? 0;
    // per message: the terminals that had it (inboxDelivered) and the one it is for, if any (inboxTargets)
    const [deliveredReply, targetsReply, cursorsReply] = await Promise.all([
      this.#call('HGETALL', k.inboxDelivered(user)),
      this.#call('HGETALL', k.inboxTargets(user)),
      this.#call('HKEYS', k.inboxCursors(user)),
    ]);
    const delivered = pairs(deliveredReply);
    const targets = pairs(targetsReply);
    const had = (sig: string): string[] => {
      try {
        const list = JSON.parse(String(delivered.get(sig) ?? '[]')) as unknown;
        return Array.isArray(list) ? list.map(String) : [];
      } catch {
        return [];
      }
    };
    const sigs = Array.isArray(cursorsReply) ? cursorsReply.map(String) : [];
    const perTerminal = (Array.isArray(terminals) ? terminals.map(String) : []).sort().map((terminal) => ({
      terminal,
      undelivered: sigs.filter((sig) => {
        const target = targets.get(sig);
        return (target === undefined || target === terminal) && !had(sig).includes(terminal);
      }).length,
    }));
    return {
      user,
      stored: total,
      oldestStoredAt: Array.isArray(oldest) && oldest.length >= 2 ? num(oldest[1]) : undefined,
      terminals: perTerminal,
    };
  }

  /** Every process that announced itself and whose announcement has not expired. */
  async instances(): Promise<InstanceInfo[]> {
    const names = await this.#call('SMEMBERS', this.#keys.opsInstances());
    const out: InstanceInfo[] = [];
    for (const name of Array.isArray(names) ? names.map(String).sort() : []) {
      const info = parseInstance(await this.#call('GET', this.#keys.opsInstance(name)));
      if (info) out.push(info);
      else await this.#call('SREM', this.#keys.opsInstances(), name); // expired: forget it
    }
    return out;
  }

  async #gatewayIds(): Promise<string[]> {
    const [registered, instances] = await Promise.all([
      this.#call('SMEMBERS', this.#keys.gateways()),
      this.instances(),
    ]);
    const ids = new Set(Array.isArray(registered) ? registered.map(String) : []);
    for (const i of instances) if (i.roles.includes('gateway')) ids.add(i.name);
    return [...ids].sort();
  }

  async gateways(): Promise<GatewayStatus[]> {
    const [ids, instances] = await Promise.all([this.#gatewayIds(), this.instances()]);
    const now = this.#now();
    return Promise.all(
      ids.map(async (id) => {
        const [beat, sessions] = await Promise.all([
          this.#call('GET', this.#keys.gatewayHeartbeat(id)),
          this.#call('HLEN', this.#keys.gatewaySessions(id)),
        ]);
        const info = instances.find((i) => i.name === id);
        const at = num(beat);
        return {
          id,
          alive: at !== undefined,
          heartbeatAgeMs: at === undefined ? undefined : Math.max(0, now - at),
          sessions: num(sessions) ?? 0,
          connections: info?.connections,
          version: info?.version,
          ops: info?.ops,
          ready: info?.ready,
          draining: info?.draining,
        };
      }),
    );
  }

  async close(): Promise<void> {
    // the connection belongs to the caller
  }
}

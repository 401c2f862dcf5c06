/**
 * The session registry on Redis (same semantics as MemorySessionRegistry; the registry contract runs on
 * both), plus gateway liveness. Runs on a standalone Redis and on Redis Cluster: every script's keys share
 * one hash slot.
 *
 * Layout:
 *  - `userSessions(user)` (tag = the user): hash, `<gatewayId>/<connId>` → `<active '1'/'0'><bind token>
 *    <JSON {since, terminal?}>` — a user's sessions are read with one HGETALL;
 *  - `gatewaySessions(gatewayId)` (tag = the gateway): hash, connId → `<bind token><user>`, to find and
 *    drop a gateway's sessions;
 *  - `gatewayHeartbeat(gatewayId)` (tag = the gateway): string with a TTL (`SET … PX`), the liveness;
 *  - `gateways()`: set of the gateways that bound sessions or sent heartbeats.
 * The two sides live in different slots, so they are updated one after the other, in an order that leaves
 * nothing harmful behind if a process dies in between: bind writes the gateway index first, then the record
 * (a crash leaves an index entry without record, which drops ignore); unbind and drops remove the record
 * first, then the index entry. Every bind gets a random token stored on both sides, and removals only
 * remove records of that bind (session-remove.lua), so a late removal never deletes a newer bind of the
 * same connection.
 *
 * Every change of a user's sessions is signalled (`sessions`, src/redis/change-signal.ts) once applied:
 * dispatchers cache sessions.
 *
 * `cleanupDeadGateways()` removes the sessions of every known gateway whose heartbeat has expired (in
 * batches, re-checking the heartbeat before each): dispatchers call it periodically; `dropGateway()`
 * removes one gateway's sessions regardless (a gateway starting). `isGatewayAlive` answers from a
 * per-process cache for `aliveCacheMs` (default 1 s).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import type { ChangePublisher } from '../redis/change-signal.ts';
import type { RedisClient } from '../redis/redis-connection.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RedisRunner } from '../redis/redis-runner.ts';
import type { SessionRecord, SessionRegistry, SessionsSnapshot } from './session-registry.ts';

export interface RedisSessionRegistryOptions {
  /** How long a gateway's liveness answer is cached in this process (ms, default 1000; 0 disables). */
  readonly aliveCacheMs?: number;
  /** Sessions removed per batch when dropping a dead gateway (default 500). */
  readonly dropBatch?: number;
  /** How long a command waits for a (re)connection (ms). */
  readonly connectWaitMs?: number;
  /** Where changes of a user's sessions are signalled (none: nothing caches them). */
  readonly changes?: ChangePublisher;
  readonly logger?: Logger;
  /** Clock for the liveness cache (ms, default Date.now). */
  readonly now?: () => number;
}

const ALIVE_CACHE_LIMIT = 10_000;
/** Length of a bind token (hex). */
const TOKEN_LENGTH = 12;
/**
 * How long a user's sessions epoch outlives its last bind or activation (ms). A dispatcher compares an
 * epoch it read at most its lookup cache's TTL ago; an expired one reads '', which only makes the next
 * put of a message routed on an older read report a change (one extra read).
 */
export const SESSIONS_EPOCH_TTL_MS = 24 * 3600 * 1000;

function newToken(): string {
  return randomBytes(TOKEN_LENGTH / 2).toString('hex');
}

function checkGatewayId(gatewayId: string): string {
  if (gatewayId.length === 0 || gatewayId.includes('/')) {
    throw new RangeError(`gateway ID must be non-empty and contain no '/': ${JSON.stringify(gatewayId)}`);
  }
  return gatewayId;
}

/** A gateway index entry: `<bind token><user>`. */
interface IndexEntry {
  readonly raw: string;
  readonly token: string;
  readonly user: string;
}

function parseEntry(raw: unknown): IndexEntry | undefined {
  if (typeof raw !== 'string' || raw.length <= TOKEN_LENGTH) return undefined;
  return { raw, token: raw.slice(0, TOKEN_LENGTH), user: raw.slice(TOKEN_LENGTH) };
}

export class RedisSessionRegistry implements SessionRegistry {
  readonly #r: RedisRunner;
  readonly #keys: RedisKeys;
  readonly #log: Logger;
  readonly #aliveCacheMs: number;
  readonly #dropBatch: number;
  readonly #now: () => number;
  readonly #changes: ChangePublisher | undefined;
  readonly #alive = new Map<string, { alive: boolean; until: number }>();
  /** `<gatewayId>/<connId>` → the index entry of the sessions this process bound (spares a lookup). */
  readonly #bound = new Map<string, IndexEntry>();

  constructor(redis: RedisClient, keys: RedisKeys, options: RedisSessionRegistryOptions = {}) {
    this.#r = new RedisRunner(redis, options.connectWaitMs);
    this.#keys = keys;
    this.#log = (options.logger ?? silentLogger).child({ module: 'redis-session-registry' });
    this.#aliveCacheMs = Math.max(0, options.aliveCacheMs ?? 1000);
    this.#dropBatch = Math.max(1, Math.floor(options.dropBatch ?? 500));
    this.#now = options.now ?? Date.now;
    this.#changes = options.changes;
  }

  async bind(record: SessionRecord): Promise<void> {
    const gatewayId = checkGatewayId(record.gatewayId);
    const k = this.#keys;
    const field = `${gatewayId}/${record.connId}`;
    const token = newToken();
    const entry: IndexEntry = { raw: token + record.user, token, user: record.user };
    const json = JSON.stringify(
      record.terminal === undefined
        ? { since: record.since }
        : { since: record.since, terminal: record.terminal },
    );
    // 1. the gateway's index (so that a crash from here on leaves nothing a drop would miss)
    const [previous] = await Promise.all([
      this.#r.script('sessionIndexSet', [k.gatewaySessions(gatewayId)], [record.connId, entry.raw]),
      this.#r.command((redis) => redis.sadd(k.gateways(), gatewayId)),
    ]);
    this.#bound.set(field, entry);
    // 2. the record; the connection's previous bind, if for another user, leaves that user's sessions
    const prev = parseEntry(previous);
    await Promise.all([
      prev && prev.user !== record.user
        ? this.#r.script('sessionRemove', [k.userSessions(prev.user)], [TOKEN_LENGTH, field, prev.token])
        : undefined,
      // the record and a new epoch (the bind's token) together: a put that sees the old epoch ran before it
      this.#r.script(
        'sessionBind',
        [k.userSessions(record.user), k.sessionsEpoch(record.user)],
        [field, `${record.active ? '1' : '0'}${token}${json}`, token, SESSIONS_EPOCH_TTL_MS],
      ),
    ]);
    await Promise.all([
      this.#changed(record.user),
      prev && prev.user !== record.user ? this.#changed(prev.user) : undefined,
    ]);
  }

  async setActive(gatewayId: string, connId: string, active: boolean): Promise<void> {
    const field = `${gatewayId}/${connId}`;
    const entry = await this.#entry(gatewayId, connId);
    if (!entry) return;
    await this.#r.script(
      'sessionSetActive',
      [this.#keys.userSessions(entry.user), this.#keys.sessionsEpoch(entry.user)],
      [field, active ? '1' : '0', entry.token, newToken(), SESSIONS_EPOCH_TTL_MS],
    );
    await this.#changed(entry.user);
  }

  async unbind(gatewayId: string, connId: string): Promise<void> {
    const k = this.#keys;
    const field = `${gatewayId}/${connId}`;
    const entry = await this.#entry(gatewayId, connId);
    if (!entry) return;
    await this.#r.script('sessionRemove', [k.userSessions(entry.user)], [TOKEN_LENGTH, field, entry.token]);
    await this.#changed(entry.user);
    await this.#r.script('sessionIndexRemove', [k.gatewaySessions(gatewayId)], [connId, entry.raw]);
    if (this.#bound.get(field) === entry) this.#bound.delete(field);
  }

  async sessionsOf(user: string, terminal?: string): Promise<SessionRecord[]> {
    const all = await this.#r.command((redis) => redis.hgetall(this.#keys.userSessions(user)));
    return parseSessions(user, all, terminal);
  }

  async snapshotOf(user: string): Promise<SessionsSnapshot> {
    const k = this.#keys;
    const [flat, epoch] = (await this.#r.script(
      'sessionSnapshot',
      [k.userSessions(user), k.sessionsEpoch(user)],
      [],
    )) as [string[], string | null];
    const all: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) all[flat[i]!] = flat[i + 1]!;
    return { records: parseSessions(user, all), epoch: typeof epoch === 'string' ? epoch : '' };
  }

  /** Announce that a gateway is alive for `ttlMs`. */
  async heartbeat(gatewayId: string, ttlMs: number): Promise<void> {
    checkGatewayId(gatewayId);
    const ttl = Math.max(1, Math.ceil(ttlMs));
    const k = this.#keys;
    // two slots: two commands (sent together); the set of gateways only has to list it eventually
    await Promise.all([
      this.#r.command((redis) => redis.set(k.gatewayHeartbeat(gatewayId), String(this.#now()), 'PX', ttl)),
      this.#r.command((redis) => redis.sadd(k.gateways(), gatewayId)),
    ]);
    this.#cacheAlive(gatewayId, true);
  }

  /** Whether the gateway's heartbeat is current (answered from a cache for up to `aliveCacheMs`). */
  async isGatewayAlive(gatewayId: string): Promise<boolean> {
    const cached = this.#alive.get(gatewayId);
    if (cached && cached.until > this.#now()) return cached.alive;
    const exists = await this.#r.command((redis) => redis.exists(this.#keys.gatewayHeartbeat(gatewayId)));
    const alive = exists === 1;
    this.#cacheAlive(gatewayId, alive);
    return alive;
  }

  /**
   * Remove every session of every known gateway without a live heartbeat, and forget those gateways.
   * Returns the number of sessions removed.
   */
  async cleanupDeadGateways(): Promise<number> {
    const gateways = await this.#r.command((redis) => redis.smembers(this.#keys.gateways()));
    let total = 0;
    for (const gatewayId of gateways) {
      const { removed, state } = await this.#drop(gatewayId, false);
      if (state === 1) {
        this.#cacheAlive(gatewayId, false);
        if (removed > 0) {
          this.#log.info(
            { code: 'GATEWAY_SESSIONS_DROPPED', gateway: gatewayId, sessions: removed },
            'removed the sessions of a gateway without heartbeat',
          );
        }
      }
      total += removed;
    }
    return total;
  }

  async dropGateway(gatewayId: string): Promise<number> {
    return (await this.#drop(checkGatewayId(gatewayId), true)).removed;
  }

  /**
   * Remove a gateway's sessions in batches until none is left (state 1: the gateway is forgotten) or its
   * heartbeat is back (-1, checked before every batch and atomically at the end, unless `force`).
   */
  async #drop(gatewayId: string, force: boolean): Promise<{ removed: number; state: number }> {
    const k = this.#keys;
    const indexKey = k.gatewaySessions(gatewayId);
    let removed = 0;
    for (;;) {
      if (!force && (await this.#r.command((redis) => redis.exists(k.gatewayHeartbeat(gatewayId)))) === 1) {
        return { removed, state: -1 };
      }
      const [, flat] = await this.#r.command((redis) => redis.hscan(indexKey, '0', 'COUNT', this.#dropBatch));
      if (flat.length === 0) {
        const state = Number(
          await this.#r.script(
            'sessionGatewayDone',
            [k.gatewayHeartbeat(gatewayId), indexKey, k.deliveryStream(gatewayId)],
            [force ? '1' : '0'],
          ),
        );
        if (state === 0) continue; // bound meanwhile (a starting gateway): drop those too
        if (state === 1) await this.#r.command((redis) => redis.srem(k.gateways(), gatewayId));
        return { removed, state };
      }
      // records first (grouped by user: one call per user's slot), then the index entries
      const byUser = new Map<string, (string | number)[]>();
      const pairs: string[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const connId = flat[i]!;
        const raw = flat[i + 1]!;
        pairs.push(connId, raw);
        const entry = parseEntry(raw);
        if (!entry) continue;
        let args = byUser.get(entry.user);
        if (!args) byUser.set(entry.user, (args = [TOKEN_LENGTH]));
        args.push(`${gatewayId}/${connId}`, entry.token);
      }
      const counts = await Promise.all(
        [...byUser].map(([user, args]) => this.#r.script('sessionRemove', [k.userSessions(user)], args)),
      );
      for (const n of counts) removed += Number(n) || 0;
      await Promise.all([...byUser.keys()].map((user) => this.#changed(user)));
      await this.#r.script('sessionIndexRemove', [indexKey], pairs);
      for (let i = 0; i < pairs.length; i += 2) this.#bound.delete(`${gatewayId}/${pairs[i]}`);
    }
  }

  async close(): Promise<void> {
    this.#alive.clear();
    this.#bound.clear();
  }

  /** The index entry of a connection's session: this process's, else the gateway's index. */
  async #entry(gatewayId: string, connId: string): Promise<IndexEntry | undefined> {
    const known = this.#bound.get(`${gatewayId}/${connId}`);
    if (known) return known;
    const raw = await this.#r.command((redis) => redis.hget(this.#keys.gatewaySessions(gatewayId), connId));
    return parseEntry(raw);
  }

  #changed(user: string): Promise<void> {
    return this.#changes?.changed('sessions', user) ?? Promise.resolve();
  }

  #cacheAlive(gatewayId: string, alive: boolean): void {
    if (this.#aliveCacheMs === 0) return;
    if (this.#alive.size >= ALIVE_CACHE_LIMIT) this.#alive.clear();
    this.#alive.set(gatewayId, { alive, until: this.#now() + this.#aliveCacheMs });
  }
}

/** A user's sessions hash as records (only `terminal`'s, if given); fields that do not parse are skipped. */
function parseSessions(user: string, all: Record<string, string>, terminal?: string): SessionRecord[] {
  const out: SessionRecord[] = [];
  for (const [field, value] of Object.entries(all)) {
    const record = parseSessionField(user, field, value);
    if (record && (terminal === undefined || record.terminal === terminal)) out.push(record);
  }
  return out;
}

/** One field of a user's sessions hash (`userSessions(user)`) as a record; undefined if it does not parse. */
export function parseSessionField(user: string, field: string, value: string): SessionRecord | undefined {
  const slash = field.indexOf('/');
  if (slash <= 0 || value.length < 1 + TOKEN_LENGTH) return undefined;
  try {
    const data = JSON.parse(value.slice(1 + TOKEN_LENGTH)) as { since?: unknown; terminal?: unknown };
    return {
      gatewayId: field.slice(0, slash),
      connId: field.slice(slash + 1),
      user,
      terminal: typeof data.terminal === 'string' ? data.terminal : undefined,
      active: value[0] === '1',
      since: Number(data.since ?? 0),
    };
  } catch {
    return undefined;
  }
}

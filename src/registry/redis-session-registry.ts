/**
 * The session registry on Redis (same semantics as MemorySessionRegistry; the registry contract runs on
 * both), plus gateway liveness.
 *
 * Layout:
 *  - `session(gatewayId, connId)`: hash {gatewayId, connId, user, terminal?, active '1'/'0', since};
 *  - `userSessions(user)`: set of `<gatewayId>/<connId>` (gateway IDs cannot contain '/');
 *  - `gatewaySessions(gatewayId)`: set of the gateway's connection IDs;
 *  - `gateways()`: set of the gateways that bound sessions or sent heartbeats;
 *  - `gatewayHeartbeat(gatewayId)`: string with a TTL (`SET … PX`), the gateway's liveness.
 * bind / unbind / setActive are Lua scripts (src/redis/lua/session-*.lua). `cleanupDeadGateways()` removes
 * the sessions of every known gateway whose heartbeat has expired (session-drop-gateway.lua, in batches,
 * re-checking the heartbeat atomically): dispatchers call it periodically; `dropGateway()` removes one
 * gateway's sessions regardless (a gateway starting). `isGatewayAlive` answers from a
 * per-process cache for `aliveCacheMs` (default 1 s).
 *
 * The scripts build some keys from prefixes (the previous user's set, a dead gateway's sessions): the
 * registry needs a standalone Redis (or a cluster setup that keeps them on one node).
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { keyPrefix, StoreRedis } from '../storage/redis-store-scripts.ts';
import type { SessionRecord, SessionRegistry } from './session-registry.ts';

export interface RedisSessionRegistryOptions {
  /** How long a gateway's liveness answer is cached in this process (ms, default 1000; 0 disables). */
  readonly aliveCacheMs?: number;
  /** Sessions removed per script call when dropping a dead gateway (default 500). */
  readonly dropBatch?: number;
  /** How long a command waits for a (re)connection (ms). */
  readonly connectWaitMs?: number;
  readonly logger?: Logger;
  /** Clock for the liveness cache (ms, default Date.now). */
  readonly now?: () => number;
}

const ALIVE_CACHE_LIMIT = 10_000;

function checkGatewayId(gatewayId: string): string {
  if (gatewayId.length === 0 || gatewayId.includes('/')) {
    throw new RangeError(`gateway ID must be non-empty and contain no '/': ${JSON.stringify(gatewayId)}`);
  }
  return gatewayId;
}

export class RedisSessionRegistry implements SessionRegistry {
  readonly #r: StoreRedis;
  readonly #keys: RedisKeys;
  readonly #log: Logger;
  readonly #aliveCacheMs: number;
  readonly #dropBatch: number;
  readonly #now: () => number;
  readonly #userPrefix: string;
  readonly #alive = new Map<string, { alive: boolean; until: number }>();

  constructor(redis: Redis, keys: RedisKeys, options: RedisSessionRegistryOptions = {}) {
    this.#r = new StoreRedis(redis, options.connectWaitMs);
    this.#keys = keys;
    this.#log = (options.logger ?? silentLogger).child({ module: 'redis-session-registry' });
    this.#aliveCacheMs = Math.max(0, options.aliveCacheMs ?? 1000);
    this.#dropBatch = Math.max(1, Math.floor(options.dropBatch ?? 500));
    this.#now = options.now ?? Date.now;
    this.#userPrefix = keyPrefix((user) => keys.userSessions(user));
  }

  async bind(record: SessionRecord): Promise<void> {
    const gatewayId = checkGatewayId(record.gatewayId);
    const k = this.#keys;
    const args: string[] = [
      `${gatewayId}/${record.connId}`,
      this.#userPrefix,
      gatewayId,
      record.connId,
      record.user,
      record.active ? '1' : '0',
      String(record.since),
    ];
    if (record.terminal !== undefined) args.push(record.terminal);
    await this.#r.script(
      'sessionBind',
      [
        k.session(gatewayId, record.connId),
        k.userSessions(record.user),
        k.gatewaySessions(gatewayId),
        k.gateways(),
      ],
      args,
    );
  }

  async setActive(gatewayId: string, connId: string, active: boolean): Promise<void> {
    await this.#r.script('sessionSetActive', [this.#keys.session(gatewayId, connId)], [active ? '1' : '0']);
  }

  async unbind(gatewayId: string, connId: string): Promise<void> {
    const k = this.#keys;
    await this.#r.script(
      'sessionUnbind',
      [k.session(gatewayId, connId), k.gatewaySessions(gatewayId)],
      [`${gatewayId}/${connId}`, this.#userPrefix, connId],
    );
  }

  async sessionsOf(user: string, terminal?: string): Promise<SessionRecord[]> {
    const userKey = this.#keys.userSessions(user);
    const members = await this.#r.command((redis) => redis.smembers(userKey));
    if (members.length === 0) return [];
    const pipeline = this.#r.redis.pipeline();
    const refs: { member: string; key: string }[] = [];
    /** (index entry, session key) pairs whose record looked missing; '' = the entry names no session. */
    const stale: string[] = [];
    for (const member of members) {
      const slash = member.indexOf('/');
      if (slash <= 0) {
        stale.push(member, '');
        continue;
      }
      const key = this.#keys.session(member.slice(0, slash), member.slice(slash + 1));
      refs.push({ member, key });
      pipeline.hgetall(key);
    }
    const replies = (await this.#r.command(() => pipeline.exec())) ?? [];
    const out: SessionRecord[] = [];
    replies.forEach(([err, value], i) => {
      if (err) throw err;
      const record = this.#parse(value as Record<string, string>);
      if (!record || record.user !== user) {
        const ref = refs[i]!;
        stale.push(ref.member, ref.key);
        return;
      }
      if (terminal === undefined || record.terminal === terminal) out.push(record);
    });
    if (stale.length > 0) {
      // Index entries without their record (never left by bind/unbind/cleanup, which are atomic; e.g. keys
      // deleted by hand): dropped, re-checked atomically so that an entry bound meanwhile stays.
      await this.#r.script('sessionPrune', [userKey], [user, ...stale]).catch(() => undefined);
    }
    return out;
  }

  /** Announce that a gateway is alive for `ttlMs`. */
  async heartbeat(gatewayId: string, ttlMs: number): Promise<void> {
    checkGatewayId(gatewayId);
    const ttl = Math.max(1, Math.ceil(ttlMs));
    await this.#r.command((redis) =>
      redis
        .multi()
        .set(this.#keys.gatewayHeartbeat(gatewayId), String(this.#now()), 'PX', ttl)
        .sadd(this.#keys.gateways(), gatewayId)
        .exec(),
    );
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

  /** session-drop-gateway.lua until done (state 1) or the gateway is alive (-1, unless `force`). */
  async #drop(gatewayId: string, force: boolean): Promise<{ removed: number; state: number }> {
    const k = this.#keys;
    const keys = [
      k.gatewayHeartbeat(gatewayId),
      k.gatewaySessions(gatewayId),
      k.gateways(),
      k.deliveryStream(gatewayId),
    ];
    const args = [
      gatewayId,
      keyPrefix((conn) => k.session(gatewayId, conn)),
      this.#userPrefix,
      this.#dropBatch,
      force ? '1' : '0',
    ];
    let removed = 0;
    let state = 0;
    while (state === 0) {
      const reply = (await this.#r.script('sessionDropGateway', keys, args)) as [number, number];
      removed += Number(reply[0]);
      state = Number(reply[1]);
    }
    return { removed, state };
  }

  async close(): Promise<void> {
    this.#alive.clear();
  }

  #cacheAlive(gatewayId: string, alive: boolean): void {
    if (this.#aliveCacheMs === 0) return;
    if (this.#alive.size >= ALIVE_CACHE_LIMIT) this.#alive.clear();
    this.#alive.set(gatewayId, { alive, until: this.#now() + this.#aliveCacheMs });
  }

  #parse(hash: Record<string, string> | null): SessionRecord | undefined {
    if (!hash) return undefined;
    const { gatewayId, connId, user, terminal, active, since } = hash;
    if (gatewayId === undefined || connId === undefined || user === undefined) return undefined;
    return {
      gatewayId,
      connId,
      user,
      terminal,
      active: active === '1',
      since: Number(since ?? 0),
    };
  }
}

/**
 * FederationStore on Redis (keys from redis-keys.ts, federation block). Reservations are one Lua script
 * on the neighbour's queued set (fed-reserve.lua: stale cleanup, dedup, bound and insert, atomically);
 * link ownership is fed-own-link.lua (take or renew only if free or ours). Seen marks are `SET NX PX`.
 */
import type { Redis } from 'ioredis';
import { defineScripts } from '../redis/load-scripts.ts';
import type { ScriptRunner } from '../redis/load-scripts.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RESERVATION_STALE_MS } from './federation-store.ts';
import type { FederationStore, LinkStateRecord, ReserveResult } from './federation-store.ts';

const FEDERATION_SCRIPTS = {
  reserve: { file: 'fed-reserve.lua', numberOfKeys: 1, command: 'dimFedReserve' },
  ownLink: { file: 'fed-own-link.lua', numberOfKeys: 1, command: 'dimFedOwnLink' },
} as const;

export class RedisFederationStore implements FederationStore {
  readonly #redis: Redis;
  readonly #keys: RedisKeys;
  readonly #scripts: ScriptRunner<keyof typeof FEDERATION_SCRIPTS>;

  constructor(redis: Redis, keys: RedisKeys) {
    this.#redis = redis;
    this.#keys = keys;
    this.#scripts = defineScripts(redis, FEDERATION_SCRIPTS);
  }

  async reserve(neighbour: string, member: string, limit: number, now: number): Promise<ReserveResult> {
    const result = await this.#scripts.run(
      'reserve',
      [this.#keys.federationQueued(neighbour)],
      [member, now, limit, RESERVATION_STALE_MS],
    );
    return result === 1 ? 'reserved' : result === 0 ? 'duplicate' : 'full';
  }

  async release(neighbour: string, member: string): Promise<void> {
    await this.#redis.zrem(this.#keys.federationQueued(neighbour), member);
  }

  async queued(neighbour: string): Promise<number> {
    return this.#redis.zcard(this.#keys.federationQueued(neighbour));
  }

  async firstSeen(key: string, ttlMs: number): Promise<boolean> {
    const set = await this.#redis.set(this.#keys.federationSeen(key), '1', 'PX', ttlMs, 'NX');
    return set === 'OK';
  }

  async ownLink(neighbour: string, owner: string, ttlMs: number): Promise<boolean> {
    const r = await this.#scripts.run('ownLink', [this.#keys.federationLinkOwner(neighbour)], [owner, ttlMs]);
    return r === 1;
  }

  async releaseLink(neighbour: string, owner: string): Promise<void> {
    // renew with a 1 ms TTL only if ours (same script: never deletes another owner's claim)
    await this.#scripts.run('ownLink', [this.#keys.federationLinkOwner(neighbour)], [owner, 1]);
  }

  async putLinkState(state: LinkStateRecord): Promise<void> {
    await this.#redis.hset(this.#keys.federationLinks(), state.neighbour, JSON.stringify(state));
  }

  async linkStates(): Promise<LinkStateRecord[]> {
    const all = await this.#redis.hgetall(this.#keys.federationLinks());
    const out: LinkStateRecord[] = [];
    for (const value of Object.values(all)) {
      try {
        out.push(JSON.parse(value) as LinkStateRecord);
      } catch {
        // a corrupt record is skipped (inspection only)
      }
    }
    return out;
  }

  async close(): Promise<void> {}
}

/**
 * DeviceStore on Redis: one string per user (`keys.pushDevices(user)`) holding the newest-first JSON list.
 * Updates are optimistic: read, merge in TypeScript (the same mergeDevice as the memory store), then write
 * with compare-and-set (or SET NX for a first device), retrying on a concurrent change. No TTL: iOS tokens
 * expire by their report time (isExpired) and are purged on the next update.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { PushRedis } from './push-redis.ts';
import type { DevicePutResult, DeviceStore } from './device-store.ts';
import { isExpired, mergeDevice, toDevice } from './device-token.ts';
import type { DeviceToken } from './device-token.ts';

const MAX_CAS_ATTEMPTS = 16;

export class RedisDeviceStore implements DeviceStore {
  readonly #r: PushRedis;
  readonly #keys: RedisKeys;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(
    redis: Redis,
    keys: RedisKeys,
    options: { connectWaitMs?: number; logger?: Logger; now?: () => number } = {},
  ) {
    this.#r = new PushRedis(redis, options.connectWaitMs);
    this.#keys = keys;
    this.#log = (options.logger ?? silentLogger).child({ module: 'redis-device-store' });
    this.#now = options.now ?? Date.now;
  }

  async put(user: string, device: DeviceToken): Promise<DevicePutResult> {
    let result: DevicePutResult = 'older';
    await this.#update(user, (list) => {
      const live = list.filter((d) => !isExpired(d, this.#now()));
      const merged = mergeDevice(live, device);
      result = merged === undefined ? 'older' : 'saved';
      return merged;
    });
    return result;
  }

  async list(user: string): Promise<DeviceToken[]> {
    const raw = await this.#r.command((redis) => redis.get(this.#keys.pushDevices(user)));
    return this.#parse(user, raw);
  }

  async remove(user: string, token: string, unlessNewerThan?: number): Promise<boolean> {
    let removed = false;
    await this.#update(user, (list) => {
      const rest = list.filter(
        (d) => d.token !== token || (unlessNewerThan !== undefined && d.time > unlessNewerThan),
      );
      removed = rest.length !== list.length;
      return removed ? rest : undefined;
    });
    return removed;
  }

  async close(): Promise<void> {
    // the connection belongs to the caller
  }

  /** Read-modify-write with compare-and-set; `change` returns undefined for "no change". */
  async #update(user: string, change: (list: DeviceToken[]) => DeviceToken[] | undefined): Promise<void> {
    const key = this.#keys.pushDevices(user);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const raw = await this.#r.command((redis) => redis.get(key));
      const next = change(this.#parse(user, raw));
      if (next === undefined) return;
      let ok: boolean;
      if (raw === null) {
        if (next.length === 0) return;
        ok = (await this.#r.command((redis) => redis.set(key, JSON.stringify(next), 'NX'))) === 'OK';
      } else if (next.length === 0) {
        ok = (await this.#r.script('compareAndDelete', [key], [raw])) === 1;
      } else {
        ok = (await this.#r.script('compareAndSet', [key], [raw, JSON.stringify(next)])) === 1;
      }
      if (ok) return;
    }
    throw new Error(`device list of ${user} kept changing (${MAX_CAS_ATTEMPTS} attempts)`);
  }

  #parse(user: string, raw: string | null): DeviceToken[] {
    if (raw === null) return [];
    try {
      const value: unknown = JSON.parse(raw);
      if (!Array.isArray(value)) throw new TypeError('not a list');
      const out: DeviceToken[] = [];
      for (const item of value) {
        const device = toDevice(item);
        if (device) out.push(device);
      }
      return out;
    } catch (err) {
      this.#log.warn(
        { code: 'DEVICE_LIST_CORRUPT', id: user, err: String(err) },
        'ignoring a stored device list that does not parse',
      );
      return [];
    }
  }
}

/**
 * Logins and block / mute lists on Redis (same semantics as MemoryAccountStore; the account store contract
 * runs on both).
 *
 * Layout (naked ID strings):
 *  - `login(id)`: hash, terminal ('' for none) → the login record (JSON `{time, terminal?, station?,
 *    message}`);
 *  - `loginTimes(id)`: hash, terminal → the stored login's time; hset-if-newer.lua stores a login only if it
 *    is newer than the terminal's, atomically;
 *  - `blockList(id)` / `muteList(id)`: string, the list as a JSON array, replaced with `SET … GET` (one
 *    atomic command) and compared with the previous value to answer "changed?". A changed block list is
 *    signalled (`block`, src/redis/change-signal.ts): dispatchers cache block lists.
 * A corrupt stored value is logged and ignored.
 */
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import type { ChangePublisher } from '../redis/change-signal.ts';
import type { Durability } from '../redis/durability.ts';
import type { RedisClient } from '../redis/redis-connection.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RedisRunner } from '../redis/redis-runner.ts';
import type { AccountStore, LoginRecord } from './account-store.ts';

export interface RedisAccountStoreOptions {
  /** How long a command waits for a (re)connection (ms). */
  readonly connectWaitMs?: number;
  /** When a write counts as done (default: once applied). */
  readonly durability?: Durability;
  /** Where changed block lists are signalled (none: nothing caches them). */
  readonly changes?: ChangePublisher;
  readonly logger?: Logger;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

export class RedisAccountStore implements AccountStore {
  readonly #r: RedisRunner;
  readonly #keys: RedisKeys;
  readonly #log: Logger;
  readonly #changes: ChangePublisher | undefined;

  constructor(redis: RedisClient, keys: RedisKeys, options: RedisAccountStoreOptions = {}) {
    this.#r = new RedisRunner(redis, options.connectWaitMs, options.durability);
    this.#keys = keys;
    this.#changes = options.changes;
    this.#log = (options.logger ?? silentLogger).child({ module: 'redis-account-store' });
  }

  async putLogin(user: ID, record: LoginRecord): Promise<boolean> {
    const key = user.naked().string;
    const value = JSON.stringify({
      time: record.time,
      terminal: record.terminal,
      station: record.station,
      message: record.message,
    });
    const stored = await this.#r.script(
      'hsetIfNewer',
      [this.#keys.login(key), this.#keys.loginTimes(key)],
      [record.terminal ?? '', String(record.time), value],
    );
    return stored === 1;
  }

  async getLogins(user: ID): Promise<LoginRecord[]> {
    const key = user.naked().string;
    const all = await this.#r.command((redis) => redis.hgetall(this.#keys.login(key)));
    const out: LoginRecord[] = [];
    for (const [terminal, raw] of Object.entries(all)) {
      const record = this.#parseLogin(key, terminal, raw);
      if (record) out.push(record);
    }
    return out.sort((a, b) => b.time - a.time);
  }

  async putList(user: ID, name: 'block' | 'mute', list: readonly string[]): Promise<boolean> {
    const key = this.#listKey(user, name);
    const json = JSON.stringify(list);
    const previous = await this.#r.write(key, (redis) => redis.call('set', key, json, 'GET'));
    const changed = previous !== json;
    if (changed && name === 'block') await this.#changes?.changed('block', user.naked().string);
    return changed;
  }

  async getList(user: ID, name: 'block' | 'mute'): Promise<string[] | undefined> {
    const raw = await this.#r.command((redis) => redis.get(this.#listKey(user, name)));
    if (raw === null) return undefined;
    try {
      const list: unknown = JSON.parse(raw);
      if (!isStringArray(list)) throw new TypeError('not an array of strings');
      return list;
    } catch (err) {
      this.#log.warn(
        { code: 'ACCOUNT_LIST_CORRUPT', id: user.naked().string, list: name, err: String(err) },
        'ignoring a stored list that does not parse',
      );
      return undefined;
    }
  }

  async close(): Promise<void> {
    // the connection belongs to the caller
  }

  #listKey(user: ID, name: 'block' | 'mute'): string {
    const key = user.naked().string;
    return name === 'block' ? this.#keys.blockList(key) : this.#keys.muteList(key);
  }

  #parseLogin(user: string, terminal: string, raw: string): LoginRecord | undefined {
    try {
      const value: unknown = JSON.parse(raw);
      if (value === null || typeof value !== 'object') throw new TypeError('not an object');
      const v = value as Record<string, unknown>;
      const message = v['message'];
      if (typeof v['time'] !== 'number') throw new TypeError('no time');
      if (message === null || typeof message !== 'object' || Array.isArray(message)) {
        throw new TypeError('no message');
      }
      return {
        time: v['time'],
        terminal: typeof v['terminal'] === 'string' ? v['terminal'] : undefined,
        station: typeof v['station'] === 'string' ? v['station'] : undefined,
        message: message as Record<string, unknown>,
      };
    } catch (err) {
      this.#log.warn(
        { code: 'LOGIN_CORRUPT', id: user, terminal, err: String(err) },
        'ignoring a stored login that does not parse',
      );
      return undefined;
    }
  }
}

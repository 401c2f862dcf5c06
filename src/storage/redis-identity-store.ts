/**
 * Metas and documents on Redis (same semantics as MemoryIdentityStore; the identity store contract runs on
 * both).
 *
 * Layout (naked ID strings):
 *  - `meta(id)`: string, the meta dictionary as received (JSON), written with SET NX: never replaced — except
 *    a stored value that does not parse, which a valid meta replaces (compare-and-set.lua);
 *  - `documents(id)`: hash, slot (`documentSlot`: `type/terminal`) → the document dictionary (JSON);
 *  - `documentTimes(id)`: hash, slot → the stored document's time; hset-if-newer.lua stores a document only
 *    if it is newer than the slot's, atomically.
 * Values are parsed back with parseMeta / parseDocument; a corrupt stored value is logged and ignored.
 * Parsed metas (immutable) are kept in a small LRU cache: the hot path (verifying every sender) does not
 * re-parse them.
 */
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import { parseDocument } from '../protocol/mkm/document.ts';
import type { Document } from '../protocol/mkm/document.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import { parseMeta } from '../protocol/mkm/meta.ts';
import type { Meta } from '../protocol/mkm/meta.ts';
import type { Durability } from '../redis/durability.ts';
import type { RedisClient } from '../redis/redis-connection.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RedisRunner } from '../redis/redis-runner.ts';
import { documentSlot } from './identity-store.ts';
import type { IdentityStore } from './identity-store.ts';

export interface RedisIdentityStoreOptions {
  /** Parsed metas kept in memory (default 10,000; 0 disables the cache). */
  readonly metaCacheSize?: number;
  /** How long a command waits for a (re)connection (ms). */
  readonly connectWaitMs?: number;
  /** When a write counts as done (default: once applied). */
  readonly durability?: Durability;
  readonly logger?: Logger;
}

export class RedisIdentityStore implements IdentityStore {
  readonly #r: RedisRunner;
  readonly #keys: RedisKeys;
  readonly #log: Logger;
  readonly #cacheSize: number;
  /** Naked ID string → parsed meta, least recently used first. */
  readonly #metas = new Map<string, Meta>();

  constructor(redis: RedisClient, keys: RedisKeys, options: RedisIdentityStoreOptions = {}) {
    this.#r = new RedisRunner(redis, options.connectWaitMs, options.durability);
    this.#keys = keys;
    this.#cacheSize = Math.max(0, Math.floor(options.metaCacheSize ?? 10_000));
    this.#log = (options.logger ?? silentLogger).child({ module: 'redis-identity-store' });
  }

  async getMeta(id: ID): Promise<Meta | undefined> {
    const key = id.naked().string;
    const cached = this.#metas.get(key);
    if (cached) {
      this.#metas.delete(key);
      this.#metas.set(key, cached);
      return cached;
    }
    const raw = await this.#r.command((redis) => redis.get(this.#keys.meta(key)));
    if (raw === null) return undefined;
    const meta = this.#parseMeta(key, raw);
    if (meta) this.#remember(key, meta);
    return meta;
  }

  async putMetaIfAbsent(id: ID, meta: Meta): Promise<boolean> {
    const key = id.naked().string;
    const redisKey = this.#keys.meta(key);
    const json = JSON.stringify(meta.dict);
    const set = await this.#r.write(redisKey, (redis) => redis.set(redisKey, json, 'NX'));
    if (set === 'OK') {
      this.#remember(key, meta);
      return true;
    }
    if (this.#metas.has(key)) return false;
    // A stored value that does not parse is no meta: a valid one replaces it (only that value).
    const stored = await this.#r.command((redis) => redis.get(redisKey));
    const replaced =
      stored === null
        ? (await this.#r.write(redisKey, (redis) => redis.set(redisKey, json, 'NX'))) === 'OK'
        : this.#parseMeta(key, stored) === undefined &&
          (await this.#r.script('compareAndSet', [redisKey], [stored, json])) === 1;
    if (!replaced) return false;
    this.#remember(key, meta);
    return true;
  }

  async getDocuments(id: ID): Promise<Document[]> {
    const key = id.naked().string;
    const slots = await this.#r.command((redis) => redis.hgetall(this.#keys.documents(key)));
    const out: Document[] = [];
    for (const [slot, raw] of Object.entries(slots)) {
      try {
        out.push(parseDocument(JSON.parse(raw)));
      } catch (err) {
        this.#log.warn(
          { code: 'DOCUMENT_CORRUPT', id: key, slot, err: String(err) },
          'ignoring a stored document that does not parse',
        );
      }
    }
    return out;
  }

  async putDocumentIfNewer(doc: Document): Promise<boolean> {
    const key = doc.id.naked().string;
    const stored = await this.#r.script(
      'hsetIfNewer',
      [this.#keys.documents(key), this.#keys.documentTimes(key)],
      [documentSlot(doc), String(doc.time), JSON.stringify(doc.dict)],
    );
    return stored === 1;
  }

  async close(): Promise<void> {
    this.#metas.clear();
  }

  #parseMeta(key: string, raw: string): Meta | undefined {
    try {
      return parseMeta(JSON.parse(raw));
    } catch (err) {
      this.#log.warn(
        { code: 'META_CORRUPT', id: key, err: String(err) },
        'ignoring a stored meta that does not parse',
      );
      return undefined;
    }
  }

  #remember(key: string, meta: Meta): void {
    if (this.#cacheSize === 0) return;
    this.#metas.delete(key);
    this.#metas.set(key, meta);
    if (this.#metas.size > this.#cacheSize) {
      const oldest = this.#metas.keys().next();
      if (!oldest.done) this.#metas.delete(oldest.value);
    }
  }
}

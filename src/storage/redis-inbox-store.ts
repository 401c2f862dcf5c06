/**
 * The offline inbox on Redis, with the semantics of MemoryInboxStore (the inbox contract runs on both).
 *
 * Layout: a handful of keys per user, all with the user as hash tag (one cluster slot), every one passed to
 * the scripts in KEYS (src/redis/lua/inbox-*.lua: put, page, mark delivered, expire):
 *  - `inbox(user)`: sorted set, score 0, member = cursor (`cursorOf`: zero-padded time, store time,
 *    signature): ZRANGEBYLEX walks the backlog in the memory store's order, and a page's `next` is a member;
 *  - `inboxByStoredAt(user)`: sorted set, score = storedAt, same members: expiry without a full scan;
 *  - hashes keyed by signature: `inboxCursors` (the entry's cursor; dedup), `inboxMessages` (the message
 *    text exactly as relayed: no envelope around it), `inboxTargets` (the terminal of a message to
 *    `ID/terminal`), `inboxDelivered` (JSON array of the terminals that have had it);
 *  - `inboxTerminals(user)`: set of the user's known terminals.
 * A page expires old entries in batches, then scans forward in bounded chunks until it has `limit` entries
 * plus one more match (so `next` is set exactly when another page exists): it never loads the whole inbox.
 * Every key also gets a safety expiry (`retentionMs`, default twice the TTL, refreshed on writes) so that
 * abandoned inboxes vanish.
 */
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import type { Durability } from '../redis/durability.ts';
import type { RedisClient } from '../redis/redis-connection.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { RedisRunner } from '../redis/redis-runner.ts';
import { INBOX_TTL_MS } from './inbox-store.ts';
import type { InboxMessage, InboxPage, InboxStore, PutChecked } from './inbox-store.ts';
import { cursorOf } from './memory-inbox-store.ts';

export interface RedisInboxStoreOptions {
  /** Entries stored longer ago than this are removed (default INBOX_TTL_MS, 7 days). */
  readonly ttlMs?: number;
  /** Clock (ms) for expiry decisions (default Date.now). */
  readonly now?: () => number;
  /** Safety expiry of the Redis keys, refreshed on writes (default 2 × ttlMs). */
  readonly retentionMs?: number;
  /** Index members a page reads per script call (default 256). */
  readonly scanChunk?: number;
  /** Expired entries removed per script call (default 256). */
  readonly expireBatch?: number;
  /** Delivered marks per script call (default 256; larger batches are split). */
  readonly markBatch?: number;
  /** How long a command waits for a (re)connection (ms). */
  readonly connectWaitMs?: number;
  /** When a write counts as done (default: once applied; see src/redis/durability.ts). */
  readonly durability?: Durability;
  readonly logger?: Logger;
}

/** Scores and `until` as numbers Redis and Lua parse (no `Infinity`/`NaN` spellings). */
function finite(value: number): string {
  if (Number.isFinite(value)) return String(value);
  return value > 0 ? '1e308' : '-1e308';
}

export class RedisInboxStore implements InboxStore {
  readonly #r: RedisRunner;
  readonly #keys: RedisKeys;
  readonly #ttl: number;
  readonly #now: () => number;
  readonly #retention: number;
  readonly #chunk: number;
  readonly #expireBatch: number;
  readonly #markBatch: number;
  readonly #log: Logger;

  constructor(redis: RedisClient, keys: RedisKeys, options: RedisInboxStoreOptions = {}) {
    this.#r = new RedisRunner(redis, options.connectWaitMs, options.durability);
    this.#keys = keys;
    this.#ttl = options.ttlMs ?? INBOX_TTL_MS;
    this.#now = options.now ?? Date.now;
    this.#retention = Math.max(1, Math.ceil(options.retentionMs ?? Math.min(2 * this.#ttl, 2 ** 52)));
    this.#chunk = Math.max(1, Math.floor(options.scanChunk ?? 256));
    this.#expireBatch = Math.max(1, Math.floor(options.expireBatch ?? 256));
    this.#markBatch = Math.max(1, Math.floor(options.markBatch ?? 256));
    this.#log = (options.logger ?? silentLogger).child({ module: 'redis-inbox-store' });
  }

  async put(user: string, message: InboxMessage): Promise<boolean> {
    return (await this.#put(user, message, undefined)) === 1;
  }

  async putChecked(user: string, message: InboxMessage, epoch: string): Promise<PutChecked> {
    const outcome = await this.#put(user, message, epoch);
    return { stored: (outcome & 1) === 1, rebound: (outcome & 2) === 2 };
  }

  async #put(user: string, message: InboxMessage, epoch: string | undefined): Promise<number> {
    const k = this.#keys;
    const outcome = await this.#r.script(
      'inboxPut',
      [
        k.inboxCursors(user),
        k.inboxMessages(user),
        k.inboxTargets(user),
        k.inbox(user),
        k.inboxByStoredAt(user),
        k.sessionsEpoch(user),
      ],
      [
        message.sig,
        cursorOf(message),
        finite(message.storedAt),
        message.json,
        message.terminal === undefined ? '0' : '1',
        message.terminal ?? '',
        this.#retention,
        ...(epoch === undefined ? [] : [epoch]),
      ],
    );
    return Number(outcome);
  }

  async addTerminal(user: string, terminal: string): Promise<void> {
    const key = this.#keys.inboxTerminals(user);
    await this.#r.command((redis) => redis.multi().sadd(key, terminal).pexpire(key, this.#retention).exec());
  }

  async page(
    user: string,
    terminal: string,
    options: { limit: number; until: number; cursor?: string },
  ): Promise<InboxPage> {
    await this.#expire(user);
    const keys = this.#entryKeys(user);
    const limit = Math.max(0, Math.floor(options.limit));
    const entries: InboxMessage[] = [];
    let start = options.cursor === undefined ? '-' : `(${options.cursor}`;
    for (;;) {
      const reply = await this.#r.script('inboxPage', keys, [
        start,
        terminal,
        finite(options.until),
        limit - entries.length,
        this.#chunk,
      ]);
      if (!Array.isArray(reply) || reply.length < 3) throw new Error('inbox page script returned no page');
      const [last, exhausted, more] = reply as [string, number, number];
      for (let i = 3; i + 2 < reply.length; i += 3) {
        const message = this.#entry(user, String(reply[i]), String(reply[i + 1]), String(reply[i + 2]));
        if (message) entries.push(message);
      }
      if (more === 1) {
        const tail = entries[entries.length - 1];
        return { entries, next: tail ? cursorOf(tail) : undefined };
      }
      if (exhausted === 1 || last === '') return { entries, next: undefined };
      start = `(${last}`;
    }
  }

  async markDelivered(user: string, terminal: string, sig: string): Promise<void> {
    await this.markDeliveredMany(user, terminal, [sig]);
  }

  async markDeliveredMany(user: string, terminal: string, sigs: readonly string[]): Promise<void> {
    const k = this.#keys;
    const keys = [
      k.inbox(user),
      k.inboxByStoredAt(user),
      k.inboxTerminals(user),
      k.inboxCursors(user),
      k.inboxTargets(user),
      k.inboxDelivered(user),
      k.inboxMessages(user),
    ];
    for (let i = 0; i < sigs.length; i += this.#markBatch) {
      await this.#r.script('inboxMarkDelivered', keys, [
        terminal,
        this.#retention,
        ...sigs.slice(i, i + this.#markBatch),
      ]);
    }
  }

  async count(user: string): Promise<number> {
    return this.#r.command((redis) => redis.zcard(this.#keys.inbox(user)));
  }

  async close(): Promise<void> {
    // the connection belongs to the caller
  }

  /** The index sets and the entry hashes, in the order the page and expiry scripts take them. */
  #entryKeys(user: string): string[] {
    const k = this.#keys;
    return [
      k.inbox(user),
      k.inboxByStoredAt(user),
      k.inboxCursors(user),
      k.inboxTargets(user),
      k.inboxDelivered(user),
      k.inboxMessages(user),
    ];
  }

  /** Remove every entry stored before now − ttl, a batch per script call. */
  async #expire(user: string): Promise<void> {
    const keys = this.#entryKeys(user);
    const args = [finite(this.#now() - this.#ttl), this.#expireBatch];
    for (;;) {
      const removed = Number(await this.#r.script('inboxExpire', keys, args));
      if (removed < this.#expireBatch) return;
    }
  }

  /** An entry from its cursor (`<time>:<storedAt>:<signature>`), target ('' or '/' + terminal) and text. */
  #entry(user: string, cursor: string, target: string, json: string): InboxMessage | undefined {
    const first = cursor.indexOf(':');
    const second = cursor.indexOf(':', first + 1);
    const time = Number(cursor.slice(0, first));
    const storedAt = Number(cursor.slice(first + 1, second));
    if (first < 0 || second < 0 || !Number.isFinite(time) || !Number.isFinite(storedAt)) {
      this.#log.warn({ code: 'INBOX_ENTRY_CORRUPT', user, cursor }, 'ignoring a corrupt inbox entry');
      return undefined;
    }
    return {
      sig: cursor.slice(second + 1),
      time,
      storedAt,
      terminal: target === '' ? undefined : target.slice(1),
      json,
    };
  }
}

/**
 * A per-process cache of lookups the dispatcher makes for every message (a receiver's sessions, its block
 * list), kept correct by change signals (src/redis/change-signal.ts): an entry is dropped when its key's
 * signal arrives, everything is dropped when the signal feed (re)subscribes, and nothing is served while
 * the feed is down. Entries also expire after `ttlMs`, which bounds a signal that was never published.
 *
 * Every value comes with `fetchedAt`, when the read that produced it started: the state it shows is at
 * least that recent. Concurrent lookups of one key share one read. A read that a signal overtook (the
 * signal arrived while it ran) is returned to its callers but not kept.
 */

/** How long a cached lookup is served at most by default, signals aside (ms). */
export const LOOKUP_CACHE_MS = 5000;

export interface Cached<V> {
  readonly value: V;
  /** When the read started (ms, the cache's clock). */
  readonly fetchedAt: number;
}

/** Lookups served from a cache, lookups that read, and the entries kept. */
export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly size: number;
}

export interface LookupCacheOptions {
  /** How long an entry is served (ms); 0 disables the cache (every lookup reads). */
  readonly ttlMs: number;
  /** Entries kept at most; the oldest go first (default 100,000). */
  readonly maxEntries?: number;
  /** Whether change signals are arriving now; entries are served only then. */
  readonly live: () => boolean;
  /** Milliseconds since the epoch (default Date.now). */
  readonly now?: () => number;
}

interface Entry<V> {
  readonly expiresAt: number;
  readonly result: Promise<Cached<V>>;
}

export class LookupCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #live: () => boolean;
  readonly #now: () => number;
  #hits = 0;
  #misses = 0;

  constructor(options: LookupCacheOptions) {
    this.#ttlMs = Math.max(0, options.ttlMs);
    this.#max = Math.max(1, Math.floor(options.maxEntries ?? 100_000));
    this.#live = options.live;
    this.#now = options.now ?? Date.now;
  }

  /** The cached value of `key`, or `read()`'s (kept for later lookups while the feed is live). */
  get(key: string, read: () => Promise<V>): Promise<Cached<V>> {
    const now = this.#now();
    if (this.#ttlMs === 0 || !this.#live()) {
      this.#misses++;
      return read().then((value) => ({ value, fetchedAt: now }));
    }
    const hit = this.#entries.get(key);
    if (hit !== undefined && hit.expiresAt > now) {
      this.#hits++;
      return hit.result;
    }
    this.#misses++;
    if (hit !== undefined) this.#entries.delete(key);
    const result = read().then(
      (value) => ({ value, fetchedAt: now }),
      (err: unknown) => {
        // a failed read is not kept (unless a newer read replaced it meanwhile)
        if (this.#entries.get(key)?.result === result) this.#entries.delete(key);
        throw err;
      },
    );
    const entry: Entry<V> = { expiresAt: now + this.#ttlMs, result };
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, entry);
    return entry.result;
  }

  /** Forget `key` (its change signal arrived). */
  invalidate(key: string): void {
    this.#entries.delete(key);
  }

  /** Forget everything (signals may have been missed). */
  clear(): void {
    this.#entries.clear();
  }

  /** Lookups served from the cache and lookups that read, since the start (metrics, tests). */
  stats(): CacheStats {
    return { hits: this.#hits, misses: this.#misses, size: this.#entries.size };
  }
}

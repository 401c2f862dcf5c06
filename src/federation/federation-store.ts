/**
 * The small shared state federation needs besides the bus (Redis in a cluster, memory when embedded):
 *  - queue reservations per neighbour: dedup (a message is queued for a neighbour once until it is
 *    acknowledged) and the bound of each neighbour's queue;
 *  - "seen" marks with a TTL: broadcasts handled here (exactly once across a mesh) and neighbour queries
 *    already asked (at most once per ID per 10 minutes);
 *  - link ownership (one bridge process per neighbour link in a cluster) and link states for inspection.
 */

export type ReserveResult = 'reserved' | 'duplicate' | 'full';

export interface LinkStateRecord {
  readonly neighbour: string;
  readonly host: string;
  readonly port: number;
  readonly state: string;
  /** The bridge process holding the link. */
  readonly owner: string;
  /** Milliseconds since the epoch of the last state change. */
  readonly since: number;
  readonly attempts: number;
  readonly lastError?: string | undefined;
  readonly sent: number;
  readonly received: number;
}

export interface FederationStore {
  /** Reserve a place for `member` (`<receiver> <sig>`) in the neighbour's queue. */
  reserve(neighbour: string, member: string, limit: number, now: number): Promise<ReserveResult>;
  /** Forget a reservation (the neighbour acknowledged, or the queueing failed). */
  release(neighbour: string, member: string): Promise<void>;
  /** Messages reserved for (queued to) a neighbour. */
  queued(neighbour: string): Promise<number>;
  /** Mark `key` seen for `ttlMs`; true the first time (within the TTL), false afterwards. */
  firstSeen(key: string, ttlMs: number): Promise<boolean>;
  /** Take or renew ownership of a neighbour link for `ttlMs`; false when another process owns it. */
  ownLink(neighbour: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Give up ownership (only if still ours). */
  releaseLink(neighbour: string, owner: string): Promise<void>;
  putLinkState(state: LinkStateRecord): Promise<void>;
  linkStates(): Promise<LinkStateRecord[]>;
  close(): Promise<void>;
}

/** Reservations older than this are forgotten (a process died between reserving and queueing). */
export const RESERVATION_STALE_MS = 7 * 24 * 3600 * 1000;

export class MemoryFederationStore implements FederationStore {
  readonly #queued = new Map<string, Map<string, number>>();
  readonly #seen = new Map<string, number>();
  readonly #owners = new Map<string, { owner: string; until: number }>();
  readonly #links = new Map<string, LinkStateRecord>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async reserve(neighbour: string, member: string, limit: number, now: number): Promise<ReserveResult> {
    let set = this.#queued.get(neighbour);
    if (set === undefined) this.#queued.set(neighbour, (set = new Map()));
    for (const [m, at] of set) if (at <= now - RESERVATION_STALE_MS) set.delete(m);
    if (set.has(member)) return 'duplicate';
    if (set.size >= limit) return 'full';
    set.set(member, now);
    return 'reserved';
  }

  async release(neighbour: string, member: string): Promise<void> {
    this.#queued.get(neighbour)?.delete(member);
  }

  async queued(neighbour: string): Promise<number> {
    return this.#queued.get(neighbour)?.size ?? 0;
  }

  async firstSeen(key: string, ttlMs: number): Promise<boolean> {
    const now = this.#now();
    const until = this.#seen.get(key);
    if (until !== undefined && until > now) return false;
    if (this.#seen.size > 100_000) for (const [k, u] of this.#seen) if (u <= now) this.#seen.delete(k);
    this.#seen.set(key, now + ttlMs);
    return true;
  }

  async ownLink(neighbour: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = this.#now();
    const held = this.#owners.get(neighbour);
    if (held !== undefined && held.until > now && held.owner !== owner) return false;
    this.#owners.set(neighbour, { owner, until: now + ttlMs });
    return true;
  }

  async releaseLink(neighbour: string, owner: string): Promise<void> {
    if (this.#owners.get(neighbour)?.owner === owner) this.#owners.delete(neighbour);
  }

  /** Who holds the link's ownership lease now (undefined: nobody; inspection). */
  linkOwner(neighbour: string): string | undefined {
    const held = this.#owners.get(neighbour);
    return held !== undefined && held.until > this.#now() ? held.owner : undefined;
  }

  async putLinkState(state: LinkStateRecord): Promise<void> {
    this.#links.set(state.neighbour, state);
  }

  async linkStates(): Promise<LinkStateRecord[]> {
    return [...this.#links.values()];
  }

  async close(): Promise<void> {}
}

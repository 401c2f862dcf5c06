/** In-memory PushState (embedded engine, tests): the same semantics as the Redis scripts. */
import { PUSH_STATE_DEFAULTS } from './push-state.ts';
import type { NoteResult, PendingItem, PushBatch, PushState, PushStateOptions } from './push-state.ts';

interface Batch {
  items: PendingItem[];
  badge: number;
  settled: Set<string>;
  done: boolean;
  expires: number;
}

export class MemoryPushState implements PushState {
  readonly #seen = new Map<string, number>();
  readonly #pending = new Map<string, PendingItem[]>();
  readonly #badges = new Map<string, number>();
  readonly #batches = new Map<string, Batch>();
  readonly #o: Required<PushStateOptions>;
  readonly #now: () => number;

  constructor(options: PushStateOptions & { now?: () => number } = {}) {
    this.#o = { ...PUSH_STATE_DEFAULTS, ...options };
    this.#now = options.now ?? Date.now;
  }

  async note(user: string, item: PendingItem): Promise<NoteResult> {
    const now = this.#now();
    this.#sweep(now);
    const seenKey = `${user}\n${item.id}`;
    const fresh = !this.#seen.has(seenKey);
    let list = this.#pending.get(user);
    if (fresh) {
      this.#seen.set(seenKey, now + this.#o.seenTtlMs);
      if (!list) this.#pending.set(user, (list = []));
      list.push(item);
      this.#badges.set(user, (this.#badges.get(user) ?? 0) + 1);
    }
    return { fresh, first: list?.[0], pending: list?.length ?? 0 };
  }

  async take(user: string, jobId: string): Promise<PushBatch | undefined> {
    const key = `${user}\n${jobId}`;
    let batch = this.#batches.get(key);
    if (!batch) {
      const items = this.#pending.get(user);
      if (!items || items.length === 0) return undefined;
      this.#pending.delete(user);
      batch = {
        items,
        badge: this.#badges.get(user) ?? 0,
        settled: new Set(),
        done: false,
        expires: this.#now() + this.#o.batchTtlMs,
      };
      this.#batches.set(key, batch);
    }
    return { items: batch.items, badge: batch.badge, settled: new Set(batch.settled), done: batch.done };
  }

  async settle(user: string, jobId: string, devices: readonly string[], done: boolean): Promise<void> {
    const batch = this.#batches.get(`${user}\n${jobId}`);
    if (!batch) return;
    for (const device of devices) batch.settled.add(device);
    if (done) batch.done = true;
  }

  async badge(user: string): Promise<number> {
    return this.#badges.get(user) ?? 0;
  }

  async resetBadge(user: string): Promise<void> {
    this.#badges.delete(user);
  }

  async close(): Promise<void> {
    this.#seen.clear();
    this.#pending.clear();
    this.#batches.clear();
  }

  #sweep(now: number): void {
    if (this.#seen.size < 1024) return;
    for (const [key, expires] of this.#seen) if (expires < now) this.#seen.delete(key);
    for (const [key, batch] of this.#batches) if (batch.expires < now) this.#batches.delete(key);
  }
}

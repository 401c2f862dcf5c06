/**
 * Redis-Streams-like storage in this process's memory, for MemoryMessageBus: streams of entries with IDs
 * `<ms>-<seq>`, consumer groups with a last-delivered ID and a pending-entries list (owner, delivery count,
 * last delivery time). Each method mirrors the Redis command named in its comment. Several
 * MemoryMessageBus instances may share one store, the way several processes share one Redis.
 */
import { BusError } from './bus-error.ts';
import type { BusRecord } from './inspectable-message-bus.ts';

interface StoredEntry {
  readonly id: string;
  readonly ms: number;
  readonly seq: number;
  readonly fields: Readonly<Record<string, string>>;
}

interface PendingEntry {
  consumer: string;
  deliveries: number;
  deliveredAt: number;
}

interface Group {
  lastMs: number;
  lastSeq: number;
  /** In ID order: entries enter at their first delivery, and those are in ID order. */
  readonly pending: Map<string, PendingEntry>;
}

interface Stream {
  entries: StoredEntry[];
  /** Entries ever appended (XINFO STREAM entries-added). */
  added: number;
  lastMs: number;
  lastSeq: number;
  readonly groups: Map<string, Group>;
}

/** An entry delivered to a consumer; `fields` is undefined when the entry was trimmed meanwhile. */
export interface StoreDelivery {
  readonly id: string;
  readonly fields: Readonly<Record<string, string>> | undefined;
  readonly deliveries: number;
}

export interface StoreClaim {
  readonly cursor: string;
  readonly claimed: StoreDelivery[];
  readonly deleted: string[];
}

/** Waiting for entries: `promise` resolves on the next append to the stream, on timeout, or on cancel. */
export interface StoreWait {
  readonly promise: Promise<void>;
  cancel(): void;
}

function parseId(id: string): [number, number] {
  const dash = id.indexOf('-');
  const ms = Number(dash < 0 ? id : id.slice(0, dash));
  const seq = dash < 0 ? 0 : Number(id.slice(dash + 1));
  if (!Number.isSafeInteger(ms) || !Number.isSafeInteger(seq) || ms < 0 || seq < 0) {
    throw new BusError('BUS_BAD_ARGUMENT', `invalid stream ID ${id}`);
  }
  return [ms, seq];
}

function compare(ms: number, seq: number, entry: StoredEntry): number {
  return ms !== entry.ms ? ms - entry.ms : seq - entry.seq;
}

/** Index of the first entry with an ID greater than (ms, seq). */
function upperBound(entries: readonly StoredEntry[], ms: number, seq: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(ms, seq, entries[mid]!) >= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function find(entries: readonly StoredEntry[], id: string): StoredEntry | undefined {
  const [ms, seq] = parseId(id);
  const i = upperBound(entries, ms, seq) - 1;
  const entry = entries[i];
  return entry && entry.ms === ms && entry.seq === seq ? entry : undefined;
}

function idGreater(a: string, b: string): boolean {
  const [am, as] = parseId(a);
  const [bm, bs] = parseId(b);
  return am !== bm ? am > bm : as > bs;
}

export class MemoryStreamStore {
  readonly #streams = new Map<string, Stream>();
  readonly #waiters = new Map<string, Set<() => void>>();

  /** XADD stream MAXLEN ~ maxLen * fields… */
  add(stream: string, fields: Readonly<Record<string, string>>, maxLen: number): string {
    const s = this.#stream(stream);
    let ms = Date.now();
    let seq = 0;
    if (ms <= s.lastMs) {
      ms = s.lastMs;
      seq = s.lastSeq + 1;
    }
    s.lastMs = ms;
    s.lastSeq = seq;
    const id = `${ms}-${seq}`;
    s.entries.push({ id, ms, seq, fields: { ...fields } });
    s.added += 1;
    // Approximate trimming, like Redis: only in chunks (Redis drops whole radix-tree nodes).
    const slack = Math.min(100, Math.floor(maxLen / 10));
    if (s.entries.length > maxLen + slack) s.entries.splice(0, s.entries.length - maxLen);
    const waiters = this.#waiters.get(stream);
    if (waiters) {
      this.#waiters.delete(stream);
      for (const wake of waiters) wake();
    }
    return id;
  }

  /** XLEN */
  length(stream: string): number {
    return this.#streams.get(stream)?.entries.length ?? 0;
  }

  /** XRANGE stream - + COUNT count */
  range(stream: string, count: number): BusRecord[] {
    const entries = this.#streams.get(stream)?.entries ?? [];
    return entries.slice(0, count).map((e) => ({ id: e.id, fields: { ...e.fields } }));
  }

  /** XREVRANGE stream + - COUNT 1: the last entry's ID, `0-0` when the stream is empty or missing. */
  lastId(stream: string): string {
    const entries = this.#streams.get(stream)?.entries ?? [];
    return entries[entries.length - 1]?.id ?? '0-0';
  }

  /** XREAD COUNT count STREAMS stream after: the entries with IDs after `after`, oldest first. */
  readAfter(stream: string, after: string, count: number): StoreDelivery[] {
    const entries = this.#streams.get(stream)?.entries ?? [];
    const [ms, seq] = parseId(after);
    const start = upperBound(entries, ms, seq);
    return entries.slice(start, start + count).map((e) => ({ id: e.id, fields: e.fields, deliveries: 1 }));
  }

  /** XTRIM stream MINID minId (exact): removes the entries with IDs below `minId`; how many. */
  trimBelow(stream: string, minId: string): number {
    const s = this.#streams.get(stream);
    if (!s) return 0;
    const [ms, seq] = parseId(minId);
    // entries strictly below (ms, seq): the upper bound of the ID just before it
    const cut =
      seq > 0 ? upperBound(s.entries, ms, seq - 1) : upperBound(s.entries, ms - 1, Number.MAX_SAFE_INTEGER);
    if (cut > 0) s.entries.splice(0, cut);
    return cut;
  }

  /** XGROUP CREATE stream group 0 MKSTREAM; false when the group exists (BUSYGROUP). */
  createGroup(stream: string, group: string): boolean {
    const s = this.#stream(stream);
    if (s.groups.has(group)) return false;
    s.groups.set(group, { lastMs: 0, lastSeq: 0, pending: new Map() });
    return true;
  }

  /** XREADGROUP GROUP group consumer COUNT count STREAMS stream > */
  readNew(stream: string, group: string, consumer: string, count: number, now = Date.now()): StoreDelivery[] {
    const { s, g } = this.#group(stream, group);
    const start = upperBound(s.entries, g.lastMs, g.lastSeq);
    const taken = s.entries.slice(start, start + count);
    const last = taken[taken.length - 1];
    if (last) {
      g.lastMs = last.ms;
      g.lastSeq = last.seq;
    }
    return taken.map((e) => {
      g.pending.delete(e.id);
      g.pending.set(e.id, { consumer, deliveries: 1, deliveredAt: now });
      return { id: e.id, fields: e.fields, deliveries: 1 };
    });
  }

  /** XREADGROUP GROUP group consumer COUNT count STREAMS stream <after> (the consumer's own pending). */
  readPending(
    stream: string,
    group: string,
    consumer: string,
    after: string,
    count: number,
    now = Date.now(),
  ): StoreDelivery[] {
    const { s, g } = this.#group(stream, group);
    const out: StoreDelivery[] = [];
    for (const [id, p] of g.pending) {
      if (out.length >= count) break;
      if (p.consumer !== consumer || !idGreater(id, after)) continue;
      p.deliveries++;
      p.deliveredAt = now;
      out.push({ id, fields: find(s.entries, id)?.fields, deliveries: p.deliveries });
    }
    return out;
  }

  /** XAUTOCLAIM stream group consumer minIdle cursor COUNT count */
  autoClaim(
    stream: string,
    group: string,
    consumer: string,
    minIdleMs: number,
    cursor: string,
    count: number,
    now = Date.now(),
  ): StoreClaim {
    const { s, g } = this.#group(stream, group);
    const claimed: StoreDelivery[] = [];
    const deleted: string[] = [];
    let attempts = count * 10;
    let next = '0-0';
    for (const [id, p] of g.pending) {
      if (idGreater(cursor, id)) continue;
      if (attempts === 0 || claimed.length >= count) {
        next = id;
        break;
      }
      attempts--;
      if (now - p.deliveredAt < minIdleMs) continue;
      const entry = find(s.entries, id);
      if (!entry) {
        g.pending.delete(id);
        deleted.push(id);
        continue;
      }
      p.consumer = consumer;
      p.deliveries++;
      p.deliveredAt = now;
      claimed.push({ id, fields: entry.fields, deliveries: p.deliveries });
    }
    return { cursor: next, claimed, deleted };
  }

  /** XCLAIM … JUSTID for the ids still pending for `consumer`; returns the others. */
  touch(stream: string, group: string, consumer: string, ids: readonly string[], now = Date.now()): string[] {
    const { g } = this.#group(stream, group);
    const lost: string[] = [];
    for (const id of ids) {
      const p = g.pending.get(id);
      if (p && p.consumer === consumer) p.deliveredAt = now;
      else lost.push(id);
    }
    return lost;
  }

  /**
   * Remove the entries every group has acknowledged (trim-acknowledged.lua): below each group's lowest
   * pending ID, or up to its last-delivered ID when nothing is pending. Returns how many were removed.
   */
  trimAcknowledged(stream: string): number {
    const s = this.#streams.get(stream);
    if (!s || s.groups.size === 0) return 0;
    let minMs = Number.POSITIVE_INFINITY;
    let minSeq = 0;
    for (const g of s.groups.values()) {
      let ms = g.lastMs;
      let seq = g.lastSeq + 1;
      for (const id of g.pending.keys()) {
        const [pm, ps] = parseId(id);
        if (pm < ms || (pm === ms && ps < seq)) [ms, seq] = [pm, ps];
      }
      if (ms < minMs || (ms === minMs && seq < minSeq)) [minMs, minSeq] = [ms, seq];
    }
    // entries strictly below (minMs, minSeq): the upper bound of the ID just before it
    const cut =
      minSeq > 0
        ? upperBound(s.entries, minMs, minSeq - 1)
        : upperBound(s.entries, minMs - 1, Number.MAX_SAFE_INTEGER);
    if (cut > 0) s.entries.splice(0, cut);
    return cut;
  }

  /** XACK stream group ids…; 0 acked when the stream or group does not exist. */
  ack(stream: string, group: string, ids: readonly string[]): number {
    const g = this.#streams.get(stream)?.groups.get(group);
    if (!g) return 0;
    let acked = 0;
    for (const id of ids) if (g.pending.delete(id)) acked++;
    return acked;
  }

  /** XDEL stream ids…; how many were removed. */
  remove(stream: string, ids: readonly string[]): number {
    const s = this.#streams.get(stream);
    if (!s) return 0;
    const drop = new Set(ids);
    const before = s.entries.length;
    s.entries = s.entries.filter((e) => !drop.has(e.id));
    return before - s.entries.length;
  }

  /** XINFO STREAM entries-added. */
  addedCount(stream: string): number {
    return this.#streams.get(stream)?.added ?? 0;
  }

  /** XPENDING stream group - + count: the pending entries, oldest first. */
  pendingEntries(
    stream: string,
    group: string,
    count: number,
    now = Date.now(),
  ): { id: string; consumer: string; idleMs: number; deliveries: number }[] {
    const g = this.#streams.get(stream)?.groups.get(group);
    if (!g) return [];
    return [...g.pending].slice(0, count).map(([id, p]) => ({
      id,
      consumer: p.consumer,
      idleMs: now - p.deliveredAt,
      deliveries: p.deliveries,
    }));
  }

  /** XINFO GROUPS (the parts the ops tools show): name, pending count, and entries not yet delivered. */
  groups(
    stream: string,
  ): { name: string; pending: number; lag: number; oldestPending: string | undefined }[] {
    const s = this.#streams.get(stream);
    if (!s) return [];
    return [...s.groups].map(([name, g]) => ({
      name,
      pending: g.pending.size,
      lag: s.entries.filter((e) => e.ms > g.lastMs || (e.ms === g.lastMs && e.seq > g.lastSeq)).length,
      oldestPending: g.pending.keys().next().value,
    }));
  }

  /** XPENDING stream group (the count). */
  pendingCount(stream: string, group: string): number {
    return this.#streams.get(stream)?.groups.get(group)?.pending.size ?? 0;
  }

  /** The dead-letter move (dead-letter.lua): XACK, and XADD to `dead` if the entry was pending. */
  deadLetter(
    stream: string,
    group: string,
    id: string,
    dead: string,
    fields: Readonly<Record<string, string>>,
    maxLen: number,
  ): string | undefined {
    if (this.ack(stream, group, [id]) === 0) return undefined;
    return this.add(dead, fields, maxLen);
  }

  /** Resolves on the next append to `stream`, after `ms`, or on cancel(). */
  waitForEntries(stream: string, ms: number): StoreWait {
    let cancel = (): void => {};
    const promise = new Promise<void>((resolve) => {
      let waiters = this.#waiters.get(stream);
      if (!waiters) this.#waiters.set(stream, (waiters = new Set()));
      const set = waiters;
      const done = (): void => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.#waiters.get(stream) === set) this.#waiters.delete(stream);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      set.add(done);
      cancel = done;
    });
    return { promise, cancel };
  }

  #stream(stream: string): Stream {
    let s = this.#streams.get(stream);
    if (!s) {
      s = { entries: [], added: 0, lastMs: 0, lastSeq: 0, groups: new Map() };
      this.#streams.set(stream, s);
    }
    return s;
  }

  #group(stream: string, group: string): { s: Stream; g: Group } {
    const s = this.#streams.get(stream);
    const g = s?.groups.get(group);
    if (!s || !g) {
      throw new BusError('BUS_NO_GROUP', `no such stream ${stream} or consumer group ${group}`);
    }
    return { s, g };
  }
}

/** PushState on Redis: push-note.lua / push-take.lua and per-user keys (one cluster slot per user). */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { toDevice } from './device-token.ts';
import type { DeviceToken } from './device-token.ts';
import { PushRedis } from './push-redis.ts';
import { decodeItem, encodeItem, PUSH_STATE_DEFAULTS } from './push-state.ts';
import type { NoteResult, PendingItem, PushBatch, PushState, PushStateOptions } from './push-state.ts';

/** The device list as RedisDeviceStore writes it; undefined (ask the store) when unreadable. */
function parseDeviceList(raw: string | null): DeviceToken[] | undefined {
  if (raw === null) return [];
  try {
    const value: unknown = JSON.parse(raw);
    if (!Array.isArray(value)) return undefined;
    return value.map(toDevice).filter((d): d is DeviceToken => d !== undefined);
  } catch {
    return undefined;
  }
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

export class RedisPushState implements PushState {
  readonly #r: PushRedis;
  readonly #keys: RedisKeys;
  readonly #o: Required<PushStateOptions>;

  constructor(redis: Redis, keys: RedisKeys, options: PushStateOptions & { connectWaitMs?: number } = {}) {
    this.#r = new PushRedis(redis, options.connectWaitMs);
    this.#keys = keys;
    this.#o = {
      seenTtlMs: options.seenTtlMs ?? PUSH_STATE_DEFAULTS.seenTtlMs,
      pendingTtlMs: options.pendingTtlMs ?? PUSH_STATE_DEFAULTS.pendingTtlMs,
      batchTtlMs: options.batchTtlMs ?? PUSH_STATE_DEFAULTS.batchTtlMs,
    };
  }

  async note(user: string, item: PendingItem): Promise<NoteResult> {
    const k = this.#keys;
    const reply = (await this.#r.script(
      'pushNote',
      [k.pushSeen(user, digest(item.id)), k.pushPending(user), k.pushBadge(user)],
      [encodeItem(item), this.#o.seenTtlMs, this.#o.pendingTtlMs],
    )) as [number, number, string | null];
    const [fresh, pending, first] = reply;
    return {
      fresh: fresh === 1,
      pending,
      first: typeof first === 'string' ? decodeItem(first) : undefined,
    };
  }

  async take(user: string, jobId: string): Promise<PushBatch | undefined> {
    const k = this.#keys;
    const [devicesJson, flat] = (await this.#r.script(
      'pushTake',
      [k.pushPending(user), k.pushBatch(user, jobId), k.pushBadge(user), k.pushDevices(user)],
      [this.#o.batchTtlMs],
    )) as [string | null, string[]];
    if (flat.length === 0) return undefined;
    const fields = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] as string, flat[i + 1] as string);
    let raw: unknown = [];
    try {
      raw = JSON.parse(fields.get('items') ?? '[]');
    } catch {
      raw = [];
    }
    // cjson encodes an empty table as {}; take never stores an empty batch, but be strict anyway
    const items = (Array.isArray(raw) ? raw : [])
      .map((s) => (typeof s === 'string' ? decodeItem(s) : undefined))
      .filter((i): i is PendingItem => i !== undefined);
    const settled = new Set<string>();
    for (const field of fields.keys()) if (field.startsWith('settled:')) settled.add(field.slice(8));
    return {
      items,
      badge: Number(fields.get('badge') ?? 0) || 0,
      settled,
      done: fields.has('done'),
      devices: parseDeviceList(devicesJson),
    };
  }

  async settle(user: string, jobId: string, devices: readonly string[], done: boolean): Promise<void> {
    const fields: string[] = [];
    for (const device of devices) fields.push(`settled:${device}`, '1');
    if (done) fields.push('done', '1');
    if (fields.length === 0) return;
    await this.#r.command((r) => r.hset(this.#keys.pushBatch(user, jobId), ...fields));
  }

  async badge(user: string): Promise<number> {
    const raw = await this.#r.command((r) => r.get(this.#keys.pushBadge(user)));
    return raw === null ? 0 : Number(raw) || 0;
  }

  async resetBadge(user: string): Promise<void> {
    await this.#r.command((r) => r.del(this.#keys.pushBadge(user)));
  }

  async close(): Promise<void> {
    // the connection belongs to the caller
  }
}

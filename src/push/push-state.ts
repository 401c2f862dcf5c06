import type { DeviceToken } from './device-token.ts';

/**
 * The push notification state of each user: badge count, the messages waiting in the coalescing window,
 * and the batch each push job took (with the devices it has notified, so a retried or recovered job
 * neither loses nor repeats a notification). Implementations: memory (embedded engine) and Redis (Lua
 * scripts, one cluster slot per user); test/contract/push-state.contract.ts runs on both.
 */

/** One message waiting for a notification (no content: only what the notification names). */
export interface PendingItem {
  /** Signature digest of the message (job IDs and dedup derive from it). */
  readonly id: string;
  /** Naked sender ID string. */
  readonly sender: string;
  /** Group ID string, for group messages. */
  readonly group?: string | undefined;
  /** Envelope content type, when the sender exposed it. */
  readonly type?: number | undefined;
  /** Message time (ms). */
  readonly time: number;
  /** Device keys (deviceKey of the token) this message may be pushed to. */
  readonly devices: readonly string[];
}

export interface NoteResult {
  /** False when the message had been noted already (a dispatcher retry). */
  readonly fresh: boolean;
  /** The first pending item: the job named after it holds the window. Undefined when none is pending. */
  readonly first: PendingItem | undefined;
  readonly pending: number;
}

export interface PushBatch {
  readonly items: readonly PendingItem[];
  readonly badge: number;
  /** Device keys already notified (or given up on) by this job. */
  readonly settled: ReadonlySet<string>;
  readonly done: boolean;
  /**
   * The user's devices read in the same step, when the implementation can (Redis: same hash slot);
   * undefined: ask the device store.
   */
  readonly devices?: readonly DeviceToken[] | undefined;
}

export interface PushStateOptions {
  /** How long a message is remembered as noted (ms); longer than the 128 s push age limit. */
  readonly seenTtlMs?: number;
  /** Pending lists and badges expire after this long untouched (ms). */
  readonly pendingTtlMs?: number;
  /** Batches expire after this long (ms): longer than the job's whole retry schedule. */
  readonly batchTtlMs?: number;
}

export const PUSH_STATE_DEFAULTS = {
  seenTtlMs: 10 * 60_000,
  pendingTtlMs: 30 * 24 * 3600_000,
  batchTtlMs: 24 * 3600_000,
} as const;

export interface PushState {
  note(user: string, item: PendingItem): Promise<NoteResult>;
  /** Take the user's pending items into the job's batch (or return the job's batch if taken before). */
  take(user: string, jobId: string): Promise<PushBatch | undefined>;
  /**
   * Record that the job notified (or gave up on) these devices, and with `done` that it is complete (a
   * recovered duplicate run then does nothing). One write.
   */
  settle(user: string, jobId: string, devices: readonly string[], done: boolean): Promise<void>;
  badge(user: string): Promise<number>;
  resetBadge(user: string): Promise<void>;
  close(): Promise<void>;
}

export function encodeItem(item: PendingItem): string {
  return JSON.stringify(item);
}

export function decodeItem(raw: string): PendingItem | undefined {
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    if (typeof v['id'] !== 'string' || typeof v['sender'] !== 'string' || typeof v['time'] !== 'number')
      return undefined;
    const devices = Array.isArray(v['devices']) ? v['devices'].filter((d) => typeof d === 'string') : [];
    return {
      id: v['id'],
      sender: v['sender'],
      group: typeof v['group'] === 'string' ? v['group'] : undefined,
      type: typeof v['type'] === 'number' ? v['type'] : undefined,
      time: v['time'],
      devices,
    };
  } catch {
    return undefined;
  }
}

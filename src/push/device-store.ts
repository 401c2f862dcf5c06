/**
 * Where device tokens are kept, per user (naked ID string): newest first, at most MAX_DEVICES_PER_USER, the
 * same token (or the same platform and terminal) replaced, older reports ignored (see mergeDevice).
 * Implementations: memory (embedded engine) and Redis; test/contract/device-store.contract.ts runs on both.
 */
import type { DeviceToken } from './device-token.ts';

export type DevicePutResult = 'saved' | 'older';

export interface DeviceStore {
  put(user: string, device: DeviceToken): Promise<DevicePutResult>;
  /** The user's devices, newest first (expired ones included: callers filter with isExpired). */
  list(user: string): Promise<DeviceToken[]>;
  /**
   * Remove a token (the provider said it is gone). With `unlessNewerThan` (ms), a token registered again
   * after that time is kept (APNs 410 `timestamp`). Returns whether one was removed.
   */
  remove(user: string, token: string, unlessNewerThan?: number): Promise<boolean>;
  close(): Promise<void>;
}

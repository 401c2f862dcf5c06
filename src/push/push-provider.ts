/**
 * A push provider sends one notification to one device and classifies the outcome: delivered, the token
 * is gone (delete it), worth retrying (with the provider's Retry-After), or rejected for good (our request
 * or configuration is wrong: retrying as is cannot help).
 */
import type { DeviceToken } from './device-token.ts';
import type { Notification } from './notification.ts';

export type ProviderName = 'apns' | 'fcm' | 'webhook';

export type SendResult =
  | { readonly kind: 'sent'; readonly id?: string | undefined }
  | { readonly kind: 'unregistered'; readonly reason: string; readonly timestamp?: number | undefined }
  | { readonly kind: 'retry'; readonly reason: string; readonly retryAfterMs?: number | undefined }
  | { readonly kind: 'rejected'; readonly reason: string };

export interface PushMessage {
  readonly device: DeviceToken;
  readonly notification: Notification;
  /** Receiver (naked ID string). */
  readonly receiver: string;
  /** Stable per job and device: webhook IDs and APNs IDs derive from it, so receivers can dedup. */
  readonly deliveryId: string;
}

export interface PushProvider {
  readonly name: ProviderName;
  send(message: PushMessage): Promise<SendResult>;
  /** Close connections; idempotent. */
  close(): Promise<void>;
}

/** `Retry-After` as delay seconds or an HTTP date → ms (undefined when absent or unreadable). */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

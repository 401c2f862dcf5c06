/**
 * The payloads that travel on the station's streams, as JSON. Every stream has one producer role and one
 * consumer role:
 *  - inbound shards: gateways → dispatcher (messages clients sent);
 *  - store shards: dispatcher and gateways → storage worker (store, delivered marks, backlog drains);
 *  - one delivery stream per gateway: dispatcher and storage → that gateway (messages to push).
 */
import type { MessageOrigin } from './inbound-sink.ts';

export interface InboundEntry {
  readonly kind: 'message';
  readonly msg: Record<string, unknown>;
  readonly origin: MessageOrigin;
  /** When the gateway accepted it (ms). */
  readonly at: number;
}

export interface DeliverEntry {
  readonly kind: 'deliver';
  readonly connId: string;
  /** Naked receiver ID and the terminal of the connection (for the delivered mark). */
  readonly user: string;
  readonly terminal: string;
  readonly sig: string;
  /** The reliable message JSON text to push. */
  readonly json: string;
  /**
   * Single-entry backlog pages (written by earlier storage workers; still honoured): after the last entry
   * is delivered, the gateway asks for the next page.
   */
  readonly backlog?: { readonly last: boolean; readonly next: string | undefined; readonly until: number };
  /** Responses (receipts…) are not stored and need no delivered mark. */
  readonly response?: boolean;
}

/** One page of a terminal's stored backlog, in order: one stream entry for the whole page. */
export interface DeliverPageEntry {
  readonly kind: 'deliver-page';
  readonly connId: string;
  readonly user: string;
  readonly terminal: string;
  /** The drain's `until` (ms), carried into the next page's request. */
  readonly until: number;
  /** Cursor of the next page; absent on the last one. */
  readonly next?: string;
  /**
   * Ask for the next page once this many of the page's messages are confirmed (a window: the next page is
   * on its way while the client still confirms this one). Absent: once all are.
   */
  readonly prefetchAt?: number;
  /** Signature and reliable message JSON text of each message, oldest first. */
  readonly messages: readonly { readonly sig: string; readonly json: string }[];
}

export type DeliveryEntry = DeliverEntry | DeliverPageEntry;

export interface StoreMessageEntry {
  readonly kind: 'store';
  readonly user: string;
  /** Only this terminal wants it (message to `ID/terminal`). */
  readonly terminal: string | undefined;
  readonly sig: string;
  readonly time: number;
  readonly json: string;
  /**
   * When the dispatcher looked the receiver's sessions up (ms), before deciding whom to push to: the
   * message counts as stored from then. A backlog drain requested by a session bound later (`until` ≥ its
   * bind) therefore includes it even when the storage worker writes it after the drain's `until`.
   * Absent (earlier dispatchers): the storage worker's clock.
   */
  readonly at?: number;
}

/** Messages a terminal confirmed: `sigs` (a batch), or `sig` (one; written by earlier gateways). */
export interface DeliveredEntry {
  readonly kind: 'delivered';
  readonly user: string;
  readonly terminal: string;
  readonly sig?: string;
  readonly sigs?: readonly string[];
}

export interface DrainEntry {
  readonly kind: 'drain';
  readonly user: string;
  readonly terminal: string;
  readonly gatewayId: string;
  readonly connId: string;
  /** Only messages stored at or before this time (ms): later ones were delivered live. */
  readonly until: number;
  readonly cursor: string | undefined;
}

export type StoreEntry = StoreMessageEntry | DeliveredEntry | DrainEntry;

export class StreamEntryError extends Error {
  readonly code = 'BAD_STREAM_ENTRY';
}

function parseObject(payload: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    throw new StreamEntryError('stream entry is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new StreamEntryError('stream entry is not an object');
  }
  return value as Record<string, unknown>;
}

function expectKind<T extends { kind: string }>(payload: string, kinds: readonly string[]): T {
  const value = parseObject(payload);
  if (typeof value['kind'] !== 'string' || !kinds.includes(value['kind'])) {
    throw new StreamEntryError(`unexpected stream entry kind ${JSON.stringify(value['kind'])}`);
  }
  return value as unknown as T;
}

export const decodeInbound = (payload: string): InboundEntry =>
  expectKind<InboundEntry>(payload, ['message']);
export const decodeDeliver = (payload: string): DeliveryEntry =>
  expectKind<DeliveryEntry>(payload, ['deliver', 'deliver-page']);
export const decodeStore = (payload: string): StoreEntry =>
  expectKind<StoreEntry>(payload, ['store', 'delivered', 'drain']);

/**
 * Device tokens as clients report them (reference-station.md §6): `report` titled `apns` (iOS:
 * `device_token` hex, `topic`, `sandbox`) or `c2dm` (Android: `token`, `channel`), with the 2026 fields
 * `did` (may carry the terminal) and `terminal`. Pure: parsing, validation, expiry and log masking.
 */
import type { Content } from '../protocol/dkd/content.ts';
import { tryParseId } from '../protocol/mkm/identifier.ts';

export type DevicePlatform = 'ios' | 'android';

export interface DeviceToken {
  readonly platform: DevicePlatform;
  /** APNs: lowercase hex; FCM / other channels: the registration token as given. */
  readonly token: string;
  /** Delivery channel: `apns` for iOS, `firebase` (FCM) or another gateway name for Android. */
  readonly channel: string;
  /** APNs topic (bundle ID) the token belongs to, if the client said. */
  readonly topic?: string | undefined;
  /** APNs environment the token belongs to, if the client said. */
  readonly sandbox?: boolean | undefined;
  /** The device's terminal (2026 multi-device clients), if any. */
  readonly terminal?: string | undefined;
  /** When the report was made (ms since the epoch): newer reports replace older ones. */
  readonly time: number;
}

/** iOS tokens expire like the reference announcer's (183 days); Firebase tokens do not. */
export const IOS_TOKEN_TTL_MS = 183 * 24 * 3600 * 1000;
/** At most this many devices per user (newest first). */
export const MAX_DEVICES_PER_USER = 8;
const MAX_TOKEN_LENGTH = 4096;
const MAX_FIELD_LENGTH = 256;

export class DeviceTokenError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'DeviceTokenError';
    this.code = code;
  }
}

function shortString(dict: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const v = dict[name];
  if (typeof v !== 'string' || v.length === 0) return undefined;
  if (v.length > MAX_FIELD_LENGTH) throw new DeviceTokenError('BAD_DEVICE_TOKEN', `${name} is too long`);
  return v;
}

/** The reference reads `sandbox` as a string by mistake; accept a boolean, "true"/"false", 1/0. */
function flag(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 1 || value === '1') return true;
  if (value === 'false' || value === 0 || value === '0') return false;
  return undefined;
}

/** Whether a report title is a device-token report. */
export function isDeviceTokenTitle(title: string): boolean {
  return title === 'apns' || title === 'c2dm';
}

/**
 * The device a `report` content (title `apns` / `c2dm`) describes; `now` in ms is used when the content
 * carries no `time`. Throws DeviceTokenError (`BAD_DEVICE_TOKEN`) for a malformed report.
 */
export function parseDeviceReport(content: Content, now: number): DeviceToken {
  const d = content.dict;
  const title = d['title'];
  const seconds = typeof d['time'] === 'number' && Number.isFinite(d['time']) ? d['time'] : undefined;
  const time = seconds === undefined ? now : Math.round(seconds * 1000);
  const didTerminal = tryParseId(d['did'] ?? d['ID'])?.terminal;
  const terminal = shortString(d, 'terminal') ?? didTerminal;
  if (title === 'apns') {
    const raw = d['device_token'] ?? d['token'];
    if (typeof raw !== 'string' || raw.length === 0)
      throw new DeviceTokenError('BAD_DEVICE_TOKEN', 'apns report without device_token');
    const token = raw.replace(/[\s<>]/g, '').toLowerCase();
    // APNs tokens are opaque bytes in hex: even length, no fixed size (push-providers.md §1.8).
    if (token.length === 0 || token.length % 2 !== 0 || token.length > 400 || !/^[0-9a-f]+$/.test(token))
      throw new DeviceTokenError('BAD_DEVICE_TOKEN', 'device_token is not even-length hex');
    return {
      platform: 'ios',
      token,
      channel: 'apns',
      topic: shortString(d, 'topic'),
      sandbox: flag(d['sandbox']),
      terminal,
      time,
    };
  }
  if (title === 'c2dm') {
    const token = d['token'] ?? d['device_token'];
    if (
      typeof token !== 'string' ||
      token.length === 0 ||
      token.length > MAX_TOKEN_LENGTH ||
      /\s/.test(token)
    )
      throw new DeviceTokenError('BAD_DEVICE_TOKEN', 'c2dm report without a usable token');
    const channel = shortString(d, 'channel')?.toLowerCase() ?? 'firebase';
    return { platform: 'android', token, channel, terminal, time };
  }
  throw new DeviceTokenError('BAD_DEVICE_TOKEN', 'not a device token report');
}

/** Whether the token is past its expiry at `now` (ms). */
export function isExpired(device: DeviceToken, now: number): boolean {
  return device.platform === 'ios' && device.time + IOS_TOKEN_TTL_MS < now;
}

/** A token as it may appear in logs: its first and last 4 characters. */
export function maskToken(token: string): string {
  if (token.length <= 12) return `${token.slice(0, 2)}…`;
  return `${token.slice(0, 4)}…${token.slice(-4)}`;
}

/**
 * Insert `device` into a newest-first list: an entry with the same token, or the same platform and
 * terminal (a reinstall's new token), is replaced unless it is newer; the list is cut to `max`.
 * Returns the new list, or undefined when the report is older than what is stored (ignored).
 */
export function mergeDevice(
  list: readonly DeviceToken[],
  device: DeviceToken,
  max = MAX_DEVICES_PER_USER,
): DeviceToken[] | undefined {
  const replaced = list.filter(
    (d) =>
      d.token === device.token ||
      (device.terminal !== undefined && d.terminal === device.terminal && d.platform === device.platform),
  );
  if (replaced.some((d) => d.time > device.time)) return undefined;
  const rest = list.filter((d) => !replaced.includes(d));
  return [device, ...rest].sort((a, b) => b.time - a.time).slice(0, max);
}

/** Read a stored device (JSON value); undefined when it is not one. */
export function toDevice(value: unknown): DeviceToken | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (v['platform'] !== 'ios' && v['platform'] !== 'android') return undefined;
  if (typeof v['token'] !== 'string' || typeof v['channel'] !== 'string' || typeof v['time'] !== 'number')
    return undefined;
  return {
    platform: v['platform'],
    token: v['token'],
    channel: v['channel'],
    topic: typeof v['topic'] === 'string' ? v['topic'] : undefined,
    sandbox: typeof v['sandbox'] === 'boolean' ? v['sandbox'] : undefined,
    terminal: typeof v['terminal'] === 'string' ? v['terminal'] : undefined,
    time: v['time'],
  };
}

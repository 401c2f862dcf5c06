/**
 * Limits and timings shared by the client channels (MTP and WebSocket), with their defaults
 * (reference-station.md §2.2, §2.5 and §10.4).
 */
import type { TimerWheel } from './timer-wheel.ts';
import type { TransportLogger } from './transport-logger.ts';

export interface ChannelOptions {
  /** Largest MTP body / WebSocket message accepted (bigger closes FRAME_TOO_LARGE). Default 1 MiB. */
  readonly maxBodyLength?: number;
  /** MTP: garbage bytes dropped in a row before the connection is closed GARBAGE. Default 64 KiB. */
  readonly maxGarbage?: number;
  /** Milliseconds without inbound bytes/frames before closing IDLE_TIMEOUT (0 disables). Default 128 s. */
  readonly idleTimeout?: number;
  /** Bytes queued for a client before it is closed SLOW_CONSUMER. Default 4 MiB. */
  readonly maxOutgoingBytes?: number;
  /** MTP: milliseconds to wait for the `OK` of a pushed message before resending. Default 120 s. */
  readonly retryInterval?: number;
  /** MTP: sends of a pushed message (first one included) before it is `expired`. Default 3. */
  readonly maxTries?: number;
  /** WebSocket (once the client sends ACKs): milliseconds to wait for a push's `ACK:`. Default 120 s. */
  readonly ackTimeout?: number;
  /** Packages held before the handler is installed; one more closes PROTOCOL_ERROR. Default 64. */
  readonly maxPendingPackages?: number;
  /** Milliseconds a locally closed connection may take to flush and finish before it is destroyed. Default 2 s. */
  readonly closeGrace?: number;
  /**
   * MTP: milliseconds a started frame may stay incomplete before its bytes must arrive at
   * `minBytesPerSecond` (slowloris); 0 disables. Default 10 s.
   */
  readonly frameTimeout?: number;
  /** MTP: slowest accepted arrival of an incomplete frame's bytes after `frameTimeout`. Default 4096 B/s. */
  readonly minBytesPerSecond?: number;
  readonly logger?: TransportLogger;
}

/** Options of one channel: the shared ones plus its id. */
export interface ChannelInit extends ChannelOptions {
  /** Channel id (`m17`, `w18`…); a process-wide counter is used when omitted. */
  readonly id?: string;
  /** The options already resolved (shared by every channel of a listener); wins over the fields above. */
  readonly resolved?: ResolvedChannelOptions;
  /** The wheel for the idle timeout (shared by every channel of a listener); a process-wide one when omitted. */
  readonly wheel?: TimerWheel;
}

export type ResolvedChannelOptions = Required<Omit<ChannelOptions, 'logger'>>;

export const CHANNEL_DEFAULTS: ResolvedChannelOptions = {
  maxBodyLength: 1024 * 1024,
  maxGarbage: 64 * 1024,
  idleTimeout: 128_000,
  maxOutgoingBytes: 4 * 1024 * 1024,
  retryInterval: 120_000,
  maxTries: 3,
  ackTimeout: 120_000,
  maxPendingPackages: 64,
  closeGrace: 2_000,
  frameTimeout: 10_000,
  minBytesPerSecond: 4096,
};

/** The options with defaults filled in (explicit `undefined` also selects the default). */
export function resolveChannelOptions(options: ChannelOptions): ResolvedChannelOptions {
  const pick = <K extends keyof ResolvedChannelOptions>(key: K): ResolvedChannelOptions[K] =>
    options[key] ?? CHANNEL_DEFAULTS[key];
  return {
    maxBodyLength: pick('maxBodyLength'),
    maxGarbage: pick('maxGarbage'),
    idleTimeout: pick('idleTimeout'),
    maxOutgoingBytes: pick('maxOutgoingBytes'),
    retryInterval: pick('retryInterval'),
    maxTries: Math.max(1, pick('maxTries')),
    ackTimeout: pick('ackTimeout'),
    maxPendingPackages: pick('maxPendingPackages'),
    closeGrace: pick('closeGrace'),
    frameTimeout: pick('frameTimeout'),
    minBytesPerSecond: pick('minBytesPerSecond'),
  };
}

let channelSeq = 0;

/** A process-wide fallback channel id (`<prefix><n>`), for channels built outside a listener. */
export function nextChannelId(prefix: 'm' | 'w'): string {
  channelSeq += 1;
  return `${prefix}${channelSeq}`;
}

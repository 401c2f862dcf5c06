/** The station's configuration: one typed object, built by load-config.ts, passed down explicitly. */
import type { NeighbourSpec } from '../federation/neighbour-list.ts';

export type ProxyProtocolMode = 'off' | 'optional' | 'required';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LimitsConfig {
  /** Largest MTP body / WebSocket message accepted; bigger frames close the connection. */
  readonly maxFrameBytes: number;
  /** A connection that has not completed the handshake by then is closed. */
  readonly handshakeTimeoutMs: number;
  /** No inbound bytes for this long closes the connection (clients ping every ~16 s). */
  readonly idleTimeoutMs: number;
  /** Sustained messages per second per connection (token bucket refill rate). */
  readonly messagesPerSecond: number;
  /** Token bucket size: bursts up to this many messages are accepted. */
  readonly messageBurst: number;
  /** Rejections within one bucket period after which the connection is closed RATE_LIMITED. */
  readonly maxRateViolations: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  /** Messages held for an unbound connection until its handshake completes. */
  readonly maxHeldMessages: number;
  /** Bytes queued to a client before it is disconnected as a slow consumer. */
  readonly maxOutgoingBytes: number;
  /** Unparseable or rejected packages tolerated per connection before it is closed PROTOCOL_ERROR. */
  readonly maxProtocolErrors: number;
  // ---- hardening (issue 13) ----
  /** After `DIM!`, the stored backlog waits for the client's first message at most this long. */
  readonly backlogDelayMs: number;
  /**
   * Live pushes to a connection wait for its requested backlog to be written, at most this long without a
   * page (then they go out, and BACKLOG_HOLD_TIMEOUT is logged).
   */
  readonly backlogHoldMs: number;
  /** A frame incomplete for longer must keep arriving at `minBytesPerSecond` (else TOO_SLOW). */
  readonly frameTimeoutMs: number;
  /** Slowest accepted arrival of a frame's bytes (slowloris), in bytes per second. */
  readonly minBytesPerSecond: number;
}

export interface StationConfig {
  /** Listen address of the gateway (MTP and WebSocket on one port). */
  readonly host: string;
  readonly port: number;
  /** Host and port published in the station visa (what clients connect to). */
  readonly publicHost: string | undefined;
  readonly publicPort: number | undefined;
  readonly dataDir: string;
  readonly keyFile: string;
  /** Redis URL; undefined selects the embedded single-process engine. */
  readonly redisUrl: string | undefined;
  /** Prefix of every Redis key and stream name. */
  readonly redisPrefix: string;
  readonly proxyProtocol: ProxyProtocolMode;
  /** Verify every message's signature, even from the identity bound to the connection. */
  readonly verifyAllMessages: boolean;
  /** Neighbour stations allowed to relay messages of other senders (still verified). */
  readonly trustedStations: readonly string[];
  readonly logLevel: LogLevel;
  /** Inbound and store streams are split into this many shards (one receiver always in one shard). */
  readonly shards: number;
  /** ANS records: bot name → ID (e.g. archivist, announcer), for `NAME@anywhere` and `ans` queries. */
  readonly ans: Readonly<Record<string, string>>;
  /** Name of this process instance (consumer names, gateway ID); defaults to host-pid. */
  readonly instanceName: string | undefined;
  /**
   * Dispatcher and storage consumers: entries pending this long (ms) at a dead consumer are reclaimed by
   * another; undefined = the bus default (30 s).
   */
  readonly busClaimIdleMs: number | undefined;
  /**
   * How long a dispatcher serves a receiver's sessions and block list from its cache at most (ms; changes
   * are signalled at once, this bounds a lost signal). 0: no cache. Redis engine only.
   */
  readonly lookupCacheMs: number;
  readonly limits: LimitsConfig;

  // Redis Cluster and durability (issue 9)
  /**
   * When an acknowledged write (a published or stored message) counts as done, and so when the client's OK
   * is sent: `write` (applied by the master), `fsync` (in the master's append-only file; needs
   * `appendfsync always`), `replica` (a replica has it: `WAIT`). See src/redis/durability.ts.
   */
  readonly redisDurability: 'write' | 'fsync' | 'replica';
  /** `replica` durability: how long a write waits for a replica before failing (ms). */
  readonly redisReplicaTimeoutMs: number;
  // ---- hardening (issue 13) ----
  /**
   * Addresses (IPv4/IPv6 literals or CIDR blocks) of the proxies allowed to connect when the PROXY
   * protocol is on; connections from elsewhere are refused (PROXY_UNTRUSTED). Empty: any peer.
   */
  readonly trustedProxies: readonly string[];
  /** PEM certificate chain and private key: TLS (MTP over TLS, WSS) is then accepted on the same port. */
  readonly tlsCertFile: string | undefined;
  readonly tlsKeyFile: string | undefined;
  /** Operations: the ops HTTP server (metrics, health, admin API, dashboard) and the lame-duck drain. */
  readonly ops: OpsConfig;
  /** Push notifications (APNs, FCM, webhook); see PushConfig. */
  readonly push: PushConfig;
  // ---- federation (src/federation) ----
  /** Neighbour stations this station links to (config file, DIM_NEIGHBORS, DIM_STATIONS_FILE merged). */
  readonly neighbors: readonly NeighbourSpec[];
  /** Messages queued per neighbour before new ones stay stored here instead (default 10,000). */
  readonly federationQueueLimit: number;
  /** Longest pause between reconnect attempts to a neighbour (ms, default 30 s). */
  readonly federationMaxBackoffMs: number;
}

export interface OpsConfig {
  /** Listen address of the ops HTTP server (loopback unless configured). */
  readonly host: string;
  /** Its port; 0 picks a free one; undefined turns the server off. */
  readonly port: number | undefined;
  /** Bearer token of the admin API (kick, drain, dead-letter retry…); undefined disables the admin API. */
  readonly token: string | undefined;
  /** The ops URL other processes and dimctl use to reach this one (default http://host:port). */
  readonly publicUrl: string | undefined;
  /** SIGTERM drain: clients are closed gradually over this window (ms). */
  readonly drainWindowMs: number;
  /** The drain is forced to end (exit) after this long (ms). */
  readonly drainTimeoutMs: number;
}

export const DEFAULT_OPS: OpsConfig = {
  host: '127.0.0.1',
  port: 9395,
  token: undefined,
  publicUrl: undefined,
  drainWindowMs: 30_000,
  drainTimeoutMs: 60_000,
};

// ---- push notifications (src/push/) ------------------------------------------------------------------

export interface ApnsConfig {
  /** The `.p8` token-auth key file (read at startup, never logged). */
  readonly keyFile: string;
  readonly keyId: string;
  readonly teamId: string;
  /** Bundle ID for devices that report no `topic`. */
  readonly topic: string | undefined;
  /** Environment for devices that report no `sandbox` flag. */
  readonly sandbox: boolean;
  /** Endpoint overrides (tests, proxies); default api.push.apple.com / api.sandbox.push.apple.com. */
  readonly productionUrl: string | undefined;
  readonly sandboxUrl: string | undefined;
}

export interface FcmConfig {
  /** The service-account JSON file (read at startup, never logged). */
  readonly serviceAccountFile: string;
  /** API base URL override (default https://fcm.googleapis.com). */
  readonly url: string | undefined;
  /** Token endpoint override (default: the service account's token_uri). */
  readonly tokenUri: string | undefined;
  /** Android notification channel ID. */
  readonly channelId: string | undefined;
}

export interface WebhookConfig {
  readonly url: string;
  /** HMAC key (Standard Webhooks; `whsec_<base64>` or any string). Never logged. */
  readonly secret: string;
}

export interface PushConfig {
  readonly apns: ApnsConfig | undefined;
  readonly fcm: FcmConfig | undefined;
  readonly webhook: WebhookConfig | undefined;
  /** Extra CA certificates (PEM file) trusted for the providers' TLS (private gateways, tests). */
  readonly caFile: string | undefined;
  /** Messages for one user within this window make one notification (ms; 0 = none). */
  readonly coalesceMs: number;
  /** Push jobs run in parallel per worker process. */
  readonly concurrency: number;
  /** Runs per job, the first included. */
  readonly attempts: number;
  /** First retry delay (ms), doubled per attempt, with jitter, up to maxBackoffMs. */
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** Requests per second per provider (token bucket, burst = one second's worth). */
  readonly ratePerSecond: number;
  /** A job whose worker stops renewing its lock for this long is recovered by another worker (ms). */
  readonly lockDurationMs: number;
}

export const DEFAULT_PUSH: Omit<PushConfig, 'apns' | 'fcm' | 'webhook' | 'caFile'> = {
  coalesceMs: 1000,
  concurrency: 64,
  attempts: 8,
  backoffMs: 1000,
  maxBackoffMs: 5 * 60_000,
  ratePerSecond: 20_000,
  lockDurationMs: 30_000,
};

export const DEFAULT_LIMITS: LimitsConfig = {
  maxFrameBytes: 1024 * 1024,
  handshakeTimeoutMs: 30_000,
  idleTimeoutMs: 128_000,
  messagesPerSecond: 50,
  messageBurst: 200,
  maxRateViolations: 100,
  maxConnections: 100_000,
  maxConnectionsPerIp: 256,
  maxHeldMessages: 32,
  maxOutgoingBytes: 4 * 1024 * 1024,
  maxProtocolErrors: 16,
  backlogDelayMs: 1500,
  backlogHoldMs: 5000,
  frameTimeoutMs: 10_000,
  minBytesPerSecond: 4096,
};

/** The station's configuration: one typed object, built by load-config.ts, passed down explicitly. */

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
}

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
};

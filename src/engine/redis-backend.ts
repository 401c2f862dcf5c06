/**
 * The Redis engine's backend: the bus on Redis Streams (RedisMessageBus, its own connections) and the
 * session registry and stores on one shared ioredis connection. Several station processes share it.
 *
 * The shared connection runs like the bus's: offline queue disabled (a command issued while disconnected
 * waits, bounded, for the reconnection, then fails with BusError `BUS_UNAVAILABLE`), reconnecting forever.
 * Gateway liveness comes from the registry (`SET … PX` heartbeats); `cleanupDeadGateways()` removes the
 * sessions of gateways whose heartbeat expired — dispatchers call it periodically, or set
 * `cleanupIntervalMs` to run it here.
 */
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { RedisMessageBus } from '../bus/redis-message-bus.ts';
import type { RedisMessageBusOptions } from '../bus/redis-message-bus.ts';
import { silentLogger } from '../ops/logger.ts';
import { createRedisKeys } from '../redis/redis-keys.ts';
import { whenReady } from '../redis/when-ready.ts';
import { RedisSessionRegistry } from '../registry/redis-session-registry.ts';
import { RedisAccountStore } from '../storage/redis-account-store.ts';
import { RedisIdentityStore } from '../storage/redis-identity-store.ts';
import { RedisInboxStore } from '../storage/redis-inbox-store.ts';
import type { Backend } from './backend.ts';

export interface RedisBackendOptions {
  /** `redis://[:password@]host:port[/db]`. */
  readonly url: string;
  /** Key prefix (default `dim:`). */
  readonly prefix?: string;
  readonly logger?: Logger;
  /** How long a gateway counts as alive after its last heartbeat (ms, default 15,000: 3 periods of 5 s). */
  readonly heartbeatTtlMs?: number;
  /** Run `cleanupDeadGateways()` this often (ms); off by default (dispatchers call it). */
  readonly cleanupIntervalMs?: number;
  /** Inbox expiry (ms, default INBOX_TTL_MS). */
  readonly inboxTtlMs?: number;
  /** How long creation waits for Redis before failing (ms, default 10,000). */
  readonly startupWaitMs?: number;
  /** A store command without a reply after this long fails (ms, default 2000). */
  readonly commandTimeoutMs?: number;
  /** How long a store command waits for a (re)connection (ms, default 1000). */
  readonly connectWaitMs?: number;
  /** Options of the shared store connection, over the defaults. */
  readonly redis?: RedisOptions;
  /** Options of the bus (url, keys and logger come from above). */
  readonly bus?: Omit<RedisMessageBusOptions, 'url' | 'keys' | 'logger'>;
}

export interface RedisBackend extends Backend {
  readonly kind: 'redis';
  readonly bus: RedisMessageBus;
  readonly registry: RedisSessionRegistry;
  /** The shared store / registry connection. */
  readonly redis: Redis;
  /** Remove the sessions of gateways without a live heartbeat; returns how many were removed. */
  cleanupDeadGateways(): Promise<number>;
}

export const REDIS_BACKEND_DEFAULTS = {
  heartbeatTtlMs: 15_000,
  startupWaitMs: 10_000,
  commandTimeoutMs: 2000,
  connectWaitMs: 1000,
  maxReconnectDelayMs: 1000,
  /** ioredis keeps a 2 s timer after disconnecting a connection whose socket already failed. */
  disconnectTimeoutMs: 200,
} as const;

async function quit(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      redis.quit().catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }
  redis.disconnect();
}

export async function createRedisBackend(options: RedisBackendOptions): Promise<RedisBackend> {
  const logger = options.logger ?? silentLogger;
  const log = logger.child({ module: 'redis-backend' });
  const keys = createRedisKeys(options.prefix);
  const heartbeatTtlMs = options.heartbeatTtlMs ?? REDIS_BACKEND_DEFAULTS.heartbeatTtlMs;
  const commandTimeoutMs = options.commandTimeoutMs ?? REDIS_BACKEND_DEFAULTS.commandTimeoutMs;
  const connectWaitMs = options.connectWaitMs ?? REDIS_BACKEND_DEFAULTS.connectWaitMs;

  let down = false;
  let closed = false;
  const redis = new Redis(options.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(1000, commandTimeoutMs),
    // concurrent lookups and updates issued in the same tick share one write (see redis-message-bus.ts)
    enableAutoPipelining: true,
    retryStrategy: (times: number) =>
      Math.min(REDIS_BACKEND_DEFAULTS.maxReconnectDelayMs, 50 * 2 ** Math.min(times, 10)),
    disconnectTimeout: REDIS_BACKEND_DEFAULTS.disconnectTimeoutMs,
    ...options.redis,
  });
  redis.on('error', (err: Error) => {
    if (down || closed) return;
    down = true;
    log.warn({ code: 'STORE_UNAVAILABLE', err: err.message }, 'redis connection lost; reconnecting');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info({ code: 'STORE_RECOVERED' }, 'redis connection back');
  });

  const bus = new RedisMessageBus({
    ...options.bus,
    redis: { disconnectTimeout: REDIS_BACKEND_DEFAULTS.disconnectTimeoutMs, ...options.bus?.redis },
    url: options.url,
    keys,
    logger,
  });
  const common = { connectWaitMs, logger };
  const registry = new RedisSessionRegistry(redis, keys, common);
  const identities = new RedisIdentityStore(redis, keys, common);
  const accounts = new RedisAccountStore(redis, keys, common);
  const inbox = new RedisInboxStore(redis, keys, {
    ...common,
    ...(options.inboxTtlMs === undefined ? {} : { ttlMs: options.inboxTtlMs }),
  });

  let cleanup: ReturnType<typeof setInterval> | undefined;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(cleanup);
      await bus.close();
      await Promise.all([registry.close(), identities.close(), accounts.close(), inbox.close()]);
      closed = true;
      await quit(redis, commandTimeoutMs);
    })();
    return closing;
  };

  const startupWaitMs = options.startupWaitMs ?? REDIS_BACKEND_DEFAULTS.startupWaitMs;
  if (!(await whenReady(redis, startupWaitMs))) {
    await close();
    let where = 'redis';
    try {
      where = `redis at ${new URL(options.url).host}`;
    } catch {
      // not a URL ioredis understands either: the generic message will do
    }
    throw new Error(`${where} is not reachable (waited ${startupWaitMs} ms)`);
  }

  const cleanupDeadGateways = (): Promise<number> => registry.cleanupDeadGateways();
  if (options.cleanupIntervalMs !== undefined && options.cleanupIntervalMs > 0) {
    let running = false;
    cleanup = setInterval(() => {
      if (running) return;
      running = true;
      cleanupDeadGateways()
        .catch((err: unknown) => {
          log.warn({ code: 'GATEWAY_CLEANUP_FAILED', err: String(err) }, 'dead gateway cleanup failed');
        })
        .finally(() => {
          running = false;
        });
    }, options.cleanupIntervalMs);
    cleanup.unref();
  }

  return {
    kind: 'redis',
    keys,
    bus,
    registry,
    identities,
    accounts,
    inbox,
    redis,
    isGatewayAlive: (gatewayId) => registry.isGatewayAlive(gatewayId),
    heartbeat: (gatewayId) => registry.heartbeat(gatewayId, heartbeatTtlMs),
    cleanupDeadGateways,
    close,
  };
}

/**
 * The Redis engine's backend: the bus on Redis Streams (RedisMessageBus, its own connections) and the
 * session registry and stores on one shared ioredis client. Several station processes share it. The target
 * is a standalone Redis or a Redis Cluster (`url`, src/redis/redis-connection.ts); the durability mode
 * (src/redis/durability.ts) applies to publishes and to stored messages, metas, documents, logins and lists.
 *
 * The shared connection runs like the bus's: offline queue disabled (a command issued while disconnected
 * waits, bounded, for the reconnection, then fails with BusError `BUS_UNAVAILABLE`), reconnecting forever.
 * Gateway liveness comes from the registry (`SET … PX` heartbeats); `cleanupDeadGateways()` removes the
 * sessions of gateways whose heartbeat expired — dispatchers call it periodically, or set
 * `cleanupIntervalMs` to run it here.
 */
import type { RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { RedisMessageBus } from '../bus/redis-message-bus.ts';
import type { RedisMessageBusOptions } from '../bus/redis-message-bus.ts';
import { silentLogger } from '../ops/logger.ts';
import { RedisChangeFeed, RedisChangePublisher } from '../redis/change-signal.ts';
import { Durability } from '../redis/durability.ts';
import type { DurabilityOptions } from '../redis/durability.ts';
import { createRedisClient, parseRedisTarget, quitClient } from '../redis/redis-connection.ts';
import type { RedisClient } from '../redis/redis-connection.ts';
import { createRedisKeys } from '../redis/redis-keys.ts';
import { whenReady } from '../redis/when-ready.ts';
import { RedisSessionRegistry } from '../registry/redis-session-registry.ts';
import { RedisAccountStore } from '../storage/redis-account-store.ts';
import { RedisIdentityStore } from '../storage/redis-identity-store.ts';
import { RedisInboxStore } from '../storage/redis-inbox-store.ts';
import type { Backend } from './backend.ts';

export interface RedisBackendOptions {
  /** `DIM_REDIS_URL` syntax: one `redis://` URL (standalone) or several (cluster seed nodes). */
  readonly url: string;
  /** When an acknowledged write counts as done (default `write`). */
  readonly durability?: DurabilityOptions;
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
  /** The shared store / registry client. */
  readonly redis: RedisClient;
  readonly durability: Durability;
  /** Remove the sessions of gateways without a live heartbeat; returns how many were removed. */
  cleanupDeadGateways(): Promise<number>;
}

export const REDIS_BACKEND_DEFAULTS = {
  heartbeatTtlMs: 15_000,
  startupWaitMs: 10_000,
  commandTimeoutMs: 2000,
  connectWaitMs: 1000,
  maxReconnectDelayMs: 1000,
} as const;

export async function createRedisBackend(options: RedisBackendOptions): Promise<RedisBackend> {
  const logger = options.logger ?? silentLogger;
  const log = logger.child({ module: 'redis-backend' });
  const keys = createRedisKeys(options.prefix);
  const heartbeatTtlMs = options.heartbeatTtlMs ?? REDIS_BACKEND_DEFAULTS.heartbeatTtlMs;
  const commandTimeoutMs = options.commandTimeoutMs ?? REDIS_BACKEND_DEFAULTS.commandTimeoutMs;
  const connectWaitMs = options.connectWaitMs ?? REDIS_BACKEND_DEFAULTS.connectWaitMs;

  const target = parseRedisTarget(options.url);
  const durability = new Durability(options.durability);

  let down = false;
  let closed = false;
  // concurrent lookups and updates issued in the same tick share one write per node
  const redis = createRedisClient(target, {
    commandTimeoutMs,
    maxReconnectDelayMs: REDIS_BACKEND_DEFAULTS.maxReconnectDelayMs,
    ...(options.redis ? { redis: options.redis } : {}),
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

  const bus = new RedisMessageBus({ ...options.bus, url: target, keys, logger, durability });
  const common = { connectWaitMs, logger, durability };
  // sessions and block lists are cached by dispatchers: their writers signal changes
  const changes = new RedisChangePublisher(redis, keys, logger, connectWaitMs);
  const registry = new RedisSessionRegistry(redis, keys, { connectWaitMs, logger, changes });
  const identities = new RedisIdentityStore(redis, keys, common);
  const accounts = new RedisAccountStore(redis, keys, { ...common, changes });
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
      await quitClient(redis, commandTimeoutMs);
    })();
    return closing;
  };

  const startupWaitMs = options.startupWaitMs ?? REDIS_BACKEND_DEFAULTS.startupWaitMs;
  if (!(await whenReady(redis, startupWaitMs))) {
    await close();
    throw new Error(`redis at ${target.display} is not reachable (waited ${startupWaitMs} ms)`);
  }
  try {
    for (const problem of await durability.checkServers(redis)) {
      log.warn({ code: 'DURABILITY_NO_REPLICA', durability: durability.mode }, problem);
    }
  } catch (err) {
    await close();
    throw err;
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
    durability,
    isGatewayAlive: (gatewayId) => registry.isGatewayAlive(gatewayId),
    heartbeat: (gatewayId) => registry.heartbeat(gatewayId, heartbeatTtlMs),
    watchChanges: () => new RedisChangeFeed(redis, keys, { logger, timeoutMs: commandTimeoutMs }),
    cleanupDeadGateways,
    close,
  };
}

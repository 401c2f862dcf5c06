#!/usr/bin/env node
/**
 * Station process entry point (wiring only).
 *   node workers/station.ts [all | gateway | dispatcher | storage | push | bridge ...]
 * (workers/gateway.ts, dispatcher.ts, storage.ts and push.ts run one role each.)
 * Without DIM_REDIS_URL every role runs in this one process on the embedded in-memory engine.
 * Settings: environment variables / DIM_CONFIG_FILE (see README). SIGTERM / SIGINT drain in order;
 * SIGHUP reloads the TLS certificate. Everything on stdout is the JSON log (pino), fatal errors included.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { RedisClient } from '../src/redis/redis-connection.ts';
import { ConfigError, loadConfig } from '../src/config/load-config.ts';
import type { Backend } from '../src/engine/backend.ts';
import { createMemoryBackend } from '../src/engine/memory-backend.ts';
import { ALL_ROLES, StationNode } from '../src/engine/station-node.ts';
import type { Role } from '../src/engine/station-node.ts';
import { createStationIdentity, visaEndpoint } from '../src/identity/station-identity.ts';
import { loadOrCreateKeyFile } from '../src/identity/station-key-file.ts';
import { createLogger } from '../src/ops/logger.ts';
import type { Logger } from '../src/ops/logger.ts';
import { MemoryMessageBus } from '../src/bus/memory-message-bus.ts';
import { MemoryFederationStore } from '../src/federation/federation-store.ts';
import { MemoryInspector } from '../src/ops/memory-inspector.ts';
import { PromMetrics } from '../src/ops/metrics.ts';
import { OpsRuntime } from '../src/ops/ops-runtime.ts';
import { RedisInspector } from '../src/ops/redis-inspector.ts';
import type { StationInspector } from '../src/ops/station-inspector.ts';

const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

function parseRoles(args: string[]): Role[] {
  if (args.length === 0 || args.includes('all')) return [...ALL_ROLES];
  const roles: Role[] = [];
  for (const arg of args) {
    if (!(ALL_ROLES as readonly string[]).includes(arg))
      throw new ConfigError(`unknown role "${arg}" (all, gateway, dispatcher, storage, push, bridge)`);
    roles.push(arg as Role);
  }
  return roles;
}

/** The logger before the configuration is known (its errors must be JSON too). */
let processLogger: Logger | undefined;

async function main(args: readonly string[]): Promise<void> {
  const config = loadConfig(process.env, process.cwd());
  const roles = parseRoles([...args]);
  const logger = createLogger(config.logLevel);
  processLogger = logger;
  const instanceName = config.instanceName ?? `${hostname()}-${process.pid}`;
  const { identity, created } = await loadOrCreateKeyFile(config.keyFile, () =>
    createStationIdentity({
      host: config.publicHost,
      port: config.publicPort ?? config.port,
      now: Date.now() / 1000,
    }),
  );
  if (created) {
    logger.info(
      { code: 'IDENTITY_CREATED', station: identity.id.string, keyFile: config.keyFile },
      `created station identity ${identity.id.string} in ${config.keyFile}`,
    );
  }
  const published = visaEndpoint(identity);
  if (published.host === undefined) {
    logger.warn(
      { code: 'NO_PUBLIC_HOST', station: identity.id.string, keyFile: config.keyFile },
      'THE STATION VISA NAMES NO PUBLIC HOST: clients cannot find this station from its visa. Run `npm run identity -- update <key file> --host <public host> --port <public port>` and restart.',
    );
  } else if (
    (config.publicHost !== undefined && config.publicHost !== published.host) ||
    (config.publicPort !== undefined && config.publicPort !== published.port)
  ) {
    logger.warn(
      {
        code: 'VISA_ENDPOINT_STALE',
        visa: published,
        configured: { host: config.publicHost, port: config.publicPort },
      },
      'the visa publishes another host/port than DIM_PUBLIC_HOST/DIM_PUBLIC_PORT: run `npm run identity -- update` and restart',
    );
  }
  let backend: Backend;
  /** The Redis engine's shared connection (inspection, readiness, announcements). */
  let redis: RedisClient | undefined;
  if (config.redisUrl === undefined) {
    if (roles.length !== ALL_ROLES.length) {
      throw new ConfigError(
        'without DIM_REDIS_URL the embedded engine runs every role in one process (role "all")',
      );
    }
    logger.warn(
      { code: 'EMBEDDED_ENGINE' },
      'no DIM_REDIS_URL: embedded single-process engine; messages, sessions and stored data are kept in memory only and lost on restart',
    );
    backend = createMemoryBackend();
  } else {
    const { createRedisBackend } = await import('../src/engine/redis-backend.ts');
    const redisBackend = await createRedisBackend({
      url: config.redisUrl,
      prefix: config.redisPrefix,
      durability: { mode: config.redisDurability, replicaTimeoutMs: config.redisReplicaTimeoutMs },
      logger,
      // Dispatchers remove the sessions of gateways whose heartbeat expired (their messages stay stored).
      cleanupIntervalMs: roles.includes('dispatcher') ? 10_000 : undefined,
    });
    redis = redisBackend.redis;
    backend = redisBackend;
  }
  const metrics = new PromMetrics({ labels: { instance_name: instanceName } });
  const node = new StationNode({ config, identity, backend, roles, instanceName, logger, metrics });
  let inspector: StationInspector | undefined;
  if (redis !== undefined) {
    inspector = new RedisInspector({
      redis,
      keys: backend.keys,
      shards: config.shards,
    });
  } else if (backend.bus instanceof MemoryMessageBus) {
    inspector = new MemoryInspector({
      bus: backend.bus,
      keys: backend.keys,
      shards: config.shards,
      registry: backend.registry,
      inbox: backend.inbox,
      gateway: () =>
        node.gateway ? { id: node.gateway.id, connections: node.gateway.connectionCount } : undefined,
      version: VERSION,
      federation: () => {
        const store = node.federationStore;
        return store instanceof MemoryFederationStore ? store : undefined;
      },
    });
  }
  // Shutdown (SIGTERM, SIGINT, or an operator's drain): not ready → stop accepting → close clients over
  // the drain window → in-flight work finishes → exit. A second signal or the drain timeout forces the exit.
  let stopping = false;
  const stop = (reason: string): void => {
    if (stopping) {
      logger.warn({ code: 'SHUTDOWN_FORCED', reason }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    const windowMs = config.ops.drainWindowMs;
    logger.info({ code: 'SHUTDOWN', reason, drainWindowMs: windowMs }, 'draining');
    ops.draining();
    const hard = setTimeout(() => {
      logger.error(
        { code: 'SHUTDOWN_TIMEOUT', timeoutMs: config.ops.drainTimeoutMs },
        'drain did not finish in time: exiting',
      );
      process.exit(1);
    }, config.ops.drainTimeoutMs);
    hard.unref();
    node
      .close({ drainWindowMs: windowMs, beforeRelease: () => ops.close() })
      .then(
        () => {
          process.exitCode = 0;
        },
        (err: unknown) => {
          logger.error({ code: 'SHUTDOWN_FAILED', err }, 'drain failed');
          process.exitCode = 1;
        },
      )
      .finally(() => ops.close());
  };
  const ops = new OpsRuntime({
    config: config.ops,
    instanceName,
    roles,
    version: VERSION,
    host: hostname(),
    pid: process.pid,
    metrics,
    logger,
    redis,
    keys: backend.keys,
    inspector,
    gateway: () => node.gateway,
    onDrainRequested: () => setImmediate(() => stop('drain requested')),
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    logger.info({ code: 'SIGHUP' }, 'reloading the TLS certificate');
    node.gateway?.reloadTls();
  });
  const opsUrl = await ops.listen();
  if (opsUrl && config.logLevel !== 'silent')
    announcer(logger).info(
      { code: 'OPS_SERVER', url: opsUrl },
      `ops server ${opsUrl} (/metrics /healthz /readyz /dashboard /admin)`,
    );
  const address = await node.start();
  ops.started();
  logger.info(
    {
      code: 'STATION_STARTED',
      station: identity.id.string,
      roles,
      instance: instanceName,
      address,
      engine: backend.kind,
    },
    'station started',
  );
  if (address !== undefined && config.logLevel !== 'silent') {
    // The one line scripts and supervisors wait for (local-cluster.sh, test clusters): written at any log
    // level but `silent`, as a JSON log line like every other line on stdout.
    announcer(logger).info(
      { code: 'STATION_LISTENING', station: identity.id.string, roles, address },
      `station ${identity.id.string} listening on ${address.address}:${address.port} (${roles.join(', ')})`,
    );
  }
}

/**
 * The logger for the lines scripts and supervisors wait for (listening, ops server): written at any log
 * level but `silent`, as JSON lines like every other line on stdout.
 */
function announcer(logger: Logger): Logger {
  return logger.level === 'info' || logger.level === 'debug' || logger.level === 'trace'
    ? logger
    : createLogger('info');
}

/** Run a station process with the given role arguments; reports errors (JSON) and sets the exit code. */
export function runStation(args: readonly string[]): void {
  process.on('uncaughtException', (err: Error) => {
    (processLogger ?? createLogger('info')).fatal(
      { code: 'FATAL', err },
      `uncaught exception: ${err.message}`,
    );
    process.exit(1);
  });
  main(args).catch((err: unknown) => {
    const logger = processLogger ?? createLogger('info');
    if (err instanceof ConfigError) {
      logger.fatal(
        { code: 'CONFIG_INVALID', err: { message: err.message } },
        `configuration error: ${err.message}`,
      );
      process.exitCode = 78; // EX_CONFIG
      return;
    }
    logger.fatal({ code: 'FATAL', err }, `fatal: ${err instanceof Error ? err.message : String(err)}`);
    // whatever started before the failure (connections, listeners) would keep the process alive
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100).unref();
  });
}

if (import.meta.main) runStation(process.argv.slice(2));

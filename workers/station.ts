#!/usr/bin/env node
/**
 * Station process entry point (wiring only).
 *   node workers/station.ts [all | gateway | dispatcher | storage | push | bridge ...]
 * (workers/gateway.ts, dispatcher.ts, storage.ts and push.ts run one role each.)
 * Without DIM_REDIS_URL every role runs in this one process on the embedded in-memory engine.
 * Settings: environment variables / DIM_CONFIG_FILE (see README). SIGTERM / SIGINT drain in order;
 * SIGHUP reloads the TLS certificate. Everything on stdout is the JSON log (pino), fatal errors included.
 */
import { hostname } from 'node:os';
import { ConfigError, loadConfig } from '../src/config/load-config.ts';
import type { Backend } from '../src/engine/backend.ts';
import { createMemoryBackend } from '../src/engine/memory-backend.ts';
import { ALL_ROLES, StationNode } from '../src/engine/station-node.ts';
import type { Role } from '../src/engine/station-node.ts';
import { createStationIdentity, visaEndpoint } from '../src/identity/station-identity.ts';
import { loadOrCreateKeyFile } from '../src/identity/station-key-file.ts';
import { createLogger } from '../src/ops/logger.ts';
import type { Logger } from '../src/ops/logger.ts';

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
    backend = await createRedisBackend({
      url: config.redisUrl,
      prefix: config.redisPrefix,
      logger,
      // Dispatchers remove the sessions of gateways whose heartbeat expired (their messages stay stored).
      cleanupIntervalMs: roles.includes('dispatcher') ? 10_000 : undefined,
    });
  }
  const node = new StationNode({ config, identity, backend, roles, instanceName, logger });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ code: 'SHUTDOWN', signal }, 'draining');
    node.close().then(
      () => {
        process.exitCode = 0;
      },
      (err: unknown) => {
        logger.error({ code: 'SHUTDOWN_FAILED', err }, 'drain failed');
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    logger.info({ code: 'SIGHUP' }, 'reloading the TLS certificate');
    node.gateway?.reloadTls();
  });
  const address = await node.start();
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
    process.exitCode = 1;
  });
}

if (import.meta.main) runStation(process.argv.slice(2));

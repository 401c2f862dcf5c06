#!/usr/bin/env node
/**
 * Station process entry point (wiring only).
 *   node workers/station.ts [all | gateway | dispatcher | storage | push | bridge ...]
 * (workers/gateway.ts, dispatcher.ts, storage.ts and push.ts run one role each.)
 * Without DIM_REDIS_URL every role runs in this one process on the embedded in-memory engine.
 * Settings: environment variables / DIM_CONFIG_FILE (see README). SIGTERM / SIGINT drain in order.
 */
import { hostname } from 'node:os';
import { ConfigError, loadConfig } from '../src/config/load-config.ts';
import type { Backend } from '../src/engine/backend.ts';
import { createMemoryBackend } from '../src/engine/memory-backend.ts';
import { ALL_ROLES, StationNode } from '../src/engine/station-node.ts';
import type { Role } from '../src/engine/station-node.ts';
import { createStationIdentity } from '../src/identity/station-identity.ts';
import { loadOrCreateKeyFile } from '../src/identity/station-key-file.ts';
import { createLogger } from '../src/ops/logger.ts';

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

async function main(args: readonly string[]): Promise<void> {
  const config = loadConfig(process.env, process.cwd());
  const roles = parseRoles([...args]);
  const logger = createLogger(config.logLevel);
  const instanceName = config.instanceName ?? `${hostname()}-${process.pid}`;
  const { identity, created } = await loadOrCreateKeyFile(config.keyFile, () =>
    createStationIdentity({
      host: config.publicHost,
      port: config.publicPort ?? config.port,
      now: Date.now() / 1000,
    }),
  );
  if (created) {
    process.stdout.write(`created station identity ${identity.id.string} in ${config.keyFile}\n`);
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
  if (address)
    process.stdout.write(
      `station ${identity.id.string} listening on ${address.address}:${address.port} (${roles.join(', ')})\n`,
    );
}

/** Run a station process with the given role arguments; reports errors and sets the exit code. */
export function runStation(args: readonly string[]): void {
  main(args).catch((err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exitCode = 78; // EX_CONFIG
      return;
    }
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}

if (import.meta.main) runStation(process.argv.slice(2));

#!/usr/bin/env node
/**
 * dimctl entry point (wiring only): settings from the station's config loader (DIM_REDIS_URL,
 * DIM_REDIS_PREFIX, DIM_SHARDS, DIM_OPS_TOKEN…), an ioredis client, and the exit code. See src/ops/dimctl.ts.
 *   npm run dimctl -- status      node workers/dimctl.ts --json streams
 */
import { Redis } from 'ioredis';
import { ConfigError, loadConfig } from '../src/config/load-config.ts';
import { EXIT, runDimctl } from '../src/ops/dimctl.ts';

async function openRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 3000,
    commandTimeout: 5000,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined); // reported by connect() below
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Error(`cannot reach redis at ${new URL(url).host}: ${(err as Error).message}`);
  }
  return redis;
}

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(process.env, process.cwd());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`dimctl: configuration error: ${err.message}\n`);
      return EXIT.USAGE;
    }
    throw err;
  }
  return runDimctl(
    process.argv.slice(2),
    {
      redisUrl: config.redisUrl,
      prefix: config.redisPrefix,
      shards: config.shards,
      token: config.ops.token,
      openRedis,
    },
    { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) },
  );
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`dimctl: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = EXIT.UNAVAILABLE;
  },
);

/**
 * Shared setup of the Redis store / registry integration tests: one private redis-server per test file,
 * clients that are all closed in `after`, a fresh key prefix per store (tests never see each other's data),
 * and a pino logger whose lines can be inspected.
 */
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { createRedisKeys } from '../../../src/redis/redis-keys.ts';
import type { RedisKeys } from '../../../src/redis/redis-keys.ts';
import { startRedisServer } from '../../helpers/redis-server.ts';
import type { RedisServer } from '../../helpers/redis-server.ts';

export interface RedisFixture {
  readonly server: RedisServer;
  /** A client opened for this test file (closed in `after`). */
  client(): Redis;
  /** The shared client of the test file. */
  readonly redis: Redis;
  /** Keys under a prefix no other store of this run uses. */
  freshKeys(): RedisKeys;
}

/** Registers `before` / `after` hooks; use the returned fixture inside tests only. */
export function useRedis(): RedisFixture {
  let server: RedisServer | undefined;
  let shared: Redis | undefined;
  const clients: Redis[] = [];
  let n = 0;
  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    await Promise.all(
      clients.map((c) => (c.status === 'ready' ? c.quit().catch(() => c.disconnect()) : c.disconnect())),
    );
    await server?.dispose();
  });
  const fixture: RedisFixture = {
    get server() {
      if (!server) throw new Error('redis-server not started (use the fixture inside tests)');
      return server;
    },
    client() {
      const client = new Redis(fixture.server.url, { maxRetriesPerRequest: 1, disconnectTimeout: 100 });
      client.on('error', () => undefined); // tests that stop the server see the failures where they happen
      clients.push(client);
      return client;
    },
    get redis() {
      shared ??= fixture.client();
      return shared;
    },
    freshKeys() {
      n += 1;
      return createRedisKeys(`t${n}:`);
    },
  };
  return fixture;
}

export interface LogLine {
  readonly level: number;
  readonly code?: string;
  readonly msg?: string;
  readonly [field: string]: unknown;
}

/** A logger that records its lines (warn and above by default). */
export function captureLogger(level = 'warn'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino(
    { level },
    {
      write(line: string) {
        lines.push(JSON.parse(line) as LogLine);
      },
    },
  );
  return { logger, lines };
}

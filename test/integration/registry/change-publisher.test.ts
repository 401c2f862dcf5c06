/**
 * A change signal issued while Redis is restarting waits for the reconnection, like the write it follows,
 * instead of being dropped at once (then caches elsewhere would keep the old value until their TTL).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RedisChangePublisher } from '../../../src/redis/change-signal.ts';
import { createRedisClient, parseRedisTarget, quitClient } from '../../../src/redis/redis-connection.ts';
import type { RedisClient } from '../../../src/redis/redis-connection.ts';
import { createRedisKeys } from '../../../src/redis/redis-keys.ts';
import { whenReady } from '../../../src/redis/when-ready.ts';
import { startRedisServer } from '../../helpers/redis-server.ts';
import type { RedisServer } from '../../helpers/redis-server.ts';
import { captureLogger } from '../storage/redis-fixture.ts';

describe('RedisChangePublisher during a Redis restart', () => {
  let server: RedisServer;
  let client: RedisClient;

  before(async () => {
    server = await startRedisServer();
    client = createRedisClient(parseRedisTarget(server.url), {
      commandTimeoutMs: 2000,
      maxReconnectDelayMs: 100,
    });
    client.on('error', () => undefined);
    assert.ok(await whenReady(client, 5000));
  });

  after(async () => {
    if (client) await quitClient(client, 500);
    await server?.dispose();
  });

  it('publishes once Redis is back, logging nothing', async () => {
    const { logger, lines } = captureLogger();
    const publisher = new RedisChangePublisher(client, createRedisKeys('sig:'), logger, 10_000);
    await server.stop();
    await new Promise((resolve) => setTimeout(resolve, 100)); // the client has seen the connection end
    const signalled = publisher.changed('sessions', 'alice@x');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await server.start();
    await signalled;
    assert.deepEqual(
      lines.filter((l) => l['code'] === 'CHANGE_SIGNAL_FAILED'),
      [],
      'not dropped',
    );
    // the restarted server (fresh statistics) ran the PUBLISH
    const stats = String(await client.call('INFO', 'commandstats'));
    assert.match(stats, /cmdstat_publish:calls=1,/);
  });
});

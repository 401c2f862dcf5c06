import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRedisBackend } from '../../../src/engine/redis-backend.ts';
import { useRedis } from './redis-fixture.ts';

const fx = useRedis();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('createRedisBackend', () => {
  it('wires the bus, registry and stores on Redis, with liveness and dead gateway cleanup', async () => {
    const backend = await createRedisBackend({
      url: fx.server.url,
      prefix: 'backend-test:',
      heartbeatTtlMs: 150,
      cleanupIntervalMs: 40,
    });
    try {
      assert.equal(backend.kind, 'redis');
      assert.equal(backend.keys.prefix, 'backend-test:');
      assert.equal(await backend.isGatewayAlive('gw1'), false);
      await backend.heartbeat('gw1');
      assert.equal(await backend.isGatewayAlive('gw1'), true);
      await backend.registry.bind({
        gatewayId: 'gw1',
        connId: 'c1',
        user: 'alice',
        terminal: undefined,
        active: true,
        since: 1,
      });
      assert.equal((await backend.registry.sessionsOf('alice')).length, 1);
      assert.equal(
        await backend.inbox.put('alice', {
          sig: 's',
          time: 1,
          storedAt: Date.now(),
          terminal: undefined,
          json: '{}',
        }),
        true,
      );
      assert.equal(await backend.inbox.count('alice'), 1);
      const stream = backend.keys.inboundStream(0);
      assert.match(await backend.bus.publish(stream, { p: '{"x":1}' }), /^\d+-\d+$/);
      assert.equal(await backend.bus.length(stream), 1);
      assert.deepEqual(
        (await fx.redis.keys('backend-test:*')).sort(),
        [
          backend.keys.gatewayHeartbeat('gw1'),
          backend.keys.gatewaySessions('gw1'),
          backend.keys.gateways(),
          backend.keys.inbox('alice'),
          backend.keys.inboxByStoredAt('alice'),
          backend.keys.inboxCursors('alice'),
          backend.keys.inboxMessages('alice'),
          stream,
          backend.keys.userSessions('alice'),
          backend.keys.sessionsEpoch('alice'),
        ].sort(),
        'every key under the prefix',
      );
      // no more heartbeats: the periodic cleanup drops the gateway's sessions
      const deadline = Date.now() + 2000;
      while ((await backend.registry.sessionsOf('alice')).length > 0 && Date.now() < deadline)
        await sleep(20);
      assert.deepEqual(await backend.registry.sessionsOf('alice'), []);
      assert.equal(await backend.cleanupDeadGateways(), 0);
    } finally {
      const first = backend.close();
      assert.equal(backend.close(), first, 'close() is idempotent');
      await first;
      await backend.close();
    }
    await sleep(10);
    assert.deepEqual([backend.redis.status, backend.bus.redis.status], ['end', 'end']);
  });

  it('fails clearly, and leaves nothing running, when Redis cannot be reached', async () => {
    const server = fx.server;
    const url = server.url;
    await server.stop();
    try {
      await assert.rejects(
        createRedisBackend({ url, startupWaitMs: 300 }),
        /redis at 127\.0\.0\.1:\d+ is not reachable \(waited 300 ms\)/,
      );
    } finally {
      await server.start();
    }
  });
});

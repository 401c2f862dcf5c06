import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sessionRegistryContract } from '../../contract/session-registry.contract.ts';
import { sessionsEpochContract } from '../../contract/sessions-epoch.contract.ts';
import { RedisInboxStore } from '../../../src/storage/redis-inbox-store.ts';
import { RedisSessionRegistry } from '../../../src/registry/redis-session-registry.ts';
import type { SessionRecord } from '../../../src/registry/session-registry.ts';
import { captureLogger, useRedis } from '../storage/redis-fixture.ts';

const fx = useRedis();

sessionRegistryContract('redis', async () => new RedisSessionRegistry(fx.redis, fx.freshKeys()));
sessionsEpochContract('redis', async () => {
  const keys = fx.freshKeys();
  const registry = new RedisSessionRegistry(fx.redis, keys);
  const inbox = new RedisInboxStore(fx.redis, keys);
  return {
    registry,
    inbox,
    close: () => Promise.all([registry.close(), inbox.close()]).then(() => undefined),
  };
});

const session = (gatewayId: string, connId: string, user: string, terminal?: string): SessionRecord => ({
  gatewayId,
  connId,
  user,
  terminal,
  active: true,
  since: 1,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('RedisSessionRegistry', () => {
  it("removes a dead gateway's sessions once its heartbeat expires", async () => {
    const keys = fx.freshKeys();
    const { logger, lines } = captureLogger('info');
    const registry = new RedisSessionRegistry(fx.redis, keys, { logger, dropBatch: 2, aliveCacheMs: 0 });
    await registry.heartbeat('gw-dead', 100);
    await registry.heartbeat('gw-live', 10_000);
    for (let i = 0; i < 5; i++) await registry.bind(session('gw-dead', `c${i}`, i % 2 ? 'alice' : 'bob'));
    await registry.bind(session('gw-live', 'c0', 'alice', 'phone'));
    await fx.redis.xadd(keys.deliveryStream('gw-dead'), '*', 'p', 'undelivered');
    await fx.redis.xadd(keys.deliveryStream('gw-live'), '*', 'p', 'in flight');
    assert.equal(await registry.isGatewayAlive('gw-dead'), true);
    assert.equal(await registry.cleanupDeadGateways(), 0, 'nothing is dead yet');
    assert.equal((await registry.sessionsOf('alice')).length, 3);

    await sleep(150);
    assert.equal(await registry.isGatewayAlive('gw-dead'), false);
    assert.equal(await registry.cleanupDeadGateways(), 5);
    assert.deepEqual(await registry.sessionsOf('alice'), [session('gw-live', 'c0', 'alice', 'phone')]);
    assert.deepEqual(await registry.sessionsOf('bob'), []);
    assert.deepEqual(await fx.redis.smembers(keys.gateways()), ['gw-live'], 'the dead gateway is forgotten');
    assert.equal(await fx.redis.exists(keys.gatewaySessions('gw-dead')), 0);
    assert.equal(
      await fx.redis.exists(keys.deliveryStream('gw-dead')),
      0,
      "the dead gateway's stream is gone",
    );
    assert.equal(await fx.redis.exists(keys.deliveryStream('gw-live')), 1, "a live gateway's stream is kept");
    assert.equal(await registry.cleanupDeadGateways(), 0, 'idempotent');
    assert.ok(lines.some((l) => l.code === 'GATEWAY_SESSIONS_DROPPED' && l['sessions'] === 5));

    // a gateway that comes back binds again and is known again
    await registry.heartbeat('gw-dead', 10_000);
    await registry.bind(session('gw-dead', 'c9', 'bob'));
    assert.equal(await registry.cleanupDeadGateways(), 0);
    assert.equal((await registry.sessionsOf('bob')).length, 1);
  });

  it("dropGateway removes a gateway's sessions even while its heartbeat is current (a restart)", async () => {
    const keys = fx.freshKeys();
    const registry = new RedisSessionRegistry(fx.redis, keys, { dropBatch: 2, aliveCacheMs: 0 });
    await registry.heartbeat('gw1', 10_000);
    await registry.heartbeat('gw2', 10_000);
    for (let i = 0; i < 5; i++) await registry.bind(session('gw1', `c${i}`, i % 2 ? 'alice' : 'bob'));
    await registry.bind(session('gw2', 'c0', 'alice'));
    assert.equal(await registry.cleanupDeadGateways(), 0, 'alive: not dead');
    // deliveries to the previous process's connections, in the consumer group an older version read them in
    await fx.redis.xadd(keys.deliveryStream('gw1'), '*', 't', 'deliver');
    await fx.redis.xgroup('CREATE', keys.deliveryStream('gw1'), 'gateway', '0');
    assert.equal(await registry.dropGateway('gw1'), 5);
    assert.equal(
      await fx.redis.exists(keys.deliveryStream('gw1')),
      0,
      'its delivery stream and group are gone',
    );
    assert.deepEqual(await registry.sessionsOf('alice'), [session('gw2', 'c0', 'alice')]);
    assert.deepEqual(await registry.sessionsOf('bob'), []);
    assert.equal(await fx.redis.exists(keys.gatewaySessions('gw1')), 0);
    assert.deepEqual(await fx.redis.hkeys(keys.userSessions('bob')), []);
    assert.equal(await registry.isGatewayAlive('gw1'), true, 'the heartbeat is not touched');
  });

  it('caches liveness answers for a short while', async () => {
    const keys = fx.freshKeys();
    let now = 0;
    const registry = new RedisSessionRegistry(fx.redis, keys, { now: () => now, aliveCacheMs: 1000 });
    assert.equal(await registry.isGatewayAlive('gw1'), false);
    await fx.redis.set(keys.gatewayHeartbeat('gw1'), '1', 'PX', 10_000);
    assert.equal(await registry.isGatewayAlive('gw1'), false, 'cached');
    now = 1001;
    assert.equal(await registry.isGatewayAlive('gw1'), true);
    await fx.redis.del(keys.gatewayHeartbeat('gw1'));
    assert.equal(await registry.isGatewayAlive('gw1'), true, 'cached');
    now = 2002;
    assert.equal(await registry.isGatewayAlive('gw1'), false);
    await registry.heartbeat('gw1', 5000);
    assert.equal(await registry.isGatewayAlive('gw1'), true, 'its own heartbeat refreshes the cache');
    const ttl = await fx.redis.pttl(keys.gatewayHeartbeat('gw1'));
    assert.ok(ttl > 4000 && ttl <= 5000, `heartbeat TTL ${ttl}`);
  });

  it('keeps sessions across connections and ignores records that do not parse', async () => {
    const keys = fx.freshKeys();
    const writer = new RedisSessionRegistry(fx.client(), keys);
    await writer.bind(session('gw1', 'c1', 'alice', 'phone'));
    await writer.bind(session('gw1', 'c2', 'alice'));
    const reader = new RedisSessionRegistry(fx.client(), keys);
    assert.equal((await reader.sessionsOf('alice')).length, 2);
    await fx.redis.hset(keys.userSessions('alice'), 'gw1/c2', 'garbage', 'no-slash', '1abcdefabcdef{}');
    assert.deepEqual(await reader.sessionsOf('alice'), [session('gw1', 'c1', 'alice', 'phone')]);
    // another process unbinds and deactivates through the gateway's index
    await reader.setActive('gw1', 'c1', false);
    assert.deepEqual(await writer.sessionsOf('alice'), [
      { ...session('gw1', 'c1', 'alice', 'phone'), active: false },
    ]);
    await reader.unbind('gw1', 'c1');
    assert.deepEqual(await writer.sessionsOf('alice'), []);
    assert.equal(await fx.redis.hexists(keys.gatewaySessions('gw1'), 'c1'), 0);
  });

  it('a late removal of an earlier bind never removes a newer bind of the same connection', async () => {
    const keys = fx.freshKeys();
    const old = new RedisSessionRegistry(fx.client(), keys);
    const fresh = new RedisSessionRegistry(fx.client(), keys);
    await old.bind(session('gw1', 'c1', 'alice'));
    // the gateway restarts under its name: its connection c1 is bound again (to bob, then alice)
    await fresh.bind(session('gw1', 'c1', 'bob'));
    assert.deepEqual(await fresh.sessionsOf('alice'), [], 'rebinding to another user moves the session');
    await fresh.bind(session('gw1', 'c1', 'alice', 'tablet'));
    assert.deepEqual(await fresh.sessionsOf('bob'), []);
    // the old process, which still remembers its own bind, unbinds late: the new bind stays
    await old.setActive('gw1', 'c1', false);
    await old.unbind('gw1', 'c1');
    assert.deepEqual(await fresh.sessionsOf('alice'), [session('gw1', 'c1', 'alice', 'tablet')]);
  });

  it('refuses gateway IDs with a slash', async () => {
    const registry = new RedisSessionRegistry(fx.redis, fx.freshKeys());
    await assert.rejects(registry.bind(session('a/b', 'c1', 'alice')), RangeError);
    await assert.rejects(registry.heartbeat('', 1000), RangeError);
  });
});

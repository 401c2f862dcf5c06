import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deviceStoreContract } from '../../contract/device-store.contract.ts';
import { pushStateContract } from '../../contract/push-state.contract.ts';
import { RedisDeviceStore } from '../../../src/push/redis-device-store.ts';
import { RedisPushState } from '../../../src/push/redis-push-state.ts';
import { captureLogger, useRedis } from '../storage/redis-fixture.ts';

const fx = useRedis();

deviceStoreContract('redis', async () => new RedisDeviceStore(fx.redis, fx.freshKeys()));
pushStateContract('redis', async () => new RedisPushState(fx.redis, fx.freshKeys()));

describe('Redis push stores', () => {
  it('device tokens survive a new connection; a corrupt list is logged and ignored', async () => {
    const keys = fx.freshKeys();
    const { logger, lines } = captureLogger();
    const writer = new RedisDeviceStore(fx.client(), keys);
    await writer.put('alice', { platform: 'android', token: 'fcm-1', channel: 'firebase', time: 5 });
    const reader = new RedisDeviceStore(fx.client(), keys, { logger });
    assert.deepEqual(
      (await reader.list('alice')).map((d) => d.token),
      ['fcm-1'],
    );
    await fx.redis.set(keys.pushDevices('bob'), 'not json');
    assert.deepEqual(await reader.list('bob'), []);
    assert.ok(lines.some((l) => l['code'] === 'DEVICE_LIST_CORRUPT'));
  });

  it('every key of one user shares a cluster hash tag; the queue prefix is one hash tag', () => {
    const keys = fx.freshKeys();
    const tag = (k: string): string | undefined => /\{([^}]*)\}/.exec(k)?.[1];
    const user = 'alice@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk';
    const all = [
      keys.pushDevices(user),
      keys.pushSeen(user, 'x'),
      keys.pushPending(user),
      keys.pushBadge(user),
      keys.pushBatch(user, 'job'),
    ];
    assert.deepEqual(new Set(all.map(tag)), new Set([user]));
    assert.match(keys.pushQueuePrefix(), /^\{[^{}]+push\}$/);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { accountStoreContract } from '../../contract/account-store.contract.ts';
import { parseId } from '../../../src/protocol/mkm/identifier.ts';
import { RedisAccountStore } from '../../../src/storage/redis-account-store.ts';
import { captureLogger, useRedis } from './redis-fixture.ts';

const fx = useRedis();

accountStoreContract('redis', async () => new RedisAccountStore(fx.redis, fx.freshKeys()));

const alice = parseId('alice@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk');

describe('RedisAccountStore', () => {
  it('keeps logins and lists across connections', async () => {
    const keys = fx.freshKeys();
    const writer = new RedisAccountStore(fx.client(), keys);
    const record = { time: 10, terminal: 'phone', station: undefined, message: { sender: alice.string } };
    await writer.putLogin(alice, record);
    await writer.putList(alice, 'mute', ['bob']);
    const reader = new RedisAccountStore(fx.client(), keys);
    assert.deepEqual(await reader.getLogins(alice), [record]);
    assert.deepEqual(await reader.getList(alice, 'mute'), ['bob']);
    assert.equal(await reader.putList(alice, 'mute', ['bob']), false);
    assert.equal(await reader.putLogin(alice, { ...record, time: 9 }), false);
  });

  it('ignores corrupt stored values with a log', async () => {
    const keys = fx.freshKeys();
    const { logger, lines } = captureLogger();
    const store = new RedisAccountStore(fx.redis, keys, { logger });
    await store.putLogin(alice, { time: 10, terminal: undefined, station: undefined, message: {} });
    await fx.redis.hset(keys.login(alice.string), 'phone', 'garbage', 'tablet', '{"time":"x"}');
    assert.deepEqual(
      (await store.getLogins(alice)).map((l) => l.time),
      [10],
    );
    await fx.redis.set(keys.blockList(alice.string), '{"not":"a list"}');
    assert.equal(await store.getList(alice, 'block'), undefined);
    assert.equal(await store.putList(alice, 'block', []), true, 'a corrupt list counts as changed');
    assert.deepEqual(
      lines.map((l) => l.code),
      ['LOGIN_CORRUPT', 'LOGIN_CORRUPT', 'ACCOUNT_LIST_CORRUPT'],
    );
  });
});

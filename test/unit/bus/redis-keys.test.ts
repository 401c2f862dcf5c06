import { it } from 'node:test';
import assert from 'node:assert/strict';
import calculateSlot from 'cluster-key-slot';
import { createRedisKeys, fnv1a32, shardOf } from '../../../src/redis/redis-keys.ts';

it('hashes with FNV-1a over UTF-8 (published test values)', () => {
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  // Non-ASCII text hashes its UTF-8 bytes, not UTF-16 code units.
  assert.equal(fnv1a32('\u00e9'), 0x1e9de8c1, 'bytes c3 a9');
});

it('puts a receiver in a stable shard', () => {
  const id = 'moky@4DnqXWdTV8wuZgfqSCX9GjE2kNq7HJrUgQ';
  assert.equal(shardOf(id, 1), 0);
  assert.equal(shardOf(id, 4), fnv1a32(id) % 4);
  assert.equal(shardOf(id, 4), shardOf(id, 4));
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i++) counts[shardOf(`user${i}@address`, 4)]!++;
  for (const n of counts) assert.ok(n > 800 && n < 1200, `balanced: ${counts.join(',')}`);
  assert.throws(() => shardOf(id, 0), RangeError);
  assert.throws(() => shardOf(id, 1.5), RangeError);
  const keys = createRedisKeys();
  assert.equal(keys.inboundShardOf(id, 8), shardOf(id, 8));
});

it('names every key under the prefix', () => {
  const keys = createRedisKeys('x:');
  assert.equal(keys.prefix, 'x:');
  const names = [
    keys.inboundStream(3),
    keys.deliveryStream('gw-1'),
    keys.storeStream(0),
    keys.gatewaySessions('gw-1'),
    keys.documentTimes('alice@addr'),
    keys.loginTimes('alice@addr'),
    keys.userSessions('alice@addr'),
    keys.gatewayHeartbeat('gw-1'),
    keys.gateways(),
    keys.inbox('alice@addr'),
    keys.inboxByStoredAt('alice@addr'),
    keys.inboxTerminals('alice@addr'),
    keys.inboxCursors('alice@addr'),
    keys.inboxMessages('alice@addr'),
    keys.inboxTargets('alice@addr'),
    keys.inboxDelivered('alice@addr'),
    keys.meta('alice@addr'),
    keys.documents('alice@addr'),
    keys.login('alice@addr'),
    keys.blockList('alice@addr'),
    keys.muteList('alice@addr'),
  ];
  for (const name of names) assert.ok(name.startsWith('x:'), name);
  assert.equal(new Set(names).size, names.length, 'all distinct');
  assert.equal(createRedisKeys().inboundStream(3), 'dim:inbound:{3}');
  assert.throws(() => keys.inboundStream(-1), RangeError);
});

it('keeps keys that one script touches in one cluster slot (same hash tag)', () => {
  const keys = createRedisKeys();
  const tag = (key: string) => /\{([^}]+)\}/.exec(key)?.[1];
  const stream = keys.inboundStream(2);
  assert.equal(keys.deadLetterStream(stream), `${stream}:dead`);
  assert.equal(tag(keys.deadLetterStream(stream)), tag(stream));
  const user = 'alice@addr';
  for (const key of [
    keys.inbox(user),
    keys.inboxByStoredAt(user),
    keys.inboxTerminals(user),
    keys.inboxCursors(user),
    keys.inboxMessages(user),
    keys.inboxTargets(user),
    keys.inboxDelivered(user),
  ]) {
    assert.equal(tag(key), user, key);
  }
});

it('puts the keys of every script call in one cluster slot (CRC16 of the hash tag, as Redis computes it)', () => {
  for (const prefix of ['dim:', 'x:']) {
    const keys = createRedisKeys(prefix);
    const user = 'moky@4DnqXWdTV8wuZgfqSCX9GjE2kNq7HJrUgQ';
    const gw = 'gateway-7';
    const same = (...names: string[]) =>
      assert.equal(new Set(names.map((n) => calculateSlot(n))).size, 1, names.join(' '));
    same(keys.documents(user), keys.documentTimes(user));
    same(keys.login(user), keys.loginTimes(user));
    same(keys.gatewayHeartbeat(gw), keys.gatewaySessions(gw), keys.deliveryStream(gw));
    same(
      keys.inbox(user),
      keys.inboxMessages(user),
      keys.inboxDelivered(user),
      keys.pushDevices(user),
      keys.userSessions(user),
    );
    for (const stream of [keys.inboundStream(1), keys.storeStream(2), keys.deliveryStream(gw)]) {
      same(stream, keys.deadLetterStream(stream));
    }
  }
});

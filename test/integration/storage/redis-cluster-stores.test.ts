/**
 * The stores and the session registry on a real local Redis Cluster (3 masters, 3 replicas): the same
 * contracts as on a standalone Redis, through the station's cluster client, plus a check that the
 * replica durability mode waits for a replica. One cluster for the whole file.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { accountStoreContract } from '../../contract/account-store.contract.ts';
import { identityStoreContract } from '../../contract/identity-store.contract.ts';
import { sessionRegistryContract } from '../../contract/session-registry.contract.ts';
import { sessionsEpochContract } from '../../contract/sessions-epoch.contract.ts';
import { RedisInboxStore } from '../../../src/storage/redis-inbox-store.ts';
import { parseId } from '../../../src/protocol/mkm/identifier.ts';
import { Durability } from '../../../src/redis/durability.ts';
import { createRedisClient, parseRedisTarget, quitClient } from '../../../src/redis/redis-connection.ts';
import type { RedisClient } from '../../../src/redis/redis-connection.ts';
import { createRedisKeys } from '../../../src/redis/redis-keys.ts';
import { whenReady } from '../../../src/redis/when-ready.ts';
import { RedisSessionRegistry } from '../../../src/registry/redis-session-registry.ts';
import { RedisAccountStore } from '../../../src/storage/redis-account-store.ts';
import { RedisIdentityStore } from '../../../src/storage/redis-identity-store.ts';
import { RedisCluster } from '../../helpers/redis-cluster.ts';

let cluster: RedisCluster | undefined;
let client: RedisClient | undefined;
let n = 0;

before(async () => {
  cluster = await RedisCluster.start({ appendfsync: 'everysec' });
  client = createRedisClient(parseRedisTarget(cluster.url), {
    commandTimeoutMs: 2000,
    maxReconnectDelayMs: 500,
  });
  client.on('error', () => undefined);
  assert.ok(await whenReady(client, 10_000), 'cluster client ready');
});

after(async () => {
  if (client) await quitClient(client, 1000);
  await cluster?.dispose();
});

const redis = (): RedisClient => {
  if (!client) throw new Error('no cluster client (use inside tests)');
  return client;
};
const freshKeys = () => createRedisKeys(`c${++n}:`);

sessionRegistryContract('redis cluster', async () => new RedisSessionRegistry(redis(), freshKeys()));
sessionsEpochContract('redis cluster', async () => {
  const keys = freshKeys();
  const registry = new RedisSessionRegistry(redis(), keys);
  const inbox = new RedisInboxStore(redis(), keys);
  return {
    registry,
    inbox,
    close: () => Promise.all([registry.close(), inbox.close()]).then(() => undefined),
  };
});
identityStoreContract('redis cluster', async () => new RedisIdentityStore(redis(), freshKeys()));
accountStoreContract('redis cluster', async () => new RedisAccountStore(redis(), freshKeys()));

describe('Redis Cluster specifics', () => {
  it("drops a dead gateway's sessions across the users' slots", async () => {
    const registry = new RedisSessionRegistry(redis(), freshKeys(), { dropBatch: 3, aliveCacheMs: 0 });
    await registry.heartbeat('gw-dead', 100);
    const users = Array.from({ length: 10 }, (_, i) => `user${i}@address`);
    for (const [i, user] of users.entries()) {
      await registry.bind({
        gatewayId: 'gw-dead',
        connId: `c${i}`,
        user,
        terminal: undefined,
        active: true,
        since: i,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(await registry.cleanupDeadGateways(), users.length);
    for (const user of users) assert.deepEqual(await registry.sessionsOf(user), []);
  });

  it('replica durability: a write resolves once a replica has it; WAIT 2 fails with one replica', async () => {
    const keys = freshKeys();
    const alice = parseId('alice@4DnqXWdTV8wuZgfqSCX9GjE2kNq7HJrUgQ');
    const store = new RedisAccountStore(redis(), keys, { durability: new Durability({ mode: 'replica' }) });
    // a freshly created cluster's replicas may still be syncing: the first confirmed write may take a while.
    // A write whose WAIT failed was still applied on the master, so each attempt writes a new list (the
    // store answers `false` for a list equal to the stored one).
    const deadline = Date.now() + 30_000;
    for (let attempt = 0; ; attempt++) {
      try {
        assert.equal(await store.putList(alice, 'block', ['x', String(attempt)]), true);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    const strict = new RedisAccountStore(redis(), keys, {
      durability: new Durability({ mode: 'replica', replicas: 2, replicaTimeoutMs: 100 }),
    });
    await assert.rejects(strict.putList(alice, 'block', ['y']), /not confirmed by 2 replica/);
    assert.deepEqual(await new Durability({ mode: 'replica' }).checkServers(redis()), []);
    await assert.rejects(new Durability({ mode: 'fsync' }).checkServers(redis()), /appendfsync always/);
  });
});

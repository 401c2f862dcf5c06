/**
 * RedisInspector on a real redis-server: stream status from XINFO (length, entries added, groups, lag,
 * pending, oldest pending), dead letters re-driven atomically (payload and order key back on their stream,
 * removed from the dead stream; a letter naming another stream is refused), inbox counts per terminal,
 * announced processes (expired ones forgotten), and the push queue's counts when the keys name one.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RedisFederationStore } from '../../../src/federation/redis-federation-store.ts';
import { RedisInspector } from '../../../src/ops/redis-inspector.ts';
import { useRedis } from '../storage/redis-fixture.ts';

describe('RedisInspector', () => {
  const fx = useRedis();

  it('reports streams with their groups, lag and pending, and dead letters', async () => {
    const keys = fx.freshKeys();
    const r = fx.redis;
    const inspector = new RedisInspector({ redis: r, keys, shards: 1 });
    const stream = keys.inboundStream(0);
    for (let i = 0; i < 5; i++) await r.xadd(stream, '*', 'p', `m${i}`, 'k', 'user');
    await r.xgroup('CREATE', stream, 'dispatcher', '0');
    await r.xreadgroup('GROUP', 'dispatcher', 'c1', 'COUNT', 2, 'STREAMS', stream, '>');
    const [inbound] = await inspector.streams();
    assert.equal(inbound!.name, stream);
    assert.equal(inbound!.length, 5);
    assert.equal(inbound!.added, 5);
    const group = inbound!.groups[0]!;
    assert.equal(group.name, 'dispatcher');
    assert.equal(group.pending, 2);
    assert.equal(group.lag, 3);
    assert.ok(group.oldestPendingMs !== undefined && group.oldestPendingMs < 60_000);
    const pending = await inspector.pending('inbound:0');
    assert.equal(pending.groups[0]!.entries.length, 2);
    assert.equal(pending.groups[0]!.entries[0]!.consumer, 'c1');

    // a dead letter (as dead-letter.lua writes it) is re-driven with its order key, atomically
    const dead = keys.deadLetterStream(stream);
    const deadId = await r.xadd(
      dead,
      '*',
      'p',
      'poison',
      'k',
      'user',
      'reason',
      'boom',
      'from',
      stream,
      'id',
      '1-0',
      'group',
      'dispatcher',
      'consumer',
      'c1',
      'deliveries',
      '5',
    );
    assert.equal((await inspector.streams())[0]!.deadLetters, 1);
    const list = await inspector.deadLetters();
    assert.equal(list.length, 1);
    assert.equal(list[0]!.reason, 'boom');
    assert.equal(list[0]!.deliveries, 5);
    const shown = await inspector.deadLetter(deadId!);
    assert.deepEqual(shown?.fields, { p: 'poison' });
    assert.equal(shown?.orderKey, 'user');
    const retried = await inspector.retryDeadLetter(deadId!);
    assert.equal(retried?.stream, stream);
    const last = await r.xrange(stream, retried!.id, retried!.id);
    assert.deepEqual(last[0]![1], ['p', 'poison', 'k', 'user']);
    assert.equal(await r.xlen(dead), 0);
    assert.equal(await inspector.retryDeadLetter(deadId!), undefined, 'gone');

    // a letter that names another stream is not re-driven anywhere
    const forged = await r.xadd(dead, '*', 'p', 'x', 'from', keys.storeStream(0));
    await assert.rejects(() => inspector.retryDeadLetter(forged!), /does not name the stream/);
    assert.equal(await inspector.dropDeadLetter(forged!), true);
    assert.equal(await inspector.dropDeadLetter(forged!), false);
  });

  it('counts a user’s stored messages and what each terminal has not confirmed', async () => {
    const keys = fx.freshKeys();
    const r = fx.redis;
    const inspector = new RedisInspector({ redis: r, keys, shards: 1 });
    const user = 'alice@x';
    await r.zadd(keys.inbox(user), 0, 'c1', 0, 'c2', 0, 'c3', 0, 'c4');
    await r.zadd(keys.inboxByStoredAt(user), 1000, 'c1', 2000, 'c2', 3000, 'c3', 4000, 'c4');
    await r.hset(keys.inboxCursors(user), 's1', 'c1', 's2', 'c2', 's3', 'c3', 's4', 'c4');
    await r.sadd(keys.inboxTerminals(user), 'phone', 'tablet');
    await r.hset(keys.inboxDelivered(user), 's1', '["phone"]', 's2', '["phone","tablet"]');
    await r.hset(keys.inboxTargets(user), 's4', 'tablet'); // only for the tablet
    const inbox = await inspector.inbox(user);
    assert.equal(inbox.stored, 4);
    assert.equal(inbox.oldestStoredAt, 1000);
    assert.deepEqual(inbox.terminals, [
      { terminal: 'phone', undelivered: 1 },
      { terminal: 'tablet', undelivered: 3 },
    ]);
  });

  it('lists announced processes and forgets expired ones; gateways merge heartbeats and announcements', async () => {
    const keys = fx.freshKeys();
    const r = fx.redis;
    const inspector = new RedisInspector({ redis: r, keys, shards: 1 });
    const info = {
      name: 'gw',
      roles: ['gateway'],
      pid: 1,
      host: 'h',
      version: '9',
      ops: 'http://o',
      startedAt: 1,
      updatedAt: 1,
      ready: true,
      draining: false,
      connections: 7,
    };
    await r.set(keys.opsInstance('gw'), JSON.stringify(info), 'PX', 60_000);
    await r.sadd(keys.opsInstances(), 'gw', 'gone');
    await r.set(keys.gatewayHeartbeat('gw'), String(Date.now() - 500));
    // the registry's per-gateway index is a hash: connection id → bind token and user
    await r.hset(keys.gatewaySessions('gw'), 'm1', 'b1alice@x', 'm2', 'b2bob@x');
    assert.deepEqual(
      (await inspector.instances()).map((i) => i.name),
      ['gw'],
    );
    assert.deepEqual(await r.smembers(keys.opsInstances()), ['gw']);
    const [g] = await inspector.gateways();
    assert.equal(g!.id, 'gw');
    assert.equal(g!.alive, true);
    assert.ok(g!.heartbeatAgeMs! >= 400 && g!.heartbeatAgeMs! < 30_000);
    assert.equal(g!.sessions, 2);
    assert.equal(g!.connections, 7);
    assert.equal(g!.ops, 'http://o');
    const streams = await inspector.streams();
    assert.ok(streams.some((s) => s.name === keys.deliveryStream('gw')));
  });

  it("reads the push queue counts (BullMQ keys under the keys module's push queue prefix)", async () => {
    const keys = fx.freshKeys();
    const r = fx.redis;
    const inspector = new RedisInspector({ redis: r, keys, shards: 1 });
    assert.deepEqual(await inspector.pushQueue(), {
      waiting: 0,
      active: 0,
      delayed: 0,
      prioritized: 0,
      failed: 0,
      completed: 0,
      paused: 0,
    });
    const prefix = keys.pushQueuePrefix();
    await r.rpush(`${prefix}:push:wait`, 'j1', 'j2');
    await r.zadd(`${prefix}:push:failed`, 1, 'j3');
    assert.deepEqual(await inspector.pushQueue(), {
      waiting: 2,
      active: 0,
      delayed: 0,
      prioritized: 0,
      failed: 1,
      completed: 0,
      paused: 0,
    });
  });

  it('reports the federation links the bridges recorded, with their queues and whether a bridge holds them', async () => {
    const keys = fx.freshKeys();
    const r = fx.redis;
    const now = 1_800_000_000_000;
    const inspector = new RedisInspector({ redis: r, keys, shards: 1, now: () => now });
    assert.deepEqual((await inspector.status()).links, []);
    const store = new RedisFederationStore(r, keys);
    const record = {
      neighbour: 'gsp-s2@x',
      host: '10.0.0.2',
      port: 9394,
      state: 'up',
      owner: 'bridge-1',
      since: now - 90_000,
      attempts: 1,
      sent: 12,
      received: 3,
    };
    await store.putLinkState(record);
    await store.putLinkState({
      ...record,
      neighbour: 'gsp-s3@x',
      state: 'backoff',
      lastError: 'ECONNREFUSED',
    });
    assert.ok(await store.ownLink('gsp-s2@x', 'bridge-1', 60_000));
    for (let i = 0; i < 2; i++) await r.xadd(keys.federationQueue('gsp-s3@x'), '*', 'msg', `m${i}`);
    const links = (await inspector.status()).links!;
    assert.deepEqual(
      links.map((l) => [l.neighbour, l.address, l.state, l.owner, l.owned, l.forMs, l.queued, l.lastError]),
      [
        ['gsp-s2@x', '10.0.0.2:9394', 'up', 'bridge-1', true, 90_000, 0, undefined],
        ['gsp-s3@x', '10.0.0.2:9394', 'backoff', 'bridge-1', false, 90_000, 2, 'ECONNREFUSED'],
      ],
    );
  });
});

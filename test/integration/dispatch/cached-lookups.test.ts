/**
 * The dispatcher's session and block-list caches on a real Redis, with another process's backend (a
 * gateway's, an account command's) making the changes: a change is seen by the next message once its
 * signal arrives, a message routed on a cached "offline" is stored with the time of the read it used (so a
 * session bound later drains it), a session bound while its signal is still on the way is pushed to once
 * the put sees its epoch, and a lost subscription empties the caches.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RedisMessageBus } from '../../../src/bus/redis-message-bus.ts';
import { createUserIdentity } from '../../../src/client/user-identity.ts';
import { Dispatcher } from '../../../src/dispatch/dispatcher.ts';
import { StationCommands } from '../../../src/dispatch/station-commands.ts';
import { createRedisBackend } from '../../../src/engine/redis-backend.ts';
import type { RedisBackend } from '../../../src/engine/redis-backend.ts';
import { createStationIdentity } from '../../../src/identity/station-identity.ts';
import { StationMessenger } from '../../../src/identity/station-messenger.ts';
import { silentLogger } from '../../../src/ops/logger.ts';
import { packMessage } from '../../../src/protocol/dkd/message-packer.ts';
import type { ChangeFeed } from '../../../src/redis/change-signal.ts';
import { isCluster } from '../../../src/redis/redis-connection.ts';
import { RedisSessionRegistry } from '../../../src/registry/redis-session-registry.ts';
import { IdentityDirectory } from '../../../src/storage/identity-directory.ts';
import { decodeDelivery, StationStreams } from '../../../src/streams/station-streams.ts';
import type { MessageOrigin } from '../../../src/streams/station-streams.ts';
import { RedisCluster } from '../../helpers/redis-cluster.ts';
import { startRedisServer } from '../../helpers/redis-server.ts';

const NOW = 1_800_000_000;
const station = createStationIdentity({ name: 'gsp', rsaBits: 1024, now: NOW });
const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: NOW });
const bob = createUserIdentity({ kind: 'mkm-rsa', name: 'bob', now: NOW });
const carol = createUserIdentity({ kind: 'mkm-ecc', name: 'carol', now: NOW });
const fromAlice: MessageOrigin = {
  gatewayId: 'gw-a',
  connId: 'c-alice',
  user: alice.id.string,
  terminal: undefined,
};

async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

let n = 0;
function text(to = bob) {
  n += 1;
  return packMessage({
    sender: alice.id,
    receiver: to.id,
    content: { type: 1, sn: n, text: `m${n}` },
    time: NOW + n,
    signer: alice.signKey,
    receiverKeys: [{ key: to.decryptKeys[0]!.publicKey }],
  });
}

for (const kind of ['standalone', 'cluster'] as const)
  describe(`dispatcher lookup caches on Redis (${kind}), kept by change signals`, () => {
    let server: { url: string; dispose(): Promise<void> };
    /** The dispatcher's process. */
    let mine: RedisBackend;
    /** Another process (a gateway binding sessions, a dispatcher storing a block list). */
    let theirs: RedisBackend;
    let feed: ChangeFeed;
    let dispatcher: Dispatcher;
    const START = Date.now();
    let clock = START;

    before(async () => {
      server = kind === 'standalone' ? await startRedisServer() : await RedisCluster.start({ replicas: 0 });
      mine = await createRedisBackend({ url: server.url, prefix: 'cache:' });
      theirs = await createRedisBackend({ url: server.url, prefix: 'cache:' });
      const directory = new IdentityDirectory(mine.identities);
      for (const user of [alice, bob]) {
        await directory.acceptMeta(user.id, user.meta);
        await directory.acceptDocument(user.visa, NOW);
      }
      feed = mine.watchChanges!();
      await waitFor(() => feed.live, 'the change feed to subscribe');
      dispatcher = new Dispatcher({
        bus: mine.bus,
        streams: new StationStreams(mine.keys, 1),
        registry: mine.registry,
        accounts: mine.accounts,
        inbox: mine.inbox,
        messenger: new StationMessenger(station, directory, () => NOW),
        commands: new StationCommands({ stationId: station.id, directory, accounts: mine.accounts, ans: {} }),
        isGatewayAlive: async () => true,
        consumerName: 'dispatcher-1',
        logger: silentLogger,
        changes: feed,
        lookupCacheMs: 60_000,
        now: () => clock,
      });
    });

    after(async () => {
      await dispatcher?.close();
      await feed?.close();
      await theirs?.close();
      await mine?.close();
      await server?.dispose();
    });

    async function pushesTo(gatewayId: string): Promise<string[]> {
      const records = await (mine.bus as RedisMessageBus).range(mine.keys.deliveryStream(gatewayId));
      return records
        .map((r) => decodeDelivery(r.fields))
        .flatMap((d) => (d.kind === 'deliver' ? [d.sig] : []));
    }

    async function storedAtOf(sig: string): Promise<number | undefined> {
      const page = await mine.inbox.page(bob.id.string, '*', { limit: 100, until: Number.MAX_SAFE_INTEGER });
      return page.entries.find((e) => e.sig === sig)?.storedAt;
    }

    it('a session bound elsewhere is pushed to from the next message on; cached reads keep their time', async () => {
      const first = text();
      await dispatcher.route(first, fromAlice);
      clock += 1000;
      const second = text();
      await dispatcher.route(second, fromAlice);
      assert.deepEqual(dispatcher.cacheStats().sessions, { hits: 1, misses: 1, size: 1 });
      // both stored with the time of the one read: a session bound after it drains them
      assert.equal(await storedAtOf(second.signatureText), START);
      assert.equal(await storedAtOf(first.signatureText), START);

      await theirs.registry.bind({
        gatewayId: 'gw-b',
        connId: 'c-bob',
        user: bob.id.string,
        terminal: undefined,
        active: true,
        since: Date.now(),
      });
      await waitFor(() => dispatcher.cacheStats().sessions.size === 0, "the bind's change signal");
      clock += 1000;
      const third = text();
      await dispatcher.route(third, fromAlice);
      assert.deepEqual(await pushesTo('gw-b'), [third.signatureText]);
      assert.equal(await storedAtOf(third.signatureText), START + 2000);

      // and gone again once unbound
      await theirs.registry.unbind('gw-b', 'c-bob');
      await waitFor(() => dispatcher.cacheStats().sessions.size === 0, "the unbind's change signal");
      await dispatcher.route(text(), fromAlice);
      assert.equal((await pushesTo('gw-b')).length, 1, 'nothing pushed to the closed session');
    });

    it('a block list stored elsewhere refuses the next message', async () => {
      const before = text();
      await dispatcher.route(before, fromAlice);
      assert.ok((await storedAtOf(before.signatureText)) !== undefined, 'not blocked yet: stored');
      assert.equal(dispatcher.cacheStats().blockLists.size, 1);
      await theirs.accounts.putList(bob.id, 'block', [alice.id.string]);
      await waitFor(() => dispatcher.cacheStats().blockLists.size === 0, "the block list's change signal");
      const blocked = text();
      await dispatcher.route(blocked, fromAlice);
      assert.equal(await storedAtOf(blocked.signatureText), undefined, 'blocked: not stored');
      await theirs.accounts.putList(bob.id, 'block', []);
    });

    it('a lost subscription empties the caches; they fill again once it is back', async () => {
      await dispatcher.route(text(), fromAlice);
      assert.equal(dispatcher.cacheStats().sessions.size, 1);
      // the server drops the subscriber (as it does when a subscriber's output buffer overflows)
      const servers = isCluster(theirs.redis) ? theirs.redis.nodes('all') : [theirs.redis];
      await Promise.all(servers.map((s) => s.call('CLIENT', 'KILL', 'TYPE', 'pubsub')));
      await waitFor(() => dispatcher.cacheStats().sessions.size === 0, 'the caches to be emptied');
      await waitFor(() => feed.live, 'the feed to subscribe again');
      await dispatcher.route(text(), fromAlice);
      assert.equal(dispatcher.cacheStats().sessions.size, 1);
      // signals arrive again
      await theirs.registry.bind({
        gatewayId: 'gw-b',
        connId: 'c-bob-2',
        user: bob.id.string,
        terminal: undefined,
        active: true,
        since: Date.now(),
      });
      await waitFor(() => dispatcher.cacheStats().sessions.size === 0, 'a signal after the resubscription');
    });

    it('a session bound while its signal is on the way is pushed to once the put sees its epoch', async () => {
      // a gateway binding without signalling: the signal is late (or lost), the cache still says offline
      const unsignalled = new RedisSessionRegistry(theirs.redis, theirs.keys);
      const first = text(carol);
      await dispatcher.route(first, fromAlice);
      const misses = dispatcher.cacheStats().sessions.misses;
      await unsignalled.bind({
        gatewayId: 'gw-c',
        connId: 'c-carol',
        user: carol.id.string,
        terminal: undefined,
        active: true,
        since: Date.now(),
      });
      // (the session's drain ran here and found `first`)
      const second = text(carol);
      await dispatcher.route(second, fromAlice);
      assert.deepEqual(await pushesTo('gw-c'), [second.signatureText], 'pushed, not left for the next drain');
      const third = text(carol);
      await dispatcher.route(third, fromAlice);
      assert.deepEqual(await pushesTo('gw-c'), [second.signatureText, third.signatureText]);
      // routed on the cached read (one cache hit), then re-read once when the put saw the new epoch
      assert.equal(dispatcher.cacheStats().sessions.misses, misses + 1);
    });
  });

/**
 * Push notifications end to end: a station on real Redis with the push worker on BullMQ (and the embedded
 * engine with its in-process queue), DIM clients over real sockets reporting device tokens, and local
 * APNs / FCM / webhook servers receiving the notifications.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DimClient } from '../../src/client/dim-client.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import { createRedisBackend } from '../../src/engine/redis-backend.ts';
import type { RedisBackend } from '../../src/engine/redis-backend.ts';
import type { Backend } from '../../src/engine/backend.ts';
import { sleep, waitUntil } from '../helpers/cluster.ts';
import { randomApnsToken, startPushProviders, TEST_TOPIC } from '../helpers/push-harness.ts';
import type { PushProvidersHarness } from '../helpers/push-harness.ts';
import { startRedisServer } from '../helpers/redis-server.ts';
import type { RedisServer } from '../helpers/redis-server.ts';
import {
  connectClient,
  createUserIdentity,
  KeyDirectory,
  startTestStation,
} from '../helpers/station-harness.ts';
import type { TestStation } from '../helpers/station-harness.ts';

const now = (): number => Date.now() / 1000;
/** Long enough for a push that would happen (coalescing window 1 s + queue + send) to have happened. */
const QUIET_MS = 3000;

interface Engine {
  station: TestStation;
  backend: Backend;
}

function pushSuite(
  name: string,
  start: (push: PushProvidersHarness) => Promise<Engine & { dispose(): Promise<void> }>,
): void {
  describe(`push notifications: ${name}`, { timeout: 120_000 }, () => {
    let push: PushProvidersHarness;
    let engine: Engine & { dispose(): Promise<void> };
    const directory = new KeyDirectory();
    const clients: DimClient[] = [];
    let bob: UserIdentity;
    let bobClient: DimClient;

    before(async () => {
      push = await startPushProviders();
      engine = await start(push);
      bob = createUserIdentity({ kind: 'eth', name: 'bob', now: now() });
      directory.add(bob);
      bobClient = await online(bob);
    });

    after(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await engine?.dispose();
      await push?.close();
    });

    async function online(user: UserIdentity): Promise<DimClient> {
      const client = await connectClient(engine.station.port, 'mtp', user, directory);
      clients.push(client);
      await client.handshake();
      return client;
    }

    async function offline(user: UserIdentity, client: DimClient): Promise<void> {
      await client.close();
      await waitUntil(
        async () => (await engine.backend.registry.sessionsOf(user.id.naked().string)).length === 0,
        10_000,
        'the session to go',
      );
    }

    function newUser(name: string): UserIdentity {
      const user = createUserIdentity({ kind: 'eth', name, now: now() });
      directory.add(user);
      return user;
    }

    /** Report an iPhone (to the station) and/or an Android device (to c2dm@anywhere); returns the tokens. */
    async function devices(
      client: DimClient,
      which: { iphone?: boolean; android?: boolean; unifiedpush?: boolean },
    ): Promise<{ apns: string; fcm: string; up: string }> {
      const tokens = {
        apns: randomApnsToken(),
        fcm: `fcm-${randomApnsToken().slice(0, 24)}`,
        up: `up-${randomApnsToken().slice(0, 16)}`,
      };
      if (which.iphone) {
        push.apns.register(tokens.apns, TEST_TOPIC);
        const sent = await client.sendCommand('report', {
          title: 'apns',
          device_token: tokens.apns,
          topic: TEST_TOPIC,
          sandbox: false,
          platform: 'iOS',
          terminal: 'iphone',
        });
        assert.equal((await client.waitReceipt(sent, 5000))?.text, 'Device token received.');
      }
      if (which.android) {
        const sent = await client.sendCommand(
          'report',
          { title: 'c2dm', token: tokens.fcm, channel: 'firebase', platform: 'Android', terminal: 'pixel' },
          'c2dm@anywhere',
        );
        assert.equal((await client.waitReceipt(sent, 5000))?.text, 'Device token received.');
      }
      if (which.unifiedpush) {
        const sent = await client.sendCommand(
          'report',
          { title: 'c2dm', token: tokens.up, channel: 'unifiedpush', terminal: 'fairphone' },
          'apns@anywhere',
        );
        assert.equal((await client.waitReceipt(sent, 5000))?.text, 'Device token received.');
      }
      return tokens;
    }

    async function send(
      from: DimClient,
      to: UserIdentity,
      text: string,
      expect = 'Message cached.',
    ): Promise<void> {
      const sent = await from.sendText(to.id, text);
      assert.equal((await from.waitReceipt(sent, 5000))?.text, expect);
    }

    it('a token report round trip: receipt text, and a malformed token is refused with a reason', async () => {
      const user = newUser('tokens');
      const client = await online(user);
      await devices(client, { iphone: true, android: true });
      const bad = await client.sendCommand('report', { title: 'apns', device_token: 'xyz' });
      const receipt = await client.waitReceipt(bad, 5000);
      assert.equal(receipt?.text, 'Device token not accepted.');
      await offline(user, client);
    });

    it('an offline user with an iPhone and an Android device gets exactly one notification on each', async () => {
      const alice = newUser('alice');
      const client = await online(alice);
      const tokens = await devices(client, { iphone: true, android: true, unifiedpush: true });
      await offline(alice, client);
      await send(bobClient, alice, 'hello alice');
      await waitUntil(
        () =>
          push.apns.count(tokens.apns) >= 1 &&
          push.fcm.count(tokens.fcm) >= 1 &&
          push.webhook.count(tokens.up) >= 1,
        15_000,
        'a notification on every device',
      );
      await sleep(QUIET_MS);
      assert.equal(push.apns.count(tokens.apns), 1, 'iPhone: exactly one');
      assert.equal(push.fcm.count(tokens.fcm), 1, 'Android: exactly one');
      assert.equal(push.webhook.count(tokens.up), 1, 'UnifiedPush via the webhook: exactly one');
      const apnsRequest = push.apns.requests.find((r) => r.token === tokens.apns && r.status === 200);
      const payload = JSON.parse(apnsRequest?.body ?? '{}') as {
        aps: { alert: { title: string; body: string }; badge: number };
      };
      assert.equal(payload.aps.alert.title, 'Text Message');
      assert.equal(payload.aps.alert.body, 'Dear alice: bob sent you a text message.');
      assert.equal(payload.aps.badge, 1);
      assert.ok(!JSON.stringify(payload).includes('hello alice'), 'never any message content');
      const fcmRequest = push.fcm.requests.find((r) => r.token === tokens.fcm && r.status === 200);
      const note = fcmRequest?.message['notification'] as { body: string };
      assert.equal(note.body, 'Dear alice: bob sent you a text message.');
    });

    it('an online user gets no notification', async () => {
      const carol = newUser('carol');
      const client = await online(carol);
      const tokens = await devices(client, { iphone: true });
      await send(bobClient, carol, 'hi carol', 'Message delivered.');
      await sleep(QUIET_MS);
      assert.equal(push.apns.count(tokens.apns), 0);
    });

    it('a muted sender and a message older than 128 s push nothing; another sender does', async () => {
      const dave = newUser('dave');
      const client = await online(dave);
      const tokens = await devices(client, { iphone: true });
      const mute = await client.sendCommand('mute', { list: [bob.id.string] });
      assert.equal((await client.waitReceipt(mute, 5000))?.text, 'Mute received.');
      await offline(dave, client);
      await send(bobClient, dave, 'muted');
      const eve = newUser('eve');
      const late = await connectClient(engine.station.port, 'ws', eve, directory, { now: () => now() - 200 });
      clients.push(late);
      await late.handshake();
      await send(late, dave, 'too old');
      await sleep(QUIET_MS);
      assert.equal(push.apns.count(tokens.apns), 0, 'neither pushed');
      const frank = newUser('frank');
      const frankClient = await online(frank);
      await send(frankClient, dave, 'fresh and not muted');
      await waitUntil(() => push.apns.count(tokens.apns) === 1, 10_000, 'the notification');
    });

    it('410 removes the token and it is never used again', async () => {
      const grace = newUser('grace');
      const client = await online(grace);
      const tokens = await devices(client, { iphone: true });
      await offline(grace, client);
      push.apns.script(tokens.apns, [{ status: 410, reason: 'Unregistered' }]);
      await send(bobClient, grace, 'first');
      const requests = (): number => push.apns.requests.filter((r) => r.token === tokens.apns).length;
      await waitUntil(() => requests() === 1, 10_000, 'the 410 answer');
      await send(bobClient, grace, 'second');
      await send(bobClient, grace, 'third');
      await sleep(QUIET_MS);
      assert.equal(requests(), 1, 'the token was not used again');
      assert.equal(push.apns.requests.find((r) => r.token === tokens.apns)?.status, 410);
    });

    it('two 503s then 200: delivered once after backoff; the other device is not notified twice', async () => {
      const heidi = newUser('heidi');
      const client = await online(heidi);
      const tokens = await devices(client, { iphone: true, android: true });
      await offline(heidi, client);
      push.fcm.script(tokens.fcm, [
        { status: 503, errorCode: 'UNAVAILABLE' },
        { status: 503, errorCode: 'UNAVAILABLE' },
      ]);
      await send(bobClient, heidi, 'eventually');
      await waitUntil(() => push.fcm.count(tokens.fcm) === 1, 15_000, 'the notification');
      const attempts = push.fcm.requests.filter((r) => r.token === tokens.fcm);
      assert.deepEqual(
        attempts.map((r) => r.status),
        [503, 503, 200],
      );
      const waited = (attempts[2]?.at ?? 0) - (attempts[0]?.at ?? 0);
      // backoff 200 ms then 400 ms, ±25 % jitter
      assert.ok(waited >= 450, `retries waited ${waited.toFixed(0)} ms`);
      await sleep(500);
      assert.equal(push.apns.count(tokens.apns), 1, 'the iPhone was notified once, not on every retry');
    });

    it('messages within the window coalesce into one notification with the count', async () => {
      const ivan = newUser('ivan');
      const client = await online(ivan);
      const tokens = await devices(client, { iphone: true });
      await offline(ivan, client);
      await Promise.all([
        send(bobClient, ivan, 'one'),
        send(bobClient, ivan, 'two'),
        send(bobClient, ivan, 'three'),
      ]);
      await waitUntil(() => push.apns.count(tokens.apns) >= 1, 10_000, 'the notification');
      await sleep(QUIET_MS);
      assert.equal(push.apns.count(tokens.apns), 1);
      const request = push.apns.requests.find((r) => r.token === tokens.apns);
      const payload = JSON.parse(request?.body ?? '{}') as {
        aps: { alert: { body: string }; badge: number };
        dim: { count: number };
      };
      assert.equal(payload.dim.count, 3);
      assert.equal(payload.aps.badge, 3);
      assert.equal(payload.aps.alert.body, 'Dear ivan: bob sent you 3 messages.');
      // the badge resets when the user comes back
      const back = await online(ivan);
      assert.equal(await back.login(), 'Login received.');
      await offline(ivan, back);
      await send(bobClient, ivan, 'after login');
      await waitUntil(() => push.apns.count(tokens.apns) === 2, 10_000, 'the notification');
      const last = push.apns.requests.filter((r) => r.token === tokens.apns).at(-1);
      assert.equal((JSON.parse(last?.body ?? '{}') as { aps: { badge: number } }).aps.badge, 1);
    });
  });
}

// the default 1 s window: three concurrent sends on a loaded machine must land in one window
const PUSH_ENV = { DIM_PUSH_COALESCE_MS: '1000', DIM_PUSH_BACKOFF_MS: '200' };

let redis: RedisServer | undefined;
pushSuite('Redis engine, BullMQ worker', async (push) => {
  redis ??= await startRedisServer();
  const prefix = `e2e${process.pid}:`;
  const backend: RedisBackend = await createRedisBackend({ url: redis.url, prefix });
  const station = await startTestStation({
    backend,
    env: { ...push.env, ...PUSH_ENV, DIM_REDIS_URL: redis.url, DIM_REDIS_PREFIX: prefix },
  });
  return {
    station,
    backend,
    async dispose() {
      await station.close();
      await redis?.dispose();
    },
  };
});

pushSuite('embedded engine, in-process queue', async (push) => {
  const station = await startTestStation({ env: { ...push.env, ...PUSH_ENV } });
  return { station, backend: station.node.backend, dispose: () => station.close() };
});

describe('token reports with an external announcer bot named in ANS', { timeout: 60_000 }, () => {
  it('a report to apns@anywhere goes to the bot; reports to the station are still kept here', async () => {
    const directory = new KeyDirectory();
    const bot = createUserIdentity({ kind: 'mkm-ecc', name: 'announcer', now: now() });
    const alice = createUserIdentity({ kind: 'eth', name: 'alice', now: now() });
    directory.add(bot);
    directory.add(alice);
    const station = await startTestStation({ env: { DIM_ANS: `apns=${bot.id.string}` } });
    const clients: DimClient[] = [];
    try {
      const b = await connectClient(station.port, 'mtp', bot, directory);
      const a = await connectClient(station.port, 'mtp', alice, directory);
      clients.push(b, a);
      await b.handshake();
      await a.handshake();
      const mark = b.mark();
      const report = { title: 'apns', device_token: randomApnsToken(), topic: TEST_TOPIC };
      const sent = await a.sendCommand('report', report, 'apns@anywhere');
      const got = await b.waitForMessage((m) => m.sender.isSameAs(alice.id), 5000, { since: mark });
      assert.equal(got.content.dict['title'], 'apns');
      assert.equal((await a.waitReceipt(sent, 5000))?.text, 'Message delivered.');
      const direct = await a.sendCommand('report', { ...report, device_token: randomApnsToken() });
      assert.equal((await a.waitReceipt(direct, 5000))?.text, 'Device token received.');
      assert.equal((await station.node.push?.devices.list(alice.id.string))?.length, 1);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await station.close();
    }
  });
});

/**
 * The push providers against local servers implementing the providers' contracts: APNs over HTTP/2 + TLS
 * (test CA, ES256 JWT checked, stream limits, GOAWAY), FCM HTTP v1 (OAuth2 service-account exchange,
 * canonical error bodies), and a Standard Webhooks receiver.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ApnsProvider } from '../../../src/push/apns-provider.ts';
import { ApnsProviderToken } from '../../../src/push/apns-token.ts';
import type { DeviceToken } from '../../../src/push/device-token.ts';
import { FcmProvider } from '../../../src/push/fcm-provider.ts';
import { GoogleAccessToken, parseServiceAccount } from '../../../src/push/google-oauth.ts';
import { HttpClient } from '../../../src/push/http-request.ts';
import type { Notification } from '../../../src/push/notification.ts';
import type { PushMessage } from '../../../src/push/push-provider.ts';
import { WebhookProvider } from '../../../src/push/webhook-provider.ts';
import { FakeApns } from '../../helpers/fake-apns.ts';
import { FakeFcm } from '../../helpers/fake-fcm.ts';
import { FakeWebhook } from '../../helpers/fake-webhook.ts';
import { makePushCredentials } from '../../helpers/push-credentials.ts';
import type { PushCredentials } from '../../helpers/push-credentials.ts';

const TOPIC = 'chat.dim.test';
const notification: Notification = {
  title: 'Text Message',
  body: 'Dear Alice: Bob sent you a text message.',
  badge: 2,
  count: 1,
  conversation: 'bob@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk'.repeat(3),
  sender: 'bob@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk',
  time: Date.now(),
};
let n = 0;
const iosDevice = (token: string, sandbox = false): DeviceToken => ({
  platform: 'ios',
  token,
  channel: 'apns',
  topic: TOPIC,
  sandbox,
  time: Date.now(),
});
const message = (device: DeviceToken): PushMessage => ({
  device,
  notification,
  receiver: 'alice@x',
  deliveryId: `job.${++n}`,
});
const hex = (i: number): string => i.toString(16).padStart(64, '0');

let creds: PushCredentials;
before(() => {
  creds = makePushCredentials();
});
after(() => creds.dispose());

describe('APNs provider against a local APNs (HTTP/2, TLS with a test CA)', () => {
  let production: FakeApns;
  let sandbox: FakeApns;
  const providers: ApnsProvider[] = [];
  const provider = (): ApnsProvider => {
    const p = new ApnsProvider({
      token: new ApnsProviderToken(
        readFileSync(creds.apns.file, 'utf8'),
        creds.apns.keyId,
        creds.apns.teamId,
      ),
      topic: TOPIC,
      sandbox: false,
      productionUrl: production.url,
      sandboxUrl: sandbox.url,
      ca: creds.tls.ca,
    });
    providers.push(p);
    return p;
  };

  before(async () => {
    const keys = [{ keyId: creds.apns.keyId, teamId: creds.apns.teamId, publicKey: creds.apns.publicKey }];
    production = await new FakeApns({ tls: creds.tls, keys, maxStreams: 50 }).listen();
    sandbox = await new FakeApns({ tls: creds.tls, keys }).listen();
  });
  after(async () => {
    await Promise.all(providers.map((p) => p.close()));
    await production.close();
    await sandbox.close();
  });

  it('delivers with a valid JWT and headers over one connection, within the stream limit', async () => {
    const p = provider();
    for (let i = 0; i < 200; i++) production.register(hex(i), TOPIC);
    const before = production.connections;
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => p.send(message(iosDevice(hex(i))))),
    );
    assert.deepEqual(new Set(results.map((r) => r.kind)), new Set(['sent']));
    assert.equal(production.connections - before, 1, 'one multiplexed connection');
    assert.equal(production.streamLimitViolations, 0);
    assert.ok(production.maxObservedInflight <= 50);
    const request = production.requests.at(-1);
    assert.equal(request?.headers['apns-push-type'], 'alert');
    assert.equal(request?.headers['apns-topic'], TOPIC);
    assert.ok(Buffer.byteLength(String(request?.headers['apns-collapse-id'])) <= 64);
    const payload = JSON.parse(request?.body ?? '{}') as { aps: { alert: { body: string }; badge: number } };
    assert.equal(payload.aps.alert.body, notification.body);
    assert.equal(payload.aps.badge, 2);
  });

  it('410 and BadDeviceToken mean the token is gone; a sandbox device goes to the sandbox host', async () => {
    const p = provider();
    production.register(hex(1000), TOPIC);
    production.script(hex(1000), [{ status: 410 }]);
    const gone = await p.send(message(iosDevice(hex(1000))));
    assert.equal(gone.kind, 'unregistered');
    assert.ok(gone.kind === 'unregistered' && typeof gone.timestamp === 'number');
    const unknown = await p.send(message(iosDevice(hex(1001))));
    assert.deepEqual(unknown, { kind: 'unregistered', reason: 'BadDeviceToken', timestamp: undefined });
    sandbox.register(hex(1002), TOPIC);
    assert.equal((await p.send(message(iosDevice(hex(1002), true)))).kind, 'sent');
    assert.equal(sandbox.count(hex(1002)), 1);
    production.register(hex(1003), 'other.topic');
    assert.equal(
      (await p.send(message(iosDevice(hex(1003))))).kind,
      'unregistered',
      'DeviceTokenNotForTopic',
    );
  });

  it('503 is retried later on a new connection; 429 honours Retry-After', async () => {
    const p = provider();
    production.register(hex(2000), TOPIC);
    production.script(hex(2000), [
      { status: 503, reason: 'ServiceUnavailable' },
      { status: 429, reason: 'TooManyRequests', retryAfter: '3' },
    ]);
    const first = await p.send(message(iosDevice(hex(2000))));
    assert.deepEqual(first, { kind: 'retry', reason: 'ServiceUnavailable', retryAfterMs: undefined });
    const connections = production.connections;
    const second = await p.send(message(iosDevice(hex(2000))));
    assert.deepEqual(second, { kind: 'retry', reason: 'TooManyRequests', retryAfterMs: 3000 });
    assert.equal(production.connections, connections + 1, 'reconnected after the 503');
    assert.equal((await p.send(message(iosDevice(hex(2000))))).kind, 'sent');
  });

  it('GOAWAY: streams above the last stream ID are resent once on a new connection', async () => {
    const p = provider();
    for (let i = 3000; i < 3040; i++) production.register(hex(i), TOPIC);
    await p.send(message(iosDevice(hex(3000)))); // connection up and authorised
    const connections = production.connections;
    production.goawayAfter(5);
    const results = await Promise.all(
      Array.from({ length: 39 }, (_, i) => p.send(message(iosDevice(hex(3001 + i))))),
    );
    assert.deepEqual(new Set(results.map((r) => r.kind)), new Set(['sent']));
    for (let i = 3001; i < 3040; i++) assert.equal(production.count(hex(i)), 1, `token ${i} exactly once`);
    assert.equal(production.connections, connections + 1);
    assert.ok(
      production.requests.some((r) => r.session === production.connections),
      'some streams were resent on the new connection',
    );
  });

  it('a wrong key is a configuration error, never retried', async () => {
    const other = makePushCredentials();
    try {
      const p = new ApnsProvider({
        token: new ApnsProviderToken(
          readFileSync(other.apns.file, 'utf8'),
          creds.apns.keyId,
          creds.apns.teamId,
        ),
        topic: TOPIC,
        sandbox: false,
        productionUrl: production.url,
        ca: creds.tls.ca,
      });
      providers.push(p);
      production.register(hex(4000), TOPIC);
      assert.deepEqual(await p.send(message(iosDevice(hex(4000)))), {
        kind: 'rejected',
        reason: 'InvalidProviderToken',
      });
    } finally {
      other.dispose();
    }
  });
});

describe('FCM provider against a local FCM (OAuth2 token endpoint, messages:send)', () => {
  let fcm: FakeFcm;
  let http: HttpClient;
  let token: GoogleAccessToken;
  let provider: FcmProvider;
  const android = (t: string): DeviceToken => ({
    platform: 'android',
    token: t,
    channel: 'firebase',
    time: Date.now(),
  });

  before(async () => {
    fcm = await new FakeFcm(creds.tls, { projectId: 'dim-test', clientEmail: 'x' }).listen();
    const account = creds.serviceAccount(fcm.tokenUri);
    fcm.clientEmail = account.clientEmail;
    fcm.publicKey = account.publicKey;
    http = new HttpClient({ ca: creds.tls.ca });
    token = new GoogleAccessToken(parseServiceAccount(readFileSync(account.file, 'utf8')), http);
    provider = new FcmProvider({ projectId: account.projectId, accessToken: token, http, url: fcm.url });
  });
  after(async () => {
    await provider.close();
    await fcm.close();
  });

  it('exchanges the service-account JWT once and reuses the token', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => provider.send(message(android(`fcm-${i}`)))),
    );
    assert.deepEqual(new Set(results.map((r) => r.kind)), new Set(['sent']));
    assert.equal(fcm.tokenExchanges, 1);
    const sent = fcm.requests.at(-1)?.message as {
      android: { notification: { notification_count: number } };
    };
    assert.equal(sent.android.notification.notification_count, 2);
  });

  it('renews the token before it expires, and once after a bare 401', async () => {
    fcm.expiresIn = 2; // margin = half the life: renewed after 1 s
    const t = new GoogleAccessToken(
      parseServiceAccount(readFileSync(creds.serviceAccount(fcm.tokenUri).file, 'utf8')),
      http,
    );
    const p = new FcmProvider({ projectId: 'dim-test', accessToken: t, http, url: fcm.url });
    const before = fcm.tokenExchanges;
    await p.send(message(android('renew-1')));
    await new Promise((r) => setTimeout(r, 1200));
    await p.send(message(android('renew-2')));
    assert.equal(fcm.tokenExchanges - before, 2);
    fcm.expiresIn = 3600;
    fcm.revokeTokens();
    assert.equal((await p.send(message(android('renew-3')))).kind, 'sent', 'renewed after the 401');
    assert.equal(fcm.tokenExchanges - before, 3);
    assert.equal(
      fcm.requests.filter((r) => r.token === 'renew-3').length,
      1,
      'the 401 is not recorded as a send',
    );
  });

  it('maps FCM errors: UNREGISTERED and a bad token drop it, 503/429 retry with Retry-After, HTML 502 retries', async () => {
    fcm.script('gone', [{ status: 404, errorCode: 'UNREGISTERED' }]);
    assert.deepEqual(await provider.send(message(android('gone'))), {
      kind: 'unregistered',
      reason: 'UNREGISTERED',
    });
    assert.deepEqual(await provider.send(message(android('bad-token-1'))), {
      kind: 'unregistered',
      reason: 'INVALID_ARGUMENT',
    });
    fcm.script('busy', [
      { status: 503, errorCode: 'UNAVAILABLE', retryAfter: '7' },
      { status: 429, errorCode: 'QUOTA_EXCEEDED', retryAfter: new Date(Date.now() + 20_000).toUTCString() },
      { status: 502, errorCode: 'HTML' },
      { status: 401, errorCode: 'THIRD_PARTY_AUTH_ERROR' },
    ]);
    assert.deepEqual(await provider.send(message(android('busy'))), {
      kind: 'retry',
      reason: 'UNAVAILABLE',
      retryAfterMs: 7000,
    });
    const quota = await provider.send(message(android('busy')));
    assert.ok(quota.kind === 'retry' && (quota.retryAfterMs ?? 0) > 15_000, JSON.stringify(quota));
    assert.deepEqual(await provider.send(message(android('busy'))), {
      kind: 'retry',
      reason: 'HTTP502',
      retryAfterMs: undefined,
    });
    assert.deepEqual(await provider.send(message(android('busy'))), {
      kind: 'rejected',
      reason: 'THIRD_PARTY_AUTH_ERROR',
    });
    assert.equal((await provider.send(message(android('busy')))).kind, 'sent');
  });
});

describe('webhook provider against a Standard Webhooks receiver', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  let hook: FakeWebhook;
  before(async () => {
    hook = await new FakeWebhook(secret).listen();
  });
  after(() => hook.close());

  it('signs every delivery; 410 drops the token, 503 retries with Retry-After, a wrong secret is refused', async () => {
    const http = new HttpClient();
    const p = new WebhookProvider({ url: hook.url, secret, http });
    const device: DeviceToken = {
      platform: 'android',
      token: 'up-1',
      channel: 'unifiedpush',
      time: Date.now(),
    };
    assert.equal((await p.send(message(device))).kind, 'sent');
    assert.equal(hook.count('up-1'), 1);
    const body = hook.requests[0]?.body as { notification: { body: string }; device: { channel: string } };
    assert.equal(body.notification.body, notification.body);
    assert.equal(body.device.channel, 'unifiedpush');
    hook.script('up-2', [{ status: 503, retryAfter: '2' }, { status: 410 }]);
    const d2 = { ...device, token: 'up-2' };
    assert.deepEqual(await p.send(message(d2)), { kind: 'retry', reason: 'HTTP503', retryAfterMs: 2000 });
    assert.deepEqual(await p.send(message(d2)), { kind: 'unregistered', reason: 'HTTP410' });
    const wrong = new WebhookProvider({ url: hook.url, secret: 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAA', http });
    assert.deepEqual(await wrong.send(message(device)), { kind: 'rejected', reason: 'HTTP401' });
    assert.equal(hook.rejectedSignatures, 1);
    await p.close();
  });
});

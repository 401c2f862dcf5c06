/**
 * What push writes to the logs of an embedded station (debug level): which providers are on at startup,
 * and never a credential (key, service account, webhook secret) nor a device token in full.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import type { DimClient } from '../../src/client/dim-client.ts';
import { waitUntil } from '../helpers/cluster.ts';
import { randomApnsToken, startPushProviders, TEST_TOPIC, WEBHOOK_SECRET } from '../helpers/push-harness.ts';
import type { PushProvidersHarness } from '../helpers/push-harness.ts';
import {
  connectClient,
  createUserIdentity,
  KeyDirectory,
  startTestStation,
} from '../helpers/station-harness.ts';
import type { TestStation } from '../helpers/station-harness.ts';

describe('push logging', { timeout: 60_000 }, () => {
  let push: PushProvidersHarness;
  let station: TestStation;
  const lines: string[] = [];
  const clients: DimClient[] = [];

  before(async () => {
    push = await startPushProviders();
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    station = await startTestStation({ env: push.env, logger });
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await station?.close();
    await push?.close();
  });

  it('says which providers are on; never logs credentials or full tokens', async () => {
    const started = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['code'] === 'PUSH_PROVIDERS');
    assert.deepEqual([started?.['apns'], started?.['fcm'], started?.['queue']], ['on', 'on', 'in-process']);
    const directory = new KeyDirectory();
    const alice = createUserIdentity({ kind: 'eth', name: 'alice', now: Date.now() / 1000 });
    const bob = createUserIdentity({ kind: 'eth', name: 'bob', now: Date.now() / 1000 });
    directory.add(alice);
    directory.add(bob);
    const a = await connectClient(station.port, 'mtp', alice, directory);
    clients.push(a);
    await a.handshake();
    const token = randomApnsToken();
    push.apns.register(token, TEST_TOPIC);
    push.apns.script(token, [{ status: 410 }]);
    const report = await a.sendCommand('report', { title: 'apns', device_token: token, topic: TEST_TOPIC });
    assert.equal((await a.waitReceipt(report, 5000))?.text, 'Device token received.');
    await a.close();
    const b = await connectClient(station.port, 'ws', bob, directory);
    clients.push(b);
    await b.handshake();
    await b.sendText(alice.id, 'hi');
    await waitUntil(() => lines.some((l) => l.includes('PUSH_TOKEN_REMOVED')), 10_000, 'the token removal');
    const text = lines.join('\n');
    assert.ok(text.includes('PUSH_TOKEN_REPORTED'));
    assert.ok(text.includes(`${token.slice(0, 4)}…${token.slice(-4)}`), 'masked tokens are logged');
    assert.ok(!text.includes(token), 'never the full token');
    assert.ok(!text.includes(token.slice(4, 20)));
    assert.ok(!text.includes(WEBHOOK_SECRET) && !text.includes(WEBHOOK_SECRET.slice(6)));
    assert.ok(!text.includes('PRIVATE KEY'));
    const p8 = readFileSync(push.creds.apns.file, 'utf8').split('\n')[1] ?? 'unused';
    assert.ok(!text.includes(p8));
    assert.ok(!text.includes(push.creds.apns.file), 'not even the credential paths');
  });
});

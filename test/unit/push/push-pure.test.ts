/** The pure parts of push: token reports, filters, notification texts, retry policy, header parsing. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createUserIdentity } from '../../../src/client/user-identity.ts';
import { parseContent } from '../../../src/protocol/dkd/content.ts';
import { parseReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import { createStationIdentity } from '../../../src/identity/station-identity.ts';
import { parseId } from '../../../src/protocol/mkm/identifier.ts';
import {
  DeviceTokenError,
  isExpired,
  maskToken,
  mergeDevice,
  parseDeviceReport,
} from '../../../src/push/device-token.ts';
import { buildNotification, templatesFor } from '../../../src/push/notification.ts';
import { TEMPLATES } from '../../../src/push/notification-templates.ts';
import { mutedBy, pushSkipReason } from '../../../src/push/push-filter.ts';
import { parseRetryAfter } from '../../../src/push/push-provider.ts';
import { DEFAULT_RETRY_POLICY, pushJobId, retryDelay } from '../../../src/push/push-queue.ts';
import { isCovered } from '../../../src/push/push-trigger.ts';
import { webhookSignature } from '../../../src/push/webhook-provider.ts';

const NOW = Date.now();
const content = (dict: Record<string, unknown>) =>
  parseContent({ type: 0x88, sn: 1, time: NOW / 1000, command: 'report', ...dict });

describe('device token reports', () => {
  it('reads iOS reports: hex token normalised, topic, sandbox in every spelling, terminal from did', () => {
    const d = parseDeviceReport(
      content({
        title: 'apns',
        device_token: '<ABCD 0123>',
        topic: 'chat.dim.tarsier',
        sandbox: 'true',
        did: 'alice@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk/iphone',
      }),
      NOW,
    );
    assert.equal(d.platform, 'ios');
    assert.equal(d.token, 'abcd0123');
    assert.equal(d.topic, 'chat.dim.tarsier');
    assert.equal(d.sandbox, true);
    assert.equal(d.terminal, 'iphone');
    assert.ok(Math.abs(d.time - NOW) < 1000, 'the report time in ms');
  });

  it('reads Android reports, firebase by default, terminal field first', () => {
    const d = parseDeviceReport(content({ title: 'c2dm', token: 'fcm:tok', terminal: 'pixel' }), NOW);
    assert.deepEqual(
      [d.platform, d.channel, d.token, d.terminal],
      ['android', 'firebase', 'fcm:tok', 'pixel'],
    );
    const u = parseDeviceReport(content({ title: 'c2dm', token: 'x', channel: 'UnifiedPush' }), NOW);
    assert.equal(u.channel, 'unifiedpush');
  });

  it('refuses malformed reports with a code', () => {
    for (const bad of [
      { title: 'apns' },
      { title: 'apns', device_token: 'abc' },
      { title: 'apns', device_token: 'zz00' },
      { title: 'c2dm', token: '' },
      { title: 'c2dm', token: 'has space' },
      { title: 'c2dm', token: 'x', terminal: 'x'.repeat(300) },
    ]) {
      assert.throws(
        () => parseDeviceReport(content(bad), NOW),
        (err: unknown) => {
          assert.ok(err instanceof DeviceTokenError);
          assert.equal(err.code, 'BAD_DEVICE_TOKEN');
          return true;
        },
      );
    }
  });

  it('expires iOS tokens after 183 days, never Firebase ones; masks tokens for logs', () => {
    const old = NOW - 184 * 24 * 3600_000;
    assert.equal(isExpired({ platform: 'ios', token: 'aa', channel: 'apns', time: old }, NOW), true);
    assert.equal(isExpired({ platform: 'android', token: 'aa', channel: 'firebase', time: old }, NOW), false);
    const token = 'a'.repeat(30) + 'b'.repeat(34);
    assert.equal(maskToken(token), 'aaaa…bbbb');
    assert.ok(!maskToken(token).includes(token.slice(4, 20)));
  });

  it('mergeDevice ignores an older report of a known token', () => {
    const d = { platform: 'android' as const, token: 't', channel: 'firebase', time: 10 };
    assert.equal(mergeDevice([{ ...d, time: 20 }], d), undefined);
  });
});

describe('push filters', () => {
  const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: NOW / 1000 });
  const bob = createUserIdentity({ kind: 'eth', name: 'bob', now: NOW / 1000 });
  const message = (extra: Record<string, unknown> = {}) =>
    parseReliableMessage(
      JSON.stringify({
        sender: bob.id.string,
        receiver: alice.id.string,
        time: NOW / 1000,
        type: 1,
        data: 'AAAA',
        signature: 'BBBB',
        ...extra,
      }),
    );

  it('passes a fresh text message between users; refuses old, muted, command and station traffic', () => {
    assert.equal(pushSkipReason(message(), alice.id, NOW), undefined);
    assert.equal(pushSkipReason(message({ time: NOW / 1000 - 129 }), alice.id, NOW), 'too-old');
    assert.equal(pushSkipReason(message({ time: NOW / 1000 - 127 }), alice.id, NOW), undefined);
    assert.equal(pushSkipReason(message({ muted: true }), alice.id, NOW), 'muted-flag');
    for (const type of [0x88, 0x89, 0xca, 0xff])
      assert.equal(pushSkipReason(message({ type }), alice.id, NOW), 'content-type');
    const station = createStationIdentity({ name: 'gsp', rsaBits: 1024, now: NOW / 1000 }).id;
    assert.equal(pushSkipReason(message({ receiver: station.string }), station, NOW), 'station');
  });

  it('mute lists silence the sender or the group', () => {
    const group = parseId('Group-1@7ThVZeDuQAdG3eSDF6NeFjMDPjKN5SbrnM');
    assert.equal(mutedBy([bob.id.string], message()), 'muted-sender');
    assert.equal(mutedBy([group.string], message({ group: group.string })), 'muted-group');
    assert.equal(mutedBy(['someone@else'], message()), undefined);
    assert.equal(mutedBy(undefined, message()), undefined);
  });

  it('an active session covers devices of its terminal, or all when either has none', () => {
    const phone = { platform: 'ios' as const, token: 'aa', channel: 'apns', terminal: 'phone', time: 1 };
    assert.equal(isCovered(phone, []), false);
    assert.equal(isCovered(phone, [{ terminal: 'tablet' }]), false);
    assert.equal(isCovered(phone, [{ terminal: 'phone' }]), true);
    assert.equal(isCovered(phone, [{ terminal: '*' }]), true);
    assert.equal(isCovered({ ...phone, terminal: undefined }, [{ terminal: 'tablet' }]), true);
  });
});

describe('notifications', () => {
  const names = {
    nameOf: (id: string) => ({ 'a@x': 'Alice', 'b@x': 'Bob', 'g@x': 'Friends' })[id],
    language: 'en',
  };
  const item = (id: string, sender = 'b@x', extra: Record<string, unknown> = {}) => ({
    id,
    sender,
    time: NOW,
    type: 1,
    devices: ['d'],
    ...extra,
  });

  it('words one message like the reference, with the group variant', () => {
    const n = buildNotification('a@x', [item('1')], 3, names);
    assert.equal(n.title, 'Text Message');
    assert.equal(n.body, 'Dear Alice: Bob sent you a text message.');
    assert.equal(n.badge, 3);
    const g = buildNotification('a@x', [item('1', 'b@x', { group: 'g@x', type: 0x12 })], 1, names);
    assert.equal(g.title, 'Image');
    assert.equal(g.body, 'Dear Alice: Bob sent you an image in group "Friends".');
    assert.equal(g.conversation, 'g@x');
  });

  it('coalesces several messages into one notification with the count', () => {
    const n = buildNotification('a@x', [item('1'), item('2'), item('3')], 3, names);
    assert.equal(n.count, 3);
    assert.equal(n.title, '3 New Messages');
    assert.equal(n.body, 'Dear Alice: Bob sent you 3 messages.');
    const mixed = buildNotification('a@x', [item('1'), item('2', 'c@x')], 2, names);
    assert.equal(mixed.body, 'Dear Alice: you have 2 new messages.');
  });

  it('has the ten languages, every template complete, chosen from app.language / sys.locale', () => {
    for (const code of ['en', 'zh', 'es', 'fr', 'de', 'ja', 'ko', 'ru', 'ar', 'pt']) {
      const t = TEMPLATES[code];
      assert.ok(t, code);
      for (const key of ['single', 'group', 'many', 'manyGroup', 'manySenders'] as const)
        assert.ok(t[key].includes('{receiver}'), `${code}.${key}`);
      assert.ok(t.group.includes('{group}') && t.single.includes('{what}') && t.many.includes('{count}'));
      assert.equal(Object.keys(t.titles).length, 9);
    }
    assert.equal(templatesFor('zh_CN'), TEMPLATES['zh']);
    assert.equal(templatesFor('pt-BR'), TEMPLATES['pt']);
    assert.equal(templatesFor('xx'), TEMPLATES['en']);
    const zh = buildNotification('a@x', [item('1')], 1, { ...names, language: 'zh_CN' });
    assert.equal(zh.body, 'Alice，您好：Bob 给您发送了一条文本消息。');
  });
});

describe('retry policy and headers', () => {
  it('backs off exponentially with bounded jitter, honours Retry-After, caps the delay', () => {
    const p = DEFAULT_RETRY_POLICY;
    assert.equal(
      retryDelay(p, 1, undefined, () => 0.5),
      1000,
    );
    assert.equal(
      retryDelay(p, 3, undefined, () => 0.5),
      4000,
    );
    assert.equal(
      retryDelay(p, 1, undefined, () => 0),
      750,
    );
    assert.equal(
      retryDelay(p, 1, undefined, () => 1),
      1250,
    );
    assert.equal(
      retryDelay(p, 30, undefined, () => 0.5),
      p.maxBackoffMs,
    );
    assert.equal(
      retryDelay(p, 1, 7000, () => 0.5),
      7000,
    );
  });

  it('reads Retry-After in seconds and HTTP-date forms', () => {
    assert.equal(parseRetryAfter('3'), 3000);
    const at = new Date(NOW + 10_000).toUTCString();
    const ms = parseRetryAfter(at, NOW) ?? -1;
    assert.ok(ms > 8000 && ms <= 10_000, String(ms));
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(undefined), undefined);
  });

  it('job IDs derive from receiver and message only; webhook signatures are Standard Webhooks', () => {
    assert.equal(pushJobId('a@x', 'm1'), pushJobId('a@x', 'm1'));
    assert.notEqual(pushJobId('a@x', 'm1'), pushJobId('b@x', 'm1'));
    assert.doesNotMatch(pushJobId('a@x', 'm1'), /:/);
    // the Standard Webhooks spec's own example
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = '{"test": 2432232314}';
    assert.equal(
      webhookSignature(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, body),
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });
});

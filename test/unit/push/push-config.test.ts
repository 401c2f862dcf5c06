/** The `push` block of the one config loader: environment and file forms, validation with clear errors. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config/load-config.ts';

describe('push configuration', () => {
  it('is off by default, with the documented defaults', () => {
    const { push } = loadConfig({}, '/srv');
    assert.equal(push.apns, undefined);
    assert.equal(push.fcm, undefined);
    assert.equal(push.webhook, undefined);
    assert.deepEqual(
      [push.coalesceMs, push.concurrency, push.attempts, push.backoffMs, push.lockDurationMs],
      [1000, 64, 8, 1000, 30_000],
    );
  });

  it('reads every provider from the environment, paths resolved against the working directory', () => {
    const { push } = loadConfig(
      {
        DIM_PUSH_APNS_KEY_FILE: 'keys/AuthKey.p8',
        DIM_PUSH_APNS_KEY_ID: 'ABC123DEFG',
        DIM_PUSH_APNS_TEAM_ID: 'TEAM123456',
        DIM_PUSH_APNS_TOPIC: 'chat.dim.sechat',
        DIM_PUSH_APNS_SANDBOX: 'true',
        DIM_PUSH_FCM_SERVICE_ACCOUNT_FILE: '/etc/dim/fcm.json',
        DIM_PUSH_WEBHOOK_URL: 'https://push.example/hook',
        DIM_PUSH_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        DIM_PUSH_COALESCE_MS: '0',
        DIM_PUSH_ATTEMPTS: '3',
      },
      '/srv',
    );
    assert.deepEqual(push.apns, {
      keyFile: '/srv/keys/AuthKey.p8',
      keyId: 'ABC123DEFG',
      teamId: 'TEAM123456',
      topic: 'chat.dim.sechat',
      sandbox: true,
      productionUrl: undefined,
      sandboxUrl: undefined,
    });
    assert.equal(push.fcm?.serviceAccountFile, '/etc/dim/fcm.json');
    assert.equal(push.webhook?.url, 'https://push.example/hook');
    assert.equal(push.coalesceMs, 0);
    assert.equal(push.attempts, 3);
  });

  it('reads the push block of the config file; the environment wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dim-cfg-'));
    try {
      writeFileSync(
        join(dir, 'config.json'),
        JSON.stringify({
          push: {
            webhook: { url: 'http://127.0.0.1:8088/api/push', secret: 'a-long-enough-secret' },
            concurrency: 8,
          },
        }),
      );
      const { push } = loadConfig({ DIM_CONFIG_FILE: 'config.json', DIM_PUSH_CONCURRENCY: '16' }, dir);
      assert.equal(push.webhook?.secret, 'a-long-enough-secret');
      assert.equal(push.concurrency, 16);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses incomplete or malformed settings, naming the variable', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ DIM_PUSH_APNS_KEY_FILE: 'k.p8' }, /DIM_PUSH_APNS_KEY_ID/],
      [{ DIM_PUSH_APNS_KEY_FILE: 'k.p8', DIM_PUSH_APNS_KEY_ID: 'ABC123DEFG' }, /DIM_PUSH_APNS_TEAM_ID/],
      [{ DIM_PUSH_WEBHOOK_URL: 'https://x/hook' }, /DIM_PUSH_WEBHOOK_SECRET/],
      [
        { DIM_PUSH_WEBHOOK_URL: 'ftp://x', DIM_PUSH_WEBHOOK_SECRET: 'a-long-enough-secret' },
        /DIM_PUSH_WEBHOOK_URL/,
      ],
      [{ DIM_PUSH_CONCURRENCY: '0' }, /DIM_PUSH_CONCURRENCY/],
      [{ DIM_PUSH_ATTEMPTS: '1000' }, /DIM_PUSH_ATTEMPTS/],
      [
        {
          DIM_PUSH_APNS_SANDBOX: 'maybe',
          DIM_PUSH_APNS_KEY_FILE: 'k',
          DIM_PUSH_APNS_KEY_ID: 'ABC123DEFG',
          DIM_PUSH_APNS_TEAM_ID: 'TEAM123456',
        },
        /DIM_PUSH_APNS_SANDBOX/,
      ],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => loadConfig(env, '/srv'),
        (err: unknown) => err instanceof ConfigError && message.test(err.message),
      );
    }
  });

  it('never puts a secret in an error message', () => {
    try {
      loadConfig({ DIM_PUSH_WEBHOOK_URL: 'https://x/hook', DIM_PUSH_WEBHOOK_SECRET: 'short-secret' }, '/srv');
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.ok(!err.message.includes('short-secret'));
    }
  });
});

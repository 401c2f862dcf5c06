/** APNs provider-token renewal rules and the per-provider rate limiter, on injected clocks. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { ApnsProviderToken, ApnsTokenError } from '../../../src/push/apns-token.ts';
import { RateLimiter } from '../../../src/push/rate-limiter.ts';

describe('APNs provider token', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

  it('is an ES256 JWT {kid} / {iss, iat} with a raw r||s signature', () => {
    const token = new ApnsProviderToken(pem, 'ABC123DEFG', 'TEAM123456', () => 1_800_000_000_000).get();
    const [h, c, s] = token.split('.') as [string, string, string];
    assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url').toString()), { alg: 'ES256', kid: 'ABC123DEFG' });
    assert.deepEqual(JSON.parse(Buffer.from(c, 'base64url').toString()), {
      iss: 'TEAM123456',
      iat: 1_800_000_000,
    });
    assert.equal(Buffer.from(s, 'base64url').length, 64);
    assert.ok(
      verify(
        'sha256',
        Buffer.from(`${h}.${c}`),
        { key: publicKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(s, 'base64url'),
      ),
    );
  });

  it('is shared for 50 minutes, then renewed; ExpiredProviderToken renews only a token ≥ 20 min old', () => {
    let now = 1_800_000_000_000;
    const tokens = new ApnsProviderToken(pem, 'ABC123DEFG', 'TEAM123456', () => now);
    const first = tokens.get();
    now += 49 * 60_000;
    assert.equal(tokens.get(), first);
    now += 60_000;
    const second = tokens.get();
    assert.notEqual(second, first);
    now += 5 * 60_000;
    assert.equal(tokens.expired(second), false, 'too young to renew (429 TooManyProviderTokenUpdates)');
    assert.equal(tokens.get(), second);
    now += 15 * 60_000;
    assert.equal(tokens.expired(second), true);
    assert.notEqual(tokens.get(), second);
  });

  it('refuses keys that are not EC P-256 and malformed IDs', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }) as string;
    assert.throws(() => new ApnsProviderToken(rsa, 'ABC123DEFG', 'TEAM123456'), ApnsTokenError);
    assert.throws(() => new ApnsProviderToken('not a key', 'ABC123DEFG', 'TEAM123456'), ApnsTokenError);
    assert.throws(() => new ApnsProviderToken(pem, 'short', 'TEAM123456'), ApnsTokenError);
  });
});

describe('rate limiter', () => {
  it('lets a burst through at once, then paces at the rate, in order', async () => {
    const limiter = new RateLimiter(50, 5);
    const started = performance.now();
    const order: number[] = [];
    await Promise.all(Array.from({ length: 15 }, (_, i) => limiter.acquire().then(() => order.push(i))));
    const elapsed = performance.now() - started;
    assert.deepEqual(
      order,
      Array.from({ length: 15 }, (_, i) => i),
    );
    // 5 at once, 10 more at 50/s: at least ~200 ms
    assert.ok(elapsed >= 180, `${elapsed.toFixed(0)} ms`);
  });
});

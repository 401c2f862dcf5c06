import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EccPrivateKey } from '../../../src/protocol/crypto/ecc.ts';
import { RsaPrivateKey } from '../../../src/protocol/crypto/rsa.ts';
import { SignatureCache } from '../../../src/protocol/crypto/signature-cache.ts';

const ecc = EccPrivateKey.generate();
const rsa = RsaPrivateKey.generate(1024);
const data = new TextEncoder().encode('{"ID":"moky@4DnqXWdTV8wuZgfqSCX9GjE2kNq7HJrUgQ"}');

describe('signature cache', () => {
  it('answers a repeated (key, data, signature) from the cache and nothing else', () => {
    const cache = new SignatureCache(100);
    const signature = ecc.sign(data);
    assert.equal(cache.verify(ecc.publicKey, data, signature), true);
    assert.equal(cache.verify(ecc.publicKey, data, signature), true);
    assert.deepEqual([cache.hits, cache.misses], [1, 1]);
    const otherData = Uint8Array.of(...data, 0x20);
    assert.equal(cache.verify(ecc.publicKey, otherData, signature), false, 'other data');
    const flipped = Uint8Array.from(signature);
    flipped[flipped.length - 1]! ^= 1;
    assert.equal(cache.verify(ecc.publicKey, data, flipped), false, 'other signature');
    assert.equal(cache.verify(EccPrivateKey.generate().publicKey, data, signature), false, 'other key');
    assert.equal(cache.verify(rsa.publicKey, data, rsa.sign(data)), true, 'RSA keys too');
    assert.equal(cache.hits, 1);
  });

  it('does not remember failures, evicts the least recently verified, and can be disabled', () => {
    const cache = new SignatureCache(2);
    const bad = ecc.sign(Uint8Array.of(1));
    assert.equal(cache.verify(ecc.publicKey, data, bad), false);
    assert.equal(cache.verify(ecc.publicKey, data, bad), false);
    assert.equal(cache.hits, 0);
    const s = [0, 1, 2].map((i) => ({ d: Uint8Array.of(i), sig: ecc.sign(Uint8Array.of(i)) }));
    for (const { d, sig } of s) assert.ok(cache.verify(ecc.publicKey, d, sig));
    // 0 was evicted by 2: a miss; 2 is still there: a hit
    const misses = cache.misses;
    assert.ok(cache.verify(ecc.publicKey, s[0]!.d, s[0]!.sig));
    assert.equal(cache.misses, misses + 1);
    assert.ok(cache.verify(ecc.publicKey, s[2]!.d, s[2]!.sig));
    assert.equal(cache.misses, misses + 1);
    const off = new SignatureCache(0);
    assert.ok(off.verify(ecc.publicKey, s[1]!.d, s[1]!.sig));
    assert.ok(off.verify(ecc.publicKey, s[1]!.d, s[1]!.sig));
    assert.deepEqual([off.hits, off.misses], [0, 0]);
  });
});

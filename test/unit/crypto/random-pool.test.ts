import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomBytes } from '../../../src/protocol/crypto/random-pool.ts';

describe('random pool', () => {
  it('hands out fresh, distinct values across pool refills, in the requested lengths', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      // 16- and 32-byte values, as IVs and keys: 2000 of them span several 4 KiB refills
      const value = randomBytes(i % 2 === 0 ? 16 : 32);
      assert.equal(value.length, i % 2 === 0 ? 16 : 32);
      const hex = Buffer.from(value).toString('hex');
      assert.ok(!seen.has(hex), 'a value came out twice');
      seen.add(hex);
    }
    const big = randomBytes(1000);
    assert.equal(big.length, 1000);
    assert.ok(big.some((b) => b !== 0));
    assert.equal(randomBytes(0).length, 0);
  });

  it('returns copies: changing one does not change later values', () => {
    const a = randomBytes(16);
    a.fill(0);
    const b = randomBytes(16);
    assert.ok(b.some((x) => x !== 0));
  });
});

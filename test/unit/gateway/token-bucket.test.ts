import { it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from '../../../src/gateway/token-bucket.ts';

it('allows a burst, then the refill rate', () => {
  const bucket = new TokenBucket(10, 5, 0);
  for (let i = 0; i < 5; i++) assert.equal(bucket.take(0), true);
  assert.equal(bucket.take(0), false);
  assert.equal(bucket.take(50), false, 'half a token after 50 ms at 10/s');
  assert.equal(bucket.take(100), true, 'one token after 100 ms');
  assert.equal(bucket.take(100), false);
  assert.equal(bucket.take(10_000), true);
  for (let i = 0; i < 4; i++) assert.equal(bucket.take(10_000), true);
  assert.equal(bucket.take(10_000), false, 'never more than the burst banked');
});

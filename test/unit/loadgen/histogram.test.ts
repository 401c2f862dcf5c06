/**
 * The load generator's latency histogram: merging (several generator processes each record their share,
 * the coordinator adds the buckets) and the plain-data form that crosses the process boundary.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram } from '../../../bench/loadgen/histogram.ts';

function recorded(values: readonly number[]): Histogram {
  const h = new Histogram();
  for (const ms of values) h.recordMs(ms);
  return h;
}

/** Deterministic spread of latencies over several powers of two (0.05 ms … ~2 s). */
function values(n: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return 0.05 * 2 ** ((x / 2 ** 31) * 15);
  });
}

describe('loadgen Histogram merging', () => {
  it('merging the parts gives exactly the histogram of all values', () => {
    const a = values(5000, 1);
    const b = values(3000, 2);
    const c = values(1, 3);
    const whole = recorded([...a, ...b, ...c]);
    const merged = Histogram.merge([recorded(a), recorded(b), recorded(c)]);
    assert.deepEqual(merged.summary(), whole.summary());
    assert.deepEqual(merged.toJSON(), whole.toJSON());
    for (const q of [0, 0.1, 0.5, 0.9, 0.99, 0.999, 1]) {
      assert.equal(merged.quantileMs(q), whole.quantileMs(q), `q=${q}`);
    }
  });

  it('an empty histogram is neutral; merging nothing is empty', () => {
    const a = recorded([1, 2, 3]);
    assert.deepEqual(Histogram.merge([new Histogram(), a, new Histogram()]).summary(), a.summary());
    const none = Histogram.merge([]);
    assert.equal(none.count, 0);
    assert.deepEqual(none.summary(), new Histogram().summary());
  });

  it('min and max come from the parts that hold them', () => {
    const merged = Histogram.merge([recorded([5, 6]), recorded([0.2]), recorded([900])]);
    assert.equal(merged.minMs, 0.2);
    assert.equal(merged.maxMs, 900);
    assert.equal(merged.count, 4);
    assert.ok(Math.abs(merged.meanMs - (5 + 6 + 0.2 + 900) / 4) < 1e-9);
  });

  it('toJSON / fromJSON round-trips through JSON text (sparse buckets)', () => {
    const h = recorded(values(2000, 7));
    const data = JSON.parse(JSON.stringify(h)) as ReturnType<Histogram['toJSON']>;
    assert.ok(data.buckets.length < 2000 && data.buckets.length > 100);
    const back = Histogram.fromJSON(data);
    assert.deepEqual(back.summary(), h.summary());
    assert.deepEqual(back.toJSON(), h.toJSON());
    const empty = Histogram.fromJSON(new Histogram().toJSON());
    assert.equal(empty.count, 0);
    empty.recordMs(3);
    assert.equal(empty.minMs, 3, 'an empty histogram from data still takes a new minimum');
  });

  it('fromJSON rejects inconsistent data', () => {
    assert.throws(
      () => Histogram.fromJSON({ count: 2, sumUs: 2, minUs: 1, maxUs: 1, buckets: [[1, 1]] }),
      /buckets hold 1/,
    );
    assert.throws(
      () => Histogram.fromJSON({ count: 1, sumUs: 1, minUs: 1, maxUs: 1, buckets: [[-1, 1]] }),
      /bad bucket/,
    );
  });
});

/**
 * A small log-bucketed latency histogram (the HdrHistogram layout with 8 significant bits): values are
 * recorded in whole microseconds; values below 256 µs are exact, larger ones fall into one of 128 linear
 * sub-buckets per power of two, so a reported percentile is within 0.4% of a recorded value (bucket
 * midpoints; at most 1/256 relative error). Range 1 µs … 2^53 µs; memory is a few KiB whatever the count.
 * Histograms merge by adding bucket counts (`add`, `Histogram.merge`); `toJSON` / `Histogram.fromJSON` carry
 * one between processes (a generator worker's histograms go to the coordinator, which merges them).
 */

const SUB_BITS = 8;
const SUB_COUNT = 1 << SUB_BITS; // 256: exact below this
const HALF = SUB_COUNT >> 1; // 128 sub-buckets per power of two above it
const MAX_SHIFT = 45;
const BUCKETS = SUB_COUNT + MAX_SHIFT * HALF;

export interface LatencySummary {
  readonly count: number;
  /** Milliseconds, 3 decimals; 0 when count is 0. */
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

function indexOf(us: number): number {
  if (us < SUB_COUNT) return us;
  // shift such that us >> shift is in [128, 255]
  const shift = Math.min(MAX_SHIFT, Math.floor(Math.log2(us)) - (SUB_BITS - 1));
  let m = Math.floor(us / 2 ** shift);
  // Math.log2 can be off by one near powers of two: normalise
  let s = shift;
  if (m >= SUB_COUNT) {
    s += 1;
    m = Math.floor(us / 2 ** s);
  } else if (m < HALF && s > 1) {
    s -= 1;
    m = Math.floor(us / 2 ** s);
  }
  return Math.min(BUCKETS - 1, SUB_COUNT + (s - 1) * HALF + (m - HALF));
}

/** Lowest and highest value (µs) of a bucket. */
function bucketRange(index: number): [number, number] {
  if (index < SUB_COUNT) return [index, index];
  const s = Math.floor((index - SUB_COUNT) / HALF) + 1;
  const m = ((index - SUB_COUNT) % HALF) + HALF;
  const low = m * 2 ** s;
  return [low, low + 2 ** s - 1];
}

/** A histogram as plain data (sparse buckets): what a worker process sends to the coordinator. */
export interface HistogramData {
  readonly count: number;
  readonly sumUs: number;
  /** 0 when count is 0. */
  readonly minUs: number;
  readonly maxUs: number;
  /** [bucket index, count] of the non-empty buckets. */
  readonly buckets: ReadonlyArray<readonly [number, number]>;
}

const round3 = (ms: number): number => Math.round(ms * 1000) / 1000;

export class Histogram {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #sumUs = 0;
  #minUs = Number.POSITIVE_INFINITY;
  #maxUs = 0;

  get count(): number {
    return this.#count;
  }

  /** Record a duration in milliseconds (negative values count as 0; sub-µs values as 1 µs). */
  recordMs(ms: number): void {
    this.recordUs(ms * 1000);
  }

  recordUs(value: number): void {
    const us = Math.max(1, Math.round(Number.isFinite(value) ? value : 0));
    this.#counts[indexOf(us)]! += 1;
    this.#count += 1;
    this.#sumUs += us;
    if (us < this.#minUs) this.#minUs = us;
    if (us > this.#maxUs) this.#maxUs = us;
  }

  /** Add another histogram's counts to this one. */
  add(other: Histogram): void {
    const counts = other.#counts;
    for (let i = 0; i < BUCKETS; i++) {
      const c = counts[i]!;
      if (c !== 0) this.#counts[i]! += c;
    }
    this.#count += other.#count;
    this.#sumUs += other.#sumUs;
    this.#minUs = Math.min(this.#minUs, other.#minUs);
    this.#maxUs = Math.max(this.#maxUs, other.#maxUs);
  }

  /** A new histogram holding every value of `histograms` (bucket counts added). */
  static merge(histograms: Iterable<Histogram>): Histogram {
    const merged = new Histogram();
    for (const h of histograms) merged.add(h);
    return merged;
  }

  toJSON(): HistogramData {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) {
      const c = this.#counts[i]!;
      if (c !== 0) buckets.push([i, c]);
    }
    return {
      count: this.#count,
      sumUs: this.#sumUs,
      minUs: this.#count === 0 ? 0 : this.#minUs,
      maxUs: this.#maxUs,
      buckets,
    };
  }

  static fromJSON(data: HistogramData): Histogram {
    const h = new Histogram();
    let count = 0;
    for (const [index, c] of data.buckets) {
      if (!Number.isInteger(index) || index < 0 || index >= BUCKETS || !(c >= 0)) {
        throw new Error(`histogram data: bad bucket [${index}, ${c}]`);
      }
      h.#counts[index]! += c;
      count += c;
    }
    if (count !== data.count)
      throw new Error(`histogram data: buckets hold ${count}, count says ${data.count}`);
    h.#count = data.count;
    h.#sumUs = data.sumUs;
    if (data.count > 0) {
      h.#minUs = data.minUs;
      h.#maxUs = data.maxUs;
    }
    return h;
  }

  /** The value (ms) at quantile q in [0, 1]: the midpoint of the bucket holding it, within [min, max]. */
  quantileMs(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(Math.min(1, Math.max(0, q)) * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) {
        const [low, high] = bucketRange(i);
        const mid = (low + high) / 2;
        return Math.min(this.#maxUs, Math.max(this.#minUs, mid)) / 1000;
      }
    }
    return this.#maxUs / 1000;
  }

  get maxMs(): number {
    return this.#count === 0 ? 0 : this.#maxUs / 1000;
  }

  get minMs(): number {
    return this.#count === 0 ? 0 : this.#minUs / 1000;
  }

  get meanMs(): number {
    return this.#count === 0 ? 0 : this.#sumUs / this.#count / 1000;
  }

  summary(): LatencySummary {
    return {
      count: this.#count,
      min: round3(this.minMs),
      mean: round3(this.meanMs),
      p50: round3(this.quantileMs(0.5)),
      p90: round3(this.quantileMs(0.9)),
      p99: round3(this.quantileMs(0.99)),
      p999: round3(this.quantileMs(0.999)),
      max: round3(this.maxMs),
    };
  }
}

/**
 * Small seeded PRNG (sfc32) for reproducible randomized tests. Not for cryptography.
 */
export interface Prng {
  readonly seed: number;
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform integer in [min, max]. */
  range(min: number, max: number): number;
  /** `count` random bytes. */
  bytes(count: number): Buffer;
  /** True with probability p. */
  chance(p: number): boolean;
  /** A random element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
}

export function createPrng(seed: number): Prng {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const u32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 16; i++) u32();
  const next = (): number => u32() / 0x1_0000_0000;
  const int = (n: number): number => Math.floor(next() * n);
  return {
    seed: seed >>> 0,
    next,
    int,
    range: (min, max) => min + int(max - min + 1),
    bytes: (count) => {
      const out = Buffer.allocUnsafe(count);
      for (let i = 0; i < count; i++) out[i] = u32() & 0xff;
      return out;
    },
    chance: (p) => next() < p,
    pick: <T>(items: readonly T[]): T => items[int(items.length)] as T,
  };
}

/** Splits `data` at random points into chunks (sizes 1..maxChunk, biased towards small ones). */
export function randomSplit(data: Uint8Array, rng: Prng, maxChunk = 64): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let at = 0;
  while (at < data.length) {
    const limit = rng.chance(0.2) ? maxChunk * 32 : maxChunk;
    const size = 1 + rng.int(limit);
    chunks.push(data.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

/** A token bucket: `rate` tokens per second, at most `burst` banked. Time is passed in (ms) for testability. */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  #tokens: number;
  #last: number;

  constructor(rate: number, burst: number, nowMs: number) {
    this.rate = rate;
    this.burst = burst;
    this.#tokens = burst;
    this.#last = nowMs;
  }

  /** Take one token; false when the bucket is empty. */
  take(nowMs: number): boolean {
    const elapsed = Math.max(0, nowMs - this.#last);
    this.#last = nowMs;
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.rate) / 1000);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * An asynchronous token bucket: `acquire()` resolves when a token is available (FIFO), so a provider is
 * never sent more than `rate` requests per second on average, with bursts up to `burst`.
 */
export class RateLimiter {
  readonly rate: number;
  readonly burst: number;
  #tokens: number;
  #last: number;
  readonly #waiters: (() => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #now: () => number;

  constructor(
    rate: number,
    burst = Math.max(1, Math.ceil(rate)),
    now: () => number = performance.now.bind(performance),
  ) {
    if (!(rate > 0)) throw new RangeError(`rate must be positive, got ${rate}`);
    this.rate = rate;
    this.burst = burst;
    this.#tokens = burst;
    this.#now = now;
    this.#last = now();
  }

  acquire(): Promise<void> {
    if (this.#waiters.length === 0 && this.#take()) return Promise.resolve();
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#schedule();
    });
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.rate) / 1000);
    this.#last = now;
  }

  #take(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    const wait = Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.rate));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      while (this.#waiters.length > 0 && this.#take()) this.#waiters.shift()?.();
      if (this.#waiters.length > 0) this.#schedule();
    }, wait);
  }
}

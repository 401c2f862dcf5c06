/**
 * Fires once when nothing was received for `timeout` ms. `touch()` (called for every inbound chunk) only
 * stores a timestamp; the single timer re-arms itself for the remaining time, so busy connections cost no
 * timer churn. A timeout of 0 disables it.
 */
export class IdleTimer {
  readonly timeout: number;
  readonly #onIdle: () => void;
  #last = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(timeout: number, onIdle: () => void) {
    this.timeout = timeout;
    this.#onIdle = onIdle;
    this.#last = performance.now();
    if (timeout > 0) this.#arm(timeout);
  }

  /** Something arrived. */
  touch(): void {
    this.#last = performance.now();
  }

  /** Idempotent. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#check(), Math.max(1, Math.ceil(ms)));
    this.#timer.unref();
  }

  #check(): void {
    if (this.#stopped) return;
    const idle = performance.now() - this.#last;
    if (idle >= this.timeout) {
      this.#stopped = true;
      this.#timer = undefined;
      this.#onIdle();
    } else {
      this.#arm(this.timeout - idle);
    }
  }
}

/**
 * What the bus's read loops (stream-consumer.ts, stream-tail.ts) share: the retry backoff after a store
 * failure, the once-per-outage log lines (`BUS_UNAVAILABLE` or the error's code, then `BUS_RECOVERED`), and
 * the one wait the loop may be in (for capacity, or a backoff), which a finishing handler or close() ends.
 */
import type { Logger } from 'pino';
import { isBusError } from './bus-error.ts';

const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 2000;

/** The pause before retry `attempt` (1, 2, …): 50 ms doubling up to 2 s. */
export function retryDelay(attempt: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(10, Math.max(0, attempt - 1)));
}

/** An error for a log line: `<code>: <message>` when it has a code. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** Logs a loop's outage once when it starts and once when it ends. */
export class OutageLog {
  readonly #log: Logger;
  /** What fails, in the log lines (`bus consumer`, `bus tail`). */
  readonly #what: string;
  #failing = false;

  constructor(log: Logger, what: string) {
    this.#log = log;
    this.#what = what;
  }

  get failing(): boolean {
    return this.#failing;
  }

  failed(err: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#log.warn(
      { code: isBusError(err) ? err.code : 'BUS_UNAVAILABLE', err: errorText(err) },
      `${this.#what} failing; retrying`,
    );
  }

  recovered(): void {
    if (!this.#failing) return;
    this.#failing = false;
    this.#log.info({ code: 'BUS_RECOVERED' }, `${this.#what} recovered`);
  }
}

/** The loop's one wait: for capacity (a held entry is released) or a backoff; close() ends either. */
export class LoopWait {
  #waker: { kind: 'capacity' | 'backoff'; wake: () => void } | undefined;

  /** Wait up to `ms` (at least 1); returns at once when `closing`. */
  wait(kind: 'capacity' | 'backoff', ms: number, closing: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.#waker?.wake === done) this.#waker = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      this.#waker = { kind, wake: done };
      if (closing) done();
    });
  }

  /** Ends the wait: any wait (no kind, closing), else only a wait of that kind. */
  signal(kind?: 'capacity'): void {
    const waker = this.#waker;
    if (waker && (kind === undefined || waker.kind === kind)) waker.wake();
  }
}

/** Polling helpers for the integration tests (short timeouts: a failing test must fail fast). */
import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves once `check()` is true; rejects after `timeout` ms. */
export async function until(check: () => boolean, timeout = 2000, what = 'condition'): Promise<void> {
  const deadline = performance.now() + timeout;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(2);
  }
}

export { sleep };

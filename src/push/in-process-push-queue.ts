/**
 * The push queue of the embedded engine (no Redis): the same PushQueue contract, handler and retry policy
 * as the BullMQ queue, in this process — delayed jobs, job-ID dedup (for an hour after completion), a
 * concurrency limit, retries with backoff and jitter honouring Retry-After. Jobs are lost on restart, like
 * everything else the embedded engine keeps.
 */
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import { PushRetryError, retryDelay } from './push-queue.ts';
import type { PushJob, PushJobHandler, PushQueue, RetryPolicy } from './push-queue.ts';

export interface InProcessPushQueueOptions {
  readonly handler: PushJobHandler;
  readonly policy: RetryPolicy;
  readonly concurrency: number;
  readonly logger?: Logger;
  /** Completed job IDs are remembered this long (ms, default 1 h). */
  readonly keepCompletedMs?: number;
}

export class InProcessPushQueue implements PushQueue {
  readonly #o: InProcessPushQueueOptions;
  readonly #log: Logger;
  /** Job ID → time it may be forgotten (Infinity while queued or running). */
  readonly #known = new Map<string, number>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #ready: (() => void)[] = [];
  #running = 0;
  readonly #idle = new Set<() => void>();
  #closed = false;

  constructor(options: InProcessPushQueueOptions) {
    this.#o = options;
    this.#log = (options.logger ?? silentLogger).child({ module: 'push-queue' });
  }

  async add(jobId: string, job: PushJob, delayMs: number): Promise<void> {
    if (this.#closed) throw new Error('push queue closed');
    const now = Date.now();
    const until = this.#known.get(jobId);
    if (until !== undefined && until > now) return;
    this.#known.set(jobId, Infinity);
    this.#sweep(now);
    this.#later(delayMs, () => this.#run(jobId, job, 1));
  }

  #later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  async #slot(): Promise<void> {
    if (this.#running < this.#o.concurrency) {
      this.#running += 1;
      return;
    }
    await new Promise<void>((resolve) => this.#ready.push(resolve));
  }

  #release(): void {
    const next = this.#ready.shift();
    if (next) next();
    else this.#running -= 1;
    if (this.#running === 0) for (const resolve of this.#idle) resolve();
  }

  async #run(jobId: string, job: PushJob, attempt: number): Promise<void> {
    if (this.#closed) return;
    await this.#slot();
    if (this.#closed) {
      this.#release();
      return;
    }
    try {
      await this.#o.handler(jobId, job, attempt);
      this.#known.set(jobId, Date.now() + (this.#o.keepCompletedMs ?? 3600_000));
    } catch (err) {
      const retryAfter = err instanceof PushRetryError ? err.retryAfterMs : undefined;
      if (attempt < this.#o.policy.attempts && !this.#closed) {
        const delay = retryDelay(this.#o.policy, attempt, retryAfter);
        this.#log.debug({ code: 'PUSH_JOB_RETRY', jobId, attempt, delay }, 'push job will be retried');
        this.#later(delay, () => void this.#run(jobId, job, attempt + 1));
      } else {
        this.#known.set(jobId, Date.now() + (this.#o.keepCompletedMs ?? 3600_000));
        this.#log.error(
          { code: 'PUSH_JOB_FAILED', jobId, attempts: attempt, err: String(err) },
          'push job failed for good',
        );
      }
    } finally {
      this.#release();
    }
  }

  #sweep(now: number): void {
    if (this.#known.size < 4096) return;
    for (const [id, until] of this.#known) if (until < now) this.#known.delete(id);
  }

  /** Stop: queued and delayed jobs are dropped, running ones finish. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const resolve of this.#ready.splice(0)) resolve();
    if (this.#running > 0) await new Promise<void>((resolve) => this.#idle.add(resolve));
  }
}

/**
 * The push job queue, seen from both ends: producers add one job per coalescing window (named after its
 * first message and the receiver, so re-adding it is a no-op), workers run the handler with the retry
 * policy (exponential backoff with jitter, `Retry-After` honoured). Two implementations share this
 * contract and the policy: BullMQ (Redis engine) and an in-process queue (embedded engine).
 */
import { createHash } from 'node:crypto';

export interface PushJob {
  /** Naked receiver ID string. */
  readonly user: string;
}

export interface PushQueue {
  /** Add a job unless one with this ID exists; it runs after `delayMs`. */
  add(jobId: string, job: PushJob, delayMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Runs one job; throws PushRetryError to be retried, anything else is retried with the default backoff. */
export type PushJobHandler = (jobId: string, job: PushJob, attempt: number) => Promise<void>;

export interface RetryPolicy {
  /** Runs per job, the first included. */
  readonly attempts: number;
  /** First retry delay (ms); doubles per attempt. */
  readonly backoffMs: number;
  /** Longest delay between attempts (ms). */
  readonly maxBackoffMs: number;
  /** Random share of the delay (0..1) added or removed, so retries of many jobs spread out. */
  readonly jitter: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  attempts: 8,
  backoffMs: 1000,
  maxBackoffMs: 5 * 60_000,
  jitter: 0.25,
};

/** A job failed in a way worth retrying; `retryAfterMs` is the provider's `Retry-After`, if any. */
export class PushRetryError extends Error {
  readonly code = 'PUSH_RETRY';
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'PushRetryError';
    this.retryAfterMs = retryAfterMs;
  }
}

/** Delay before the next run after `attemptsMade` runs (≥ 1), honouring a Retry-After. */
export function retryDelay(
  policy: RetryPolicy,
  attemptsMade: number,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  const base = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** Math.max(0, attemptsMade - 1));
  const jittered = base * (1 + policy.jitter * (2 * random() - 1));
  const delay = Math.max(retryAfterMs ?? 0, jittered);
  return Math.round(Math.min(delay, Math.max(policy.maxBackoffMs, retryAfterMs ?? 0)));
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/** The digest that identifies a message (from its signature) in push state and job IDs. */
export function messageDigest(signature: string): string {
  return digest(signature);
}

/** The job of a coalescing window: derived from the receiver and the window's first message. */
export function pushJobId(user: string, messageId: string): string {
  return `p-${digest(`${user}\n${messageId}`)}`;
}

/** A token as it is referred to in jobs and batches (never the token itself). */
export function deviceKey(token: string): string {
  return digest(`device\n${token}`).slice(0, 20);
}

/**
 * Waiting for an ioredis connection to be usable. The station's connections run with the offline queue
 * disabled (a command issued while disconnected fails at once instead of hanging), so callers wait here,
 * for a bounded time, for the connection to come (back) up.
 */
import type { RedisClient } from './redis-connection.ts';

const nextReady = new WeakMap<RedisClient, Promise<boolean>>();

/** One shared promise per connection (no listener per waiter): true on 'ready', false on 'end'. */
function readyEvent(redis: RedisClient): Promise<boolean> {
  let promise = nextReady.get(redis);
  if (!promise) {
    promise = new Promise<boolean>((resolve) => {
      const settle = (ok: boolean): void => {
        redis.off('ready', onReady);
        redis.off('end', onEnd);
        nextReady.delete(redis);
        resolve(ok);
      };
      const onReady = (): void => settle(true);
      const onEnd = (): void => settle(false);
      redis.on('ready', onReady);
      redis.on('end', onEnd);
    });
    nextReady.set(redis, promise);
  }
  return promise;
}

/**
 * Resolves true once `redis` is ready (at once if it is), false after `timeoutMs`, when the connection has
 * ended (closed for good), or when `signal` aborts.
 */
export async function whenReady(
  redis: RedisClient,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  if (redis.status === 'ready') return true;
  if (redis.status === 'end' || signal?.aborted) return false;
  if (redis.status === 'wait') redis.connect().catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      readyEvent(redis),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
        if (signal) {
          onAbort = () => resolve(false);
          signal.addEventListener('abort', onAbort, { once: true });
        }
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Running one bus command on an ioredis connection: wait (bounded) for the connection to be ready, then map
 * failures to BusErrors — `BUS_NO_GROUP` for a missing consumer group, `BUS_REJECTED` for errors retrying
 * cannot fix (wrong type, syntax), `BUS_UNAVAILABLE` for everything else (not connected, connection lost,
 * timeout, LOADING, OOM…).
 */
import type { RedisClient } from '../redis/redis-connection.ts';
import { isCluster } from '../redis/redis-connection.ts';
import { whenReady } from '../redis/when-ready.ts';
import { BusError } from './bus-error.ts';

// MOVED / ASK reach the caller only from pipelines and transactions on a cluster (single commands are
// redirected by the client): the slot moved (a failover, resharding), and the next attempt will find it.
const TRANSIENT_REPLY =
  /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|OOM|NOREPLICAS|NOSCRIPT|MOVED|ASK)\b/;

/** Whether an error is a cluster redirection (MOVED / ASK) the client did not follow. */
export function isRedirection(err: unknown): boolean {
  return err instanceof Error && /^(MOVED|ASK) /.test(err.message);
}

export function toBusError(err: unknown): BusError {
  if (err instanceof BusError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const isReply = err instanceof Error && err.name === 'ReplyError';
  if (/\bNOGROUP\b/.test(message)) return new BusError('BUS_NO_GROUP', message, { cause: err });
  if (isReply && !TRANSIENT_REPLY.test(message)) return new BusError('BUS_REJECTED', message, { cause: err });
  return new BusError('BUS_UNAVAILABLE', `redis unavailable: ${message}`, { cause: err });
}

/** The per-command timeout a client was created with (ms; per node for a cluster), if any. */
function commandTimeoutOf(redis: RedisClient): number | undefined {
  const options = redis.options as { commandTimeout?: number; redisOptions?: { commandTimeout?: number } };
  return options.commandTimeout ?? options.redisOptions?.commandTimeout;
}

/**
 * Run `command` once `redis` is ready (waiting at most `connectWaitMs`), mapping failures to BusErrors.
 * A command that neither replies nor fails within twice the client's command timeout (plus a second) fails
 * with BUS_UNAVAILABLE: a cluster client may hold commands in its own retry queues (redirections, failover)
 * where the per-node timeout does not reach them, and a caller must never wait forever.
 */
export async function redisCommand<T>(
  redis: RedisClient,
  connectWaitMs: number,
  command: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  if (redis.status !== 'ready' && !(await whenReady(redis, connectWaitMs, signal))) {
    throw new BusError('BUS_UNAVAILABLE', `redis is not connected (${redis.status})`);
  }
  const timeoutMs = commandTimeoutOf(redis);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    if (timeoutMs === undefined) return await command();
    const limit = 2 * timeoutMs + 1000;
    return await Promise.race([
      command(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new BusError('BUS_UNAVAILABLE', `redis did not answer within ${limit} ms`)),
          limit,
        );
      }),
    ]);
  } catch (err) {
    // a redirection ioredis did not follow (pipelines, MULTI): learn the new slot owners for the retry
    const cause = err instanceof BusError ? err.cause : err;
    if ((isRedirection(err) || isRedirection(cause)) && isCluster(redis)) redis.refreshSlotsCache();
    throw toBusError(err);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Running one bus command on an ioredis connection: wait (bounded) for the connection to be ready, then map
 * failures to BusErrors — `BUS_NO_GROUP` for a missing consumer group, `BUS_REJECTED` for errors retrying
 * cannot fix (wrong type, syntax), `BUS_UNAVAILABLE` for everything else (not connected, connection lost,
 * timeout, LOADING, OOM…).
 */
import type { RedisClient } from '../redis/redis-connection.ts';
import { whenReady } from '../redis/when-ready.ts';
import { BusError } from './bus-error.ts';

const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|OOM|NOREPLICAS|NOSCRIPT)\b/;

export function toBusError(err: unknown): BusError {
  if (err instanceof BusError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const isReply = err instanceof Error && err.name === 'ReplyError';
  if (/\bNOGROUP\b/.test(message)) return new BusError('BUS_NO_GROUP', message, { cause: err });
  if (isReply && !TRANSIENT_REPLY.test(message)) return new BusError('BUS_REJECTED', message, { cause: err });
  return new BusError('BUS_UNAVAILABLE', `redis unavailable: ${message}`, { cause: err });
}

export async function redisCommand<T>(
  redis: RedisClient,
  connectWaitMs: number,
  command: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  if (redis.status !== 'ready' && !(await whenReady(redis, connectWaitMs, signal))) {
    throw new BusError('BUS_UNAVAILABLE', `redis is not connected (${redis.status})`);
  }
  try {
    return await command();
  } catch (err) {
    throw toBusError(err);
  }
}

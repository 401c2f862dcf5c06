/**
 * The push module's command runner on a shared ioredis client (standalone or cluster): the station's
 * RedisRunner (waits, bounded, for the connection; maps failures to BusErrors like the stores do) limited
 * to the push scripts of the one script table (src/redis/redis-scripts.ts: pushNote, pushTake,
 * compareAndSet, compareAndDelete).
 */
import type { RedisClient } from '../redis/redis-connection.ts';
import { RedisRunner } from '../redis/redis-runner.ts';
import type { ScriptName } from '../redis/redis-scripts.ts';

export type PushScriptName = Extract<
  ScriptName,
  'pushNote' | 'pushTake' | 'compareAndSet' | 'compareAndDelete'
>;

export class PushRedis {
  readonly redis: RedisClient;
  readonly #r: RedisRunner;

  constructor(redis: RedisClient, connectWaitMs = 1000) {
    this.redis = redis;
    this.#r = new RedisRunner(redis, connectWaitMs);
  }

  command<T>(fn: (redis: RedisClient) => Promise<T>): Promise<T> {
    return this.#r.command(fn);
  }

  script(
    name: PushScriptName,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    return this.#r.script(name, keys, args);
  }
}

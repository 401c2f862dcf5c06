/**
 * Running the station's Redis commands on a shared client (standalone or cluster): wait (bounded) for the
 * connection, run, map failures like the bus does (BusError `BUS_UNAVAILABLE` when Redis cannot be reached,
 * does not answer or a replica did not confirm in time, `BUS_REJECTED` when it refuses the command), and
 * apply the durability mode to writes the station acknowledges.
 */
import { redisCommand } from '../bus/redis-command.ts';
import { Durability } from './durability.ts';
import type { RedisClient } from './redis-connection.ts';
import { defineScripts, runScript, SCRIPTS } from './redis-scripts.ts';
import type { ScriptName } from './redis-scripts.ts';

/** How long a command waits for a (re)connection before failing (ms). */
export const RUNNER_CONNECT_WAIT_MS = 1000;

export class RedisRunner {
  readonly redis: RedisClient;
  readonly durability: Durability;
  readonly #connectWaitMs: number;

  constructor(redis: RedisClient, connectWaitMs = RUNNER_CONNECT_WAIT_MS, durability = new Durability()) {
    this.redis = redis;
    this.#connectWaitMs = connectWaitMs;
    this.durability = durability;
    defineScripts(redis);
  }

  /** Run commands once the connection is ready; failures become BusErrors. */
  command<T>(fn: (redis: RedisClient) => Promise<T>): Promise<T> {
    return redisCommand(this.redis, this.#connectWaitMs, () => fn(this.redis));
  }

  /** Run a write of `key` the station acknowledges: done once the durability mode says so. */
  write<T>(key: string, fn: (redis: RedisClient) => Promise<T>): Promise<T> {
    return this.command(async (redis) => {
      const result = await fn(redis);
      await this.durability.afterWrite(redis, key);
      return result;
    });
  }

  /**
   * Run a script (src/redis/redis-scripts.ts): `keys` must have the script's number of keys; a script that
   * writes is done once the durability mode says so.
   */
  script(name: ScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return this.command(async (redis) => {
      const result = await runScript(redis, name, keys, args);
      if (SCRIPTS[name].writes && keys[0] !== undefined) await this.durability.afterWrite(redis, keys[0]);
      return result;
    });
  }
}

/**
 * The part of a key before `suffix` when `make(suffix)` is that part followed by `suffix`. Throws if the key
 * layout does not allow it.
 */
export function keyPrefix(make: (suffix: string) => string): string {
  const prefix = make('');
  if (make('\u0001x') !== `${prefix}\u0001x`) {
    throw new RangeError(`key layout ${prefix} does not end with its variable part`);
  }
  return prefix;
}

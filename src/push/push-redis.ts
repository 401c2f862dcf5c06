/**
 * The push module's Lua scripts (src/redis/lua/push-*.lua) and a command runner on a shared ioredis
 * connection: waits (bounded) for the connection, maps failures to BusErrors like the stores do.
 */
import type { Redis } from 'ioredis';
import { redisCommand } from '../bus/redis-command.ts';
import { defineScripts } from '../redis/load-scripts.ts';
import type { ScriptDefinition, ScriptRunner } from '../redis/load-scripts.ts';

export const PUSH_SCRIPTS = {
  /** Note a message for the user's next notification once; returns {fresh, length, first}. */
  pushNote: { file: 'push-note.lua', numberOfKeys: 3, command: 'dimPushNote' },
  /** Take the pending items into a job's batch (idempotent per job). */
  pushTake: { file: 'push-take.lua', numberOfKeys: 4, command: 'dimPushTake2' },
  /** Replace a string value only if it still is the expected one (device lists). */
  compareAndSet: { file: 'compare-and-set.lua', numberOfKeys: 1, command: 'dimCompareAndSet' },
  /** Delete a string key only if it still holds the expected value (device lists). */
  compareAndDelete: {
    file: 'push-compare-and-delete.lua',
    numberOfKeys: 1,
    command: 'dimPushCompareAndDelete',
  },
} as const satisfies Readonly<Record<string, ScriptDefinition>>;

export type PushScriptName = keyof typeof PUSH_SCRIPTS;

export class PushRedis {
  readonly redis: Redis;
  readonly #scripts: ScriptRunner<PushScriptName>;
  readonly #connectWaitMs: number;

  constructor(redis: Redis, connectWaitMs = 1000) {
    this.redis = redis;
    this.#connectWaitMs = connectWaitMs;
    this.#scripts = defineScripts(redis, PUSH_SCRIPTS);
  }

  command<T>(fn: (redis: Redis) => Promise<T>): Promise<T> {
    return redisCommand(this.redis, this.#connectWaitMs, () => fn(this.redis));
  }

  script(
    name: PushScriptName,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    return this.command(() => this.#scripts.run(name, keys, args));
  }
}

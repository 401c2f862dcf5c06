/**
 * The station's Lua scripts (src/redis/lua/*.lua, kept as files) and their registration on an ioredis
 * client with `defineCommand` (EVALSHA, falling back to EVAL after a Redis restart emptied the script
 * cache). Use a script wherever a multi-step update must be atomic. SCRIPTS lists the bus's; other modules
 * may keep their own table of ScriptDefinitions and register it with `defineScripts`.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** Every script: its file under lua/, how many of its arguments are keys, and its command name. */
export const SCRIPTS = {
  /** Acknowledge a pending entry and append it to the dead-letter stream (see the file). */
  deadLetter: { file: 'dead-letter.lua', numberOfKeys: 2, command: 'dimDeadLetter' },
  /** Reset the idle time of entries a consumer still owns; returns those it lost. */
  touchPending: { file: 'touch-pending.lua', numberOfKeys: 1, command: 'dimTouchPending' },
  trimAcknowledged: { file: 'trim-acknowledged.lua', numberOfKeys: 1, command: 'dimTrimAcknowledged' },
} as const;

export type ScriptName = keyof typeof SCRIPTS;

/** A script table entry (any module may keep its own table of these and register it with defineScripts). */
export interface ScriptDefinition {
  /** File name under src/redis/lua/. */
  readonly file: string;
  readonly numberOfKeys: number;
  /** The ioredis command name it is defined as (unique across tables: prefix with `dim`). */
  readonly command: string;
}

const sources = new Map<string, string>();

/** The text of src/redis/lua/<file> (read once). */
export function readLuaScript(file: string): string {
  let source = sources.get(file);
  if (source === undefined) {
    source = readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');
    sources.set(file, source);
  }
  return source;
}

/** The Lua source of a bus script. */
export function scriptSource(name: ScriptName): string {
  return readLuaScript(SCRIPTS[name].file);
}

export interface ScriptRunner<N extends string> {
  /** Run a script: `keys` must have the script's number of keys. Rejects as the underlying command does. */
  run(name: N, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
}

export type RedisScripts = ScriptRunner<ScriptName>;

type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>;

/** Define every script of `table` on `redis` (idempotent) and return a runner for them. */
export function defineScripts<T extends Readonly<Record<string, ScriptDefinition>>>(
  redis: Redis,
  table: T,
): ScriptRunner<keyof T & string> {
  const commands = redis as unknown as Record<string, ScriptCommand | undefined>;
  for (const { command, numberOfKeys, file } of Object.values(table)) {
    if (typeof commands[command] !== 'function') {
      redis.defineCommand(command, { numberOfKeys, lua: readLuaScript(file) });
    }
  }
  return {
    run(name, keys, args) {
      const definition = table[name];
      if (!definition) return Promise.reject(new RangeError(`unknown script ${name}`));
      const { command, numberOfKeys } = definition;
      if (keys.length !== numberOfKeys) {
        return Promise.reject(
          new RangeError(`script ${name} takes ${numberOfKeys} keys, got ${keys.length}`),
        );
      }
      const fn = commands[command]!;
      return fn.call(redis, ...keys, ...args);
    },
  };
}

/** Define the bus's scripts (SCRIPTS) on `redis` and return a runner for them. */
export function loadScripts(redis: Redis): RedisScripts {
  return defineScripts(redis, SCRIPTS);
}

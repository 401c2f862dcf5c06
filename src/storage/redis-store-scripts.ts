/**
 * The Lua scripts of the Redis stores and session registry (files in src/redis/lua/, registered with
 * `defineScripts` from src/redis/load-scripts.ts) and the command runner they share: wait (bounded) for
 * the connection, then run, mapping failures like the bus does (BusError `BUS_UNAVAILABLE` when Redis
 * cannot be reached or does not answer, `BUS_REJECTED` when it refuses the command).
 */
import type { Redis } from 'ioredis';
import { redisCommand } from '../bus/redis-command.ts';
import { defineScripts } from '../redis/load-scripts.ts';
import type { ScriptDefinition, ScriptRunner } from '../redis/load-scripts.ts';

export const STORE_SCRIPTS = {
  /** Store an inbox entry unless its signature is stored (dedup). */
  inboxPut: { file: 'inbox-put.lua', numberOfKeys: 5, command: 'dimInboxPut' },
  /** Mark a batch of inbox entries delivered to a terminal; delete each once every wanted terminal has it. */
  inboxMarkDelivered: { file: 'inbox-mark-delivered.lua', numberOfKeys: 7, command: 'dimInboxMarkDelivered' },
  /** Remove one batch of expired inbox entries. */
  inboxExpire: { file: 'inbox-expire.lua', numberOfKeys: 6, command: 'dimInboxExpire' },
  /** Scan one bounded chunk of an inbox for a terminal's page. */
  inboxPage: { file: 'inbox-page.lua', numberOfKeys: 6, command: 'dimInboxPage' },
  /** Set a hash field unless the stored one is as new or newer (documents, logins). */
  hsetIfNewer: { file: 'hset-if-newer.lua', numberOfKeys: 2, command: 'dimHsetIfNewer' },
  /** Replace a string value only if it still is the expected one. */
  compareAndSet: { file: 'compare-and-set.lua', numberOfKeys: 1, command: 'dimCompareAndSet' },
  /** Bind a session record and index it by user and gateway. */
  sessionBind: { file: 'session-bind.lua', numberOfKeys: 4, command: 'dimSessionBind' },
  /** Remove a session record and its index entries. */
  sessionUnbind: { file: 'session-unbind.lua', numberOfKeys: 2, command: 'dimSessionUnbind' },
  /** Set a session's `active` flag if the session exists. */
  sessionSetActive: { file: 'session-set-active.lua', numberOfKeys: 1, command: 'dimSessionSetActive' },
  /** Drop user index entries without their session record. */
  sessionPrune: { file: 'session-prune.lua', numberOfKeys: 1, command: 'dimSessionPrune' },
  /** Remove one batch of a dead gateway's sessions. */
  sessionDropGateway: { file: 'session-drop-gateway.lua', numberOfKeys: 4, command: 'dimSessionDropGateway' },
} as const satisfies Readonly<Record<string, ScriptDefinition>>;

export type StoreScriptName = keyof typeof STORE_SCRIPTS;

/** How long a store command waits for a (re)connection before failing (ms). */
export const STORE_CONNECT_WAIT_MS = 1000;

/** A connection with the store scripts defined on it. */
export class StoreRedis {
  readonly redis: Redis;
  readonly #scripts: ScriptRunner<StoreScriptName>;
  readonly #connectWaitMs: number;

  constructor(redis: Redis, connectWaitMs = STORE_CONNECT_WAIT_MS) {
    this.redis = redis;
    this.#connectWaitMs = connectWaitMs;
    this.#scripts = defineScripts(redis, STORE_SCRIPTS);
  }

  /** Run commands once the connection is ready; failures become BusErrors. */
  command<T>(fn: (redis: Redis) => Promise<T>): Promise<T> {
    return redisCommand(this.redis, this.#connectWaitMs, () => fn(this.redis));
  }

  /** Run a script: `keys` must have the script's number of keys. */
  script(
    name: StoreScriptName,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    return this.command(() => this.#scripts.run(name, keys, args));
  }
}

/**
 * The part of a key before `suffix` when `make(suffix)` is that part followed by `suffix` (scripts build
 * per-terminal / per-user / per-connection keys from it). Throws if the key layout does not allow it.
 */
export function keyPrefix(make: (suffix: string) => string): string {
  const prefix = make('');
  if (make('\u0001x') !== `${prefix}\u0001x`) {
    throw new RangeError(`key layout ${prefix} does not end with its variable part`);
  }
  return prefix;
}

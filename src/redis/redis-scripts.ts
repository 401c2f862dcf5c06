/**
 * The one table of the station's Lua scripts (src/redis/lua/*.lua, kept as files) and their registration on
 * an ioredis client (standalone or cluster) with `defineCommand`: EVALSHA, falling back to EVAL when the
 * server's script cache is empty (a restart, a replica promoted by a failover).
 *
 * Every script takes every key it touches in KEYS, and all keys of one call share a hash slot (their hash
 * tags, see redis-keys.ts): the scripts run unchanged on Redis Cluster.
 */
import { readFileSync } from 'node:fs';
import type { RedisClient } from './redis-connection.ts';

/** A script table entry. */
export interface ScriptDefinition {
  /** File name under src/redis/lua/. */
  readonly file: string;
  readonly numberOfKeys: number;
  /** The ioredis command name it is defined as (prefixed `dim`). */
  readonly command: string;
  /** Whether it may write (the durability mode then waits for it, see durability.ts). */
  readonly writes: boolean;
}

export const SCRIPTS = {
  // Bus (src/bus/redis-consumer-backend.ts)
  /** Acknowledge a pending entry and append it to the dead-letter stream (see the file). */
  deadLetter: { file: 'dead-letter.lua', numberOfKeys: 2, command: 'dimDeadLetter', writes: true },
  /** Reset the idle time of entries a consumer still owns; returns those it lost. */
  touchPending: { file: 'touch-pending.lua', numberOfKeys: 1, command: 'dimTouchPending', writes: false },
  trimAcknowledged: {
    file: 'trim-acknowledged.lua',
    numberOfKeys: 1,
    command: 'dimTrimAcknowledged',
    writes: false,
  },

  // Inbox (src/storage/redis-inbox-store.ts)
  /** Store an inbox entry unless its signature is stored (dedup); compare the user's sessions epoch. */
  inboxPut: { file: 'inbox-put.lua', numberOfKeys: 6, command: 'dimInboxPut', writes: true },
  /** Mark a batch of inbox entries delivered to a terminal; delete each once every wanted terminal has it. */
  inboxMarkDelivered: {
    file: 'inbox-mark-delivered.lua',
    numberOfKeys: 7,
    command: 'dimInboxMarkDelivered',
    writes: false,
  },
  /** Remove one batch of expired inbox entries. */
  inboxExpire: { file: 'inbox-expire.lua', numberOfKeys: 6, command: 'dimInboxExpire', writes: false },
  /** Scan one bounded chunk of an inbox for a terminal's page. */
  inboxPage: { file: 'inbox-page.lua', numberOfKeys: 6, command: 'dimInboxPage', writes: false },

  // Identities and accounts (src/storage/redis-identity-store.ts, redis-account-store.ts)
  /** Set a hash field unless the stored one is as new or newer (documents, logins). */
  hsetIfNewer: { file: 'hset-if-newer.lua', numberOfKeys: 2, command: 'dimHsetIfNewer', writes: true },
  /** Replace a string value only if it still is the expected one. */
  compareAndSet: { file: 'compare-and-set.lua', numberOfKeys: 1, command: 'dimCompareAndSet', writes: true },

  // Push (src/push/push-redis.ts)
  /** Note a message for the user's next notification once; returns {fresh, length, first}. */
  pushNote: { file: 'push-note.lua', numberOfKeys: 3, command: 'dimPushNote', writes: false },
  /** Take the pending items into a job's batch (idempotent per job). */
  pushTake: { file: 'push-take.lua', numberOfKeys: 4, command: 'dimPushTake2', writes: false },
  /** Delete a string key only if it still holds the expected value (device lists). */
  compareAndDelete: {
    file: 'push-compare-and-delete.lua',
    numberOfKeys: 1,
    command: 'dimPushCompareAndDelete',
    writes: false,
  },

  // Federation (src/federation/redis-federation-store.ts)
  /** Reserve a place in a neighbour's queue (stale cleanup, dedup, bound, insert). */
  fedReserve: { file: 'fed-reserve.lua', numberOfKeys: 1, command: 'dimFedReserve', writes: false },
  /** Take or renew a neighbour link's ownership if free or ours. */
  fedOwnLink: { file: 'fed-own-link.lua', numberOfKeys: 1, command: 'dimFedOwnLink', writes: false },

  // Session registry (src/registry/redis-session-registry.ts)
  /** Point a gateway's connection at its user in the gateway's index; returns the previous entry. */
  sessionIndexSet: {
    file: 'session-index-set.lua',
    numberOfKeys: 1,
    command: 'dimSessionIndexSet',
    writes: false,
  },
  /** Remove a gateway index entry if it still is the given one. */
  sessionIndexRemove: {
    file: 'session-index-remove.lua',
    numberOfKeys: 1,
    command: 'dimSessionIndexRemove',
    writes: false,
  },
  /** Write a user's session record and a new sessions epoch. */
  sessionBind: { file: 'session-bind.lua', numberOfKeys: 2, command: 'dimSessionBind', writes: false },
  /** Read a user's session records and sessions epoch together. */
  sessionSnapshot: {
    file: 'session-snapshot.lua',
    numberOfKeys: 2,
    command: 'dimSessionSnapshot',
    writes: false,
  },
  /** Remove a user's session record if it still is the given bind's. */
  sessionRemove: { file: 'session-remove.lua', numberOfKeys: 1, command: 'dimSessionRemove', writes: false },
  /** Set a session's `active` flag if the session (that bind) exists. */
  sessionSetActive: {
    file: 'session-set-active.lua',
    numberOfKeys: 2,
    command: 'dimSessionSetActive',
    writes: false,
  },
  /** Forget a dead gateway once its index is empty (and drop its delivery stream). */
  sessionGatewayDone: {
    file: 'session-gateway-done.lua',
    numberOfKeys: 3,
    command: 'dimSessionGatewayDone',
    writes: false,
  },
} as const satisfies Readonly<Record<string, ScriptDefinition>>;

export type ScriptName = keyof typeof SCRIPTS;

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

/** The Lua source of a script. */
export function scriptSource(name: ScriptName): string {
  return readLuaScript(SCRIPTS[name].file);
}

type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>;

/** Define every script of the table on `client` (idempotent). */
export function defineScripts(client: RedisClient): void {
  const commands = client as unknown as Record<string, ScriptCommand | undefined>;
  for (const { command, numberOfKeys, file } of Object.values(SCRIPTS)) {
    if (typeof commands[command] !== 'function') {
      client.defineCommand(command, { numberOfKeys, lua: readLuaScript(file) });
    }
  }
}

/**
 * Run a script defined on `client` (defineScripts): `keys` must have the script's number of keys. Rejects
 * as the underlying command does.
 */
export function runScript(
  client: RedisClient,
  name: ScriptName,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  const definition = SCRIPTS[name] as ScriptDefinition | undefined;
  if (!definition) return Promise.reject(new RangeError(`unknown script ${name}`));
  if (keys.length !== definition.numberOfKeys) {
    return Promise.reject(
      new RangeError(`script ${name} takes ${definition.numberOfKeys} keys, got ${keys.length}`),
    );
  }
  const fn = (client as unknown as Record<string, ScriptCommand | undefined>)[definition.command];
  if (typeof fn !== 'function')
    return Promise.reject(new Error(`script ${name} is not defined on this client`));
  return fn.call(client, ...keys, ...args);
}

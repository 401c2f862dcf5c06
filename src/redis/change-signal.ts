/**
 * Change signals: "what a process may have cached about this key changed". Writers of shared state that
 * other processes cache (a user's sessions, a user's block list) publish one after their write has been
 * applied; readers that cache it (the dispatcher's lookup caches, src/dispatch/lookup-cache.ts) drop the
 * entry when the signal arrives.
 *
 * On Redis they travel over pub/sub on one channel (`RedisKeys.changes()`), as `<topic> <key>` (a topic has
 * no space; a key may). Pub/sub is at most once, so a reader treats its subscription as the condition of
 * its cache: it caches only while subscribed, and forgets everything when the subscription is (re)made —
 * signals published while it was away are lost. A signal waits for a reconnection (bounded) as the write
 * it follows does; one that still could not be published is logged (`CHANGE_SIGNAL_FAILED`), and readers'
 * entries also expire on their own (their TTL), which bounds that case.
 * On a Redis Cluster, PUBLISH reaches the subscribers of every node.
 */
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { isCluster, quitClient, reconnectDelay } from './redis-connection.ts';
import type { RedisClient } from './redis-connection.ts';
import type { RedisKeys } from './redis-keys.ts';
import { RedisRunner } from './redis-runner.ts';

/** What changed: a user's sessions (registry) or a user's block list (accounts); the key is the naked ID. */
export type ChangeTopic = 'sessions' | 'block';

const TOPICS: ReadonlySet<string> = new Set<ChangeTopic>(['sessions', 'block']);

export interface ChangePublisher {
  /** Tell readers that `key` of `topic` changed. Never rejects (a failure is logged). */
  changed(topic: ChangeTopic, key: string): Promise<void>;
}

export interface ChangeFeed {
  /** Whether signals are arriving now (subscribed): caches may serve entries only while this holds. */
  readonly live: boolean;
  /** `onChange` for every signal; `onReset` when signals may have been missed (a new subscription). */
  watch(onChange: (topic: ChangeTopic, key: string) => void, onReset: () => void): void;
  close(): Promise<void>;
}

/** The signal's wire form, `<topic> <key>` (pure). */
export function encodeChange(topic: ChangeTopic, key: string): string {
  return `${topic} ${key}`;
}

/** A signal read from the channel; undefined when it is not one. */
export function decodeChange(message: string): { topic: ChangeTopic; key: string } | undefined {
  const space = message.indexOf(' ');
  if (space <= 0) return undefined;
  const topic = message.slice(0, space);
  if (!TOPICS.has(topic)) return undefined;
  return { topic: topic as ChangeTopic, key: message.slice(space + 1) };
}

export class RedisChangePublisher implements ChangePublisher {
  readonly #r: RedisRunner;
  readonly #channel: string;
  readonly #log: Logger;

  /** `connectWaitMs`: how long a signal waits for a (re)connection, like the write it follows. */
  constructor(redis: RedisClient, keys: RedisKeys, logger: Logger = silentLogger, connectWaitMs?: number) {
    this.#r = new RedisRunner(redis, connectWaitMs);
    this.#channel = keys.changes();
    this.#log = logger.child({ module: 'change-signal' });
  }

  async changed(topic: ChangeTopic, key: string): Promise<void> {
    try {
      await this.#r.command((redis) => redis.publish(this.#channel, encodeChange(topic, key)));
    } catch (err) {
      this.#log.warn(
        { code: 'CHANGE_SIGNAL_FAILED', topic, err: err instanceof Error ? err.message : String(err) },
        'a change signal was not published; caches elsewhere keep the old value until it expires',
      );
    }
  }
}

/** Where a feed may subscribe now: the client's server, or the known nodes of its cluster (any will do). */
function subscribeNodes(redis: RedisClient): { host: string; port: number }[] {
  const nodes = isCluster(redis) ? redis.nodes('all') : [redis];
  return nodes.map((n) => ({ host: n.options.host ?? '127.0.0.1', port: n.options.port ?? 6379 }));
}

/**
 * Signals read on a subscriber connection of its own. It is a plain connection to one server, replaced
 * (by the next node of a cluster, after a pause) whenever it ends: a cluster client would move its
 * subscription to another node by itself, silently, and signals published meanwhile would be lost unseen.
 */
export class RedisChangeFeed implements ChangeFeed {
  readonly #channel: string;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #redis: RedisClient;
  readonly #options: RedisOptions;
  #next = 0;
  #failures = 0;
  #sub: Redis | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #subscribed = false;
  #onChange: ((topic: ChangeTopic, key: string) => void) | undefined;
  #onReset: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  constructor(redis: RedisClient, keys: RedisKeys, options: { logger?: Logger; timeoutMs?: number } = {}) {
    this.#channel = keys.changes();
    this.#log = (options.logger ?? silentLogger).child({ module: 'change-feed' });
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#redis = redis;
    this.#options = isCluster(redis) ? (redis.options.redisOptions ?? {}) : redis.options;
    this.#connect();
  }

  get live(): boolean {
    return this.#subscribed && this.#closing === undefined;
  }

  watch(onChange: (topic: ChangeTopic, key: string) => void, onReset: () => void): void {
    this.#onChange = onChange;
    this.#onReset = onReset;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearTimeout(this.#retry);
      this.#lost();
      const sub = this.#sub;
      this.#sub = undefined;
      if (sub !== undefined) await quitClient(sub, this.#timeoutMs);
    })();
    return this.#closing;
  }

  #connect(): void {
    const nodes = subscribeNodes(this.#redis);
    const node = nodes[this.#next++ % Math.max(1, nodes.length)] ?? { host: '127.0.0.1', port: 6379 };
    // a subscriber: no command timeout (it waits for messages), no reconnection of its own (see above)
    const sub = new Redis({
      ...this.#options,
      host: node.host,
      port: node.port,
      connectionName: 'changes',
      commandTimeout: undefined,
      enableAutoPipelining: false,
      enableOfflineQueue: true,
      lazyConnect: false,
      retryStrategy: () => null,
    });
    this.#sub = sub;
    sub.on('error', (err: Error) => {
      this.#log.debug({ code: 'STORE_UNAVAILABLE', err: err.message }, 'change feed connection error');
    });
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      const change = decodeChange(message);
      if (change !== undefined) this.#onChange?.(change.topic, change.key);
    });
    sub.once('end', () => {
      if (this.#sub !== sub) return;
      this.#lost();
      if (this.#closing !== undefined) return;
      this.#failures++;
      this.#retry = setTimeout(() => this.#connect(), reconnectDelay(1000)(this.#failures));
    });
    sub.subscribe(this.#channel).then(
      () => {
        if (this.#closing !== undefined || this.#sub !== sub) return;
        // whatever was published while this feed was not subscribed is lost: caches start over
        this.#onReset?.();
        this.#subscribed = true;
        this.#failures = 0;
        this.#log.debug(
          { code: 'CHANGE_FEED_SUBSCRIBED', node: `${node.host}:${node.port}` },
          'change feed subscribed',
        );
      },
      () => sub.disconnect(),
    );
  }

  #lost(): void {
    if (!this.#subscribed) return;
    this.#subscribed = false;
    this.#onReset?.();
  }
}

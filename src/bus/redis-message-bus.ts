/**
 * The message bus over Redis Streams (ioredis).
 *
 * - publish: `XADD <stream> MAXLEN ~ <maxLen> * <field> <value>… [k <orderKey>]`; resolves with the entry ID.
 * - consume: a consumer group (created at the stream's start, `XGROUP CREATE … 0 MKSTREAM`, if missing),
 *   read by StreamConsumer through a RedisConsumerBackend (blocking reads on a dedicated connection).
 * - tail: no group: the stream's last ID (`XREVRANGE … COUNT 1`), then `XREAD … BLOCK` after the last ID
 *   read, and `XTRIM … MINID` of what was read; StreamTail through a RedisTailBackend (its own connection).
 * - dead letters: `<stream>:dead` (RedisKeys.deadLetterStream), the entry's fields, k, reason, from, id, group,
 *   consumer, deliveries; moved atomically by src/redis/lua/dead-letter.lua.
 *
 * Runs on a standalone Redis or a Redis Cluster (`target`, see src/redis/redis-connection.ts): a stream and
 * its dead-letter stream share a slot. With the `replica` durability mode a publish resolves once a replica
 * has the entry (`XADD` and `WAIT` in one pipeline, on the connection of the stream's master).
 *
 * Outages: connections run with the offline queue disabled, no per-request retries and a command timeout,
 * and reconnect forever with backoff. A publish waits at most `connectWaitMs` for a connection and
 * `commandTimeoutMs` for the reply, then rejects with BusError `BUS_UNAVAILABLE`; consumers keep
 * retrying and resume by themselves (recreating their group if Redis lost it).
 */
import type { RedisOptions } from 'ioredis';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { Durability } from '../redis/durability.ts';
import { createRedisClient, isCluster, parseRedisTarget, quitClient } from '../redis/redis-connection.ts';
import type { RedisClient, RedisTarget } from '../redis/redis-connection.ts';
import { createRedisKeys } from '../redis/redis-keys.ts';
import { defineScripts } from '../redis/redis-scripts.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { BUS_DEFAULTS } from './bus-defaults.ts';
import { BusError } from './bus-error.ts';
import type { BusRecord, InspectableMessageBus } from './inspectable-message-bus.ts';
import { checkFields, flattenFields } from './bus-fields.ts';
import type { BusConsumer, BusTail, ConsumerOptions, StreamFields, TailOptions } from './message-bus.ts';
import { RedisConsumerBackend } from './redis-consumer-backend.ts';
import { isRedirection, redisCommand } from './redis-command.ts';
import { RedisTailBackend } from './redis-tail-backend.ts';
import { resolveConsumerOptions, StreamConsumer } from './stream-consumer.ts';
import { resolveTailOptions, StreamTail } from './stream-tail.ts';

export interface RedisMessageBusOptions {
  /** `DIM_REDIS_URL` syntax (src/redis/redis-connection.ts) or a parsed target (default 127.0.0.1:6379). */
  readonly url?: string | RedisTarget;
  /** ioredis options (per node for a cluster), applied over the bus's defaults. */
  readonly redis?: RedisOptions;
  /** When a publish counts as done (default: once applied). */
  readonly durability?: Durability;
  /** Entries kept per stream, approximately (`MAXLEN ~`; default 1,000,000), or a function of the stream. */
  readonly maxLen?: number | ((stream: string) => number);
  /** Names the dead-letter streams (default `createRedisKeys()`: `<stream>:dead`). */
  readonly keys?: RedisKeys;
  /** A command without a reply after this long fails with BUS_UNAVAILABLE (default 1500 ms). */
  readonly commandTimeoutMs?: number;
  /** How long a command waits for a (re)connection before failing with BUS_UNAVAILABLE (default 500 ms). */
  readonly connectWaitMs?: number;
  /** Longest pause between reconnection attempts (default 1000 ms; attempts never stop). */
  readonly maxReconnectDelayMs?: number;
  readonly logger?: Logger;
}

export const REDIS_BUS_DEFAULTS = {
  commandTimeoutMs: 1500,
  connectWaitMs: 500,
  maxReconnectDelayMs: 1000,
} as const;

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new BusError('BUS_BAD_ARGUMENT', `${name} must be a positive integer, got ${value}`);
  }
  return value;
}

export class RedisMessageBus implements InspectableMessageBus {
  /** The shared connection (publishes and non-blocking consumer commands). */
  readonly redis: RedisClient;
  readonly durability: Durability;
  readonly #maxLen: (stream: string) => number;
  readonly #keys: RedisKeys;
  readonly #log: Logger;
  readonly #commandTimeoutMs: number;
  readonly #connectWaitMs: number;
  readonly #consumers = new Set<StreamConsumer | StreamTail>();
  /** consume() and tail() refused (closing or closed). */
  #closing = false;
  /** publish() refused too. */
  #closed = false;
  #closed$: Promise<void> | undefined;
  #down = false;

  constructor(options: RedisMessageBusOptions = {}) {
    this.#commandTimeoutMs = positive(
      'commandTimeoutMs',
      options.commandTimeoutMs ?? REDIS_BUS_DEFAULTS.commandTimeoutMs,
    );
    this.#connectWaitMs = positive(
      'connectWaitMs',
      options.connectWaitMs ?? REDIS_BUS_DEFAULTS.connectWaitMs,
    );
    const maxDelay = positive(
      'maxReconnectDelayMs',
      options.maxReconnectDelayMs ?? REDIS_BUS_DEFAULTS.maxReconnectDelayMs,
    );
    const maxLen = options.maxLen ?? BUS_DEFAULTS.maxLen;
    if (typeof maxLen === 'number') positive('maxLen', maxLen);
    this.#maxLen = typeof maxLen === 'number' ? () => maxLen : maxLen;
    this.#keys = options.keys ?? createRedisKeys();
    this.#log = (options.logger ?? pino({ level: 'silent' })).child({ module: 'redis-message-bus' });

    const target =
      typeof options.url === 'object'
        ? options.url
        : parseRedisTarget(options.url ?? 'redis://127.0.0.1:6379');
    this.durability = options.durability ?? new Durability();
    // Commands issued in the same tick (the publishes, acks and trims of concurrent handlers) go out as one
    // pipeline per node: one write and one read per batch instead of per command.
    this.redis = createRedisClient(target, {
      commandTimeoutMs: this.#commandTimeoutMs,
      maxReconnectDelayMs: maxDelay,
      ...(options.redis ? { redis: options.redis } : {}),
    });
    const lost = (err?: Error): void => {
      if (this.#down || this.#closed) return;
      this.#down = true;
      this.#log.warn({ code: 'BUS_UNAVAILABLE', err: err?.message }, 'redis connection lost; reconnecting');
    };
    this.redis.on('error', lost);
    this.redis.on('close', () => lost());
    this.redis.on('ready', () => {
      if (!this.#down) return;
      this.#down = false;
      this.#log.info({ code: 'BUS_RECOVERED' }, 'redis connection back');
    });
    defineScripts(this.redis);
  }

  async publish(stream: string, fields: StreamFields, orderKey?: string): Promise<string> {
    if (this.#closed) throw new BusError('BUS_CLOSED', 'the bus is closed');
    checkFields(fields);
    const args: (string | number)[] = [
      stream,
      'MAXLEN',
      '~',
      this.#maxLen(stream),
      '*',
      ...flattenFields(fields, orderKey),
    ];
    const id = await redisCommand(this.redis, this.#connectWaitMs, async () => {
      if (!this.durability.waits) return this.redis.call('xadd', args);
      // one round trip: the entry, then WAIT on the same connection (the stream's master)
      const replies = await this.durability.appendWait(this.redis.pipeline().call('xadd', args)).exec();
      const [added, waited] = replies ?? [];
      if (!added || !waited) throw new BusError('BUS_UNAVAILABLE', `no reply to XADD ${stream}`);
      if (added[0] && isRedirection(added[0]) && isCluster(this.redis)) {
        // the slot moved (a failover): the entry was not added; add it as a single command, which the
        // cluster client redirects, then WAIT on the new master
        const id = await this.redis.call('xadd', args);
        await this.durability.afterWrite(this.redis, stream);
        return id;
      }
      if (added[0]) throw added[0];
      if (waited[0]) throw waited[0];
      this.durability.checkWaitReply(waited[1]);
      return added[1];
    });
    if (typeof id !== 'string') throw new BusError('BUS_REJECTED', `XADD to ${stream} returned no ID`);
    return id;
  }

  consume(options: ConsumerOptions): BusConsumer {
    if (this.#closing) throw new BusError('BUS_CLOSED', 'the bus is closed');
    const o = resolveConsumerOptions(options);
    const deadLetterStream = this.#keys.deadLetterStream(o.stream);
    const log = this.#log.child({ stream: o.stream, group: o.group, consumer: o.consumer });
    const backend = new RedisConsumerBackend({
      main: this.redis,
      stream: o.stream,
      group: o.group,
      consumer: o.consumer,
      deadLetterStream,
      deadLetterMaxLen: this.#maxLen(deadLetterStream),
      blockMs: o.blockMs,
      commandTimeoutMs: this.#commandTimeoutMs,
      connectWaitMs: this.#connectWaitMs,
      logger: log,
    });
    const consumer: StreamConsumer = new StreamConsumer(backend, o, this.#log, () =>
      this.#consumers.delete(consumer),
    );
    this.#consumers.add(consumer);
    consumer.start();
    return consumer;
  }

  tail(options: TailOptions): BusTail {
    if (this.#closing) throw new BusError('BUS_CLOSED', 'the bus is closed');
    const o = resolveTailOptions(options);
    const backend = new RedisTailBackend({
      main: this.redis,
      stream: o.stream,
      name: o.name,
      blockMs: o.blockMs,
      commandTimeoutMs: this.#commandTimeoutMs,
      connectWaitMs: this.#connectWaitMs,
      logger: this.#log.child({ stream: o.stream, tail: o.name }),
    });
    const tail: StreamTail = new StreamTail(backend, o, this.#log, () => this.#consumers.delete(tail));
    this.#consumers.add(tail);
    tail.start();
    return tail;
  }

  async length(stream: string): Promise<number> {
    return Number(await this.#command(() => this.redis.call('xlen', [stream])));
  }

  async range(stream: string, count = 100): Promise<BusRecord[]> {
    const reply = await this.#command(() => this.redis.call('xrange', [stream, '-', '+', 'COUNT', count]));
    if (!Array.isArray(reply)) return [];
    return reply.map((item: unknown) => {
      const [id, flat] = item as [string, string[] | null];
      const fields: Record<string, string> = {};
      for (let i = 0; flat && i + 1 < flat.length; i += 2) fields[String(flat[i])] = String(flat[i + 1]);
      return { id: String(id), fields };
    });
  }

  async pendingCount(stream: string, group: string): Promise<number> {
    try {
      const reply = await this.#command(() => this.redis.call('xpending', [stream, group]));
      return Array.isArray(reply) ? Number(reply[0]) : 0;
    } catch (err) {
      if (err instanceof BusError && err.code === 'BUS_NO_GROUP') return 0;
      throw err;
    }
  }

  /** Close every consumer and tail (their running handlers finish; consumers' are acknowledged), then the connection. */
  close(): Promise<void> {
    this.#closing = true;
    this.#closed$ ??= (async () => {
      // Handlers finishing during close may still publish: publishes stay open until consumers are done.
      await Promise.all([...this.#consumers].map((c) => c.close()));
      this.#closed = true;
      await quitClient(this.redis, this.#commandTimeoutMs);
    })();
    return this.#closed$;
  }

  destroy(): void {
    this.#closing = true;
    this.#closed = true;
    for (const c of [...this.#consumers]) c.destroy();
    this.redis.disconnect();
    this.#closed$ ??= Promise.resolve();
  }

  #command<T>(command: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new BusError('BUS_CLOSED', 'the bus is closed'));
    return redisCommand(this.redis, this.#connectWaitMs, command);
  }
}

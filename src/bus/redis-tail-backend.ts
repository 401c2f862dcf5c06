/**
 * TailBackend over Redis Streams for one stream. Blocking reads (`XREAD COUNT n BLOCK ms STREAMS <stream>
 * <last ID read>`) run on a client dedicated to this tail (for a cluster, a cluster client of its own: it
 * connects only to the master of the stream's slot, and follows a failover), so that they never delay
 * publishers; the starting point (`XREVRANGE <stream> + - COUNT 1`) and trimming (`XTRIM <stream> MINID
 * <id>`, exact: a tailed stream is small, and removing its head costs what it removes, as in
 * trim-acknowledged.lua) run on the bus's shared client. Every command names the one stream: standalone
 * Redis and Redis Cluster alike.
 *
 * Closing unblocks a pending read: on a standalone Redis with CLIENT UNBLOCK (an unblocked read returns
 * nothing), on a cluster by closing the dedicated client (a tail reads at most once anyway).
 */
import type { Logger } from 'pino';
import { duplicateClient, isCluster, quitClient } from '../redis/redis-connection.ts';
import type { RedisClient } from '../redis/redis-connection.ts';
import { parseEntries, parseRead, publishedFields } from './redis-consumer-backend.ts';
import { redisCommand } from './redis-command.ts';
import type { TailBackend, TailRecord } from './tail-backend.ts';

export interface RedisTailBackendOptions {
  /** The bus's shared client. */
  readonly main: RedisClient;
  readonly stream: string;
  /** Names the dedicated connection (`bus:tail:<name>`). */
  readonly name: string;
  readonly blockMs: number;
  readonly commandTimeoutMs: number;
  readonly connectWaitMs: number;
  readonly logger: Logger;
}

export class RedisTailBackend implements TailBackend {
  readonly #o: RedisTailBackendOptions;
  readonly #main: RedisClient;
  readonly #reader: RedisClient;
  readonly #abort = new AbortController();
  #readerId: string | undefined;
  #blocking = false;
  #closing: Promise<void> | undefined;

  constructor(options: RedisTailBackendOptions) {
    this.#o = options;
    this.#main = options.main;
    this.#reader = duplicateClient(options.main, {
      commandTimeout: options.blockMs + options.commandTimeoutMs,
      connectionName: `bus:tail:${options.name}`.replace(/[^\x21-\x7e]/g, '_'),
      // one blocking read at a time: nothing to batch, and nothing may queue behind a BLOCK
      enableAutoPipelining: false,
    });
    this.#reader.on('error', (err: Error) => {
      options.logger.debug({ code: 'BUS_UNAVAILABLE', err: err.message }, 'tail connection error');
    });
    const reader = this.#reader;
    if (!isCluster(reader)) {
      reader.on('ready', () => {
        this.#readerId = undefined;
        reader.call('CLIENT', ['ID']).then(
          (id) => (this.#readerId = String(id)),
          () => {},
        );
      });
    }
  }

  #cmd<T>(redis: RedisClient, command: () => Promise<T>): Promise<T> {
    return redisCommand(redis, this.#o.connectWaitMs, command, this.#abort.signal);
  }

  async lastId(): Promise<string> {
    const { stream } = this.#o;
    const reply = await this.#cmd(this.#main, () =>
      this.#main.call('xrevrange', [stream, '+', '-', 'COUNT', 1]),
    );
    return parseEntries(reply, 'XREVRANGE')[0]?.id ?? '0-0';
  }

  async read(after: string, count: number, blockMs: number): Promise<TailRecord[]> {
    const { stream } = this.#o;
    const reply = await this.#cmd(this.#reader, async () => {
      this.#blocking = true;
      try {
        return await this.#reader.call('xread', [
          'COUNT',
          count,
          'BLOCK',
          Math.max(1, Math.floor(blockMs)),
          'STREAMS',
          stream,
          after,
        ]);
      } finally {
        this.#blocking = false;
      }
    });
    return parseRead(reply, 'XREAD').map((e) => ({
      id: e.id,
      fields: publishedFields(e.fields) ?? {},
      orderKey: e.fields?.get('k'),
    }));
  }

  async trim(minId: string): Promise<number> {
    const { stream } = this.#o;
    const removed = await this.#cmd(this.#main, () => this.#main.call('xtrim', [stream, 'MINID', minId]));
    return Number(removed) || 0;
  }

  interrupt(): void {
    this.#abort.abort();
    if (!this.#blocking) return;
    if (isCluster(this.#reader)) {
      // no CLIENT UNBLOCK across a cluster client (its ID lives on one node): close the reader instead
      this.#reader.disconnect();
      return;
    }
    const id = this.#readerId;
    if (id !== undefined && this.#main.status === 'ready') {
      this.#main.call('CLIENT', ['UNBLOCK', id]).catch(() => {});
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.interrupt();
      await quitClient(this.#reader, this.#o.commandTimeoutMs);
    })();
    return this.#closing;
  }

  destroy(): void {
    this.#abort.abort();
    this.#reader.disconnect();
    this.#closing ??= Promise.resolve();
  }
}

/**
 * TailBackend over Redis Streams for one stream. Blocking reads (`XREAD COUNT n BLOCK ms STREAMS <stream>
 * <last ID read>`) run on a connection dedicated to this tail (blocking-reader.ts); the starting point (`XREVRANGE <stream> + - COUNT 1`) and trimming (`XTRIM <stream> MINID
 * <id>`, exact: a tailed stream is small, and removing its head costs what it removes, as in
 * trim-acknowledged.lua) run on the bus's shared client. Every command names the one stream: standalone
 * Redis and Redis Cluster alike.
 * Closing unblocks a pending read (a tail reads each entry at most once anyway).
 */
import type { Logger } from 'pino';
import type { RedisClient } from '../redis/redis-connection.ts';
import { parseEntries, parseRead, publishedFields } from './redis-consumer-backend.ts';
import { BlockingReader } from './blocking-reader.ts';
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
  readonly #reader: BlockingReader;

  constructor(options: RedisTailBackendOptions) {
    this.#o = options;
    this.#main = options.main;
    this.#reader = new BlockingReader({ ...options, name: `bus:tail:${options.name}` });
  }

  #cmd<T>(redis: RedisClient, command: () => Promise<T>): Promise<T> {
    return this.#reader.command(redis, command);
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
    const reply = await this.#reader.read((reader) =>
      reader.call('xread', [
        'COUNT',
        count,
        'BLOCK',
        Math.max(1, Math.floor(blockMs)),
        'STREAMS',
        stream,
        after,
      ]),
    );
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
    this.#reader.interrupt();
  }

  close(): Promise<void> {
    return this.#reader.close();
  }

  destroy(): void {
    this.#reader.destroy();
  }
}

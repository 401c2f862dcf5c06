/**
 * ConsumerBackend over Redis Streams for one (stream, group, consumer). Blocking reads (XREADGROUP … BLOCK)
 * run on a connection dedicated to this consumer (blocking-reader.ts); every other command (XGROUP, history
 * reads, XAUTOCLAIM, XACK, the Lua scripts) runs on the bus's shared client. Closing unblocks a pending read
 * (entries a lost reply had handed to this consumer stay pending under its name: read again from its
 * history on restart, or claimed by another consumer).
 */
import type { Logger } from 'pino';
import { isCluster } from '../redis/redis-connection.ts';
import type { RedisClient } from '../redis/redis-connection.ts';
import { runScript } from '../redis/redis-scripts.ts';
import type { ClaimResult, ConsumerBackend, ConsumerRecord, DeadLetter } from './consumer-backend.ts';
import { BusError } from './bus-error.ts';
import { flattenFields } from './bus-fields.ts';
import type { StreamFields } from './message-bus.ts';
import { BlockingReader } from './blocking-reader.ts';
import { toBusError } from './redis-command.ts';

export interface RedisConsumerBackendOptions {
  /** The bus's shared client, with the scripts defined (defineScripts). */
  readonly main: RedisClient;
  readonly stream: string;
  readonly group: string;
  readonly consumer: string;
  readonly deadLetterStream: string;
  readonly deadLetterMaxLen: number;
  readonly blockMs: number;
  readonly commandTimeoutMs: number;
  readonly connectWaitMs: number;
  readonly logger: Logger;
}

export interface RawEntry {
  readonly id: string;
  readonly fields: Map<string, string> | undefined;
}

function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new BusError('BUS_REJECTED', `unexpected reply to ${what}`);
  return value;
}

/** `[[id, [f, v, …] | null], …]` */
export function parseEntries(value: unknown, what: string): RawEntry[] {
  return asArray(value, what).map((item) => {
    const [id, flat] = asArray(item, what);
    if (typeof id !== 'string') throw new BusError('BUS_REJECTED', `unexpected reply to ${what}`);
    if (flat === null || flat === undefined) return { id, fields: undefined };
    const list = asArray(flat, what);
    const fields = new Map<string, string>();
    for (let i = 0; i + 1 < list.length; i += 2) fields.set(String(list[i]), String(list[i + 1]));
    return { id, fields };
  });
}

/** The fields as published: the order key (`k`) is the bus's own. */
export function publishedFields(fields: Map<string, string> | undefined): StreamFields | undefined {
  if (fields === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [name, value] of fields) if (name !== 'k') out[name] = value;
  return out;
}

/** XREADGROUP (or XREAD) reply for one stream: `null` or `[[stream, entries]]`. */
export function parseRead(value: unknown, what = 'XREADGROUP'): RawEntry[] {
  if (value === null) return [];
  const streams = asArray(value, what);
  const first = streams[0];
  return first === undefined ? [] : parseEntries(asArray(first, what)[1], what);
}

export class RedisConsumerBackend implements ConsumerBackend {
  readonly #o: RedisConsumerBackendOptions;
  readonly #main: RedisClient;
  readonly #reader: BlockingReader;
  readonly sharesWrites: boolean;

  constructor(options: RedisConsumerBackendOptions) {
    this.#o = options;
    this.#main = options.main;
    // auto-pipelining (standalone only): commands issued in one tick go out in one write, in order
    this.sharesWrites = !isCluster(options.main) && options.main.options.enableAutoPipelining === true;
    this.#reader = new BlockingReader({ ...options, name: `bus:${options.consumer}` });
  }

  #cmd<T>(redis: RedisClient, command: () => Promise<T>): Promise<T> {
    return this.#reader.command(redis, command);
  }

  async ensureGroup(): Promise<void> {
    const { stream, group } = this.#o;
    try {
      await this.#cmd(this.#main, () =>
        this.#main.call('xgroup', ['CREATE', stream, group, '0', 'MKSTREAM']),
      );
      this.#o.logger.info({ code: 'BUS_GROUP_CREATED' }, 'consumer group created');
    } catch (err) {
      if (err instanceof BusError && /\bBUSYGROUP\b/.test(err.message)) return;
      throw err;
    }
  }

  async readHistory(after: string, count: number): Promise<ConsumerRecord[]> {
    const { stream, group, consumer } = this.#o;
    const reply = await this.#cmd(this.#main, () =>
      this.#main.call('xreadgroup', ['GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, after]),
    );
    return this.#withDeliveries(parseRead(reply));
  }

  async readNew(count: number, blockMs: number): Promise<ConsumerRecord[]> {
    const { stream, group, consumer } = this.#o;
    const reply = await this.#reader.read((reader) =>
      reader.call('xreadgroup', [
        'GROUP',
        group,
        consumer,
        'COUNT',
        count,
        'BLOCK',
        Math.max(1, Math.floor(blockMs)),
        'STREAMS',
        stream,
        '>',
      ]),
    );
    return parseRead(reply).map((e) => ({
      id: e.id,
      fields: publishedFields(e.fields),
      orderKey: e.fields?.get('k'),
      deliveries: 1,
    }));
  }

  async claimIdle(cursor: string, minIdleMs: number, count: number): Promise<ClaimResult> {
    const { stream, group, consumer } = this.#o;
    const reply = asArray(
      await this.#cmd(this.#main, () =>
        this.#main.call('xautoclaim', [
          stream,
          group,
          consumer,
          Math.floor(minIdleMs),
          cursor,
          'COUNT',
          count,
        ]),
      ),
      'XAUTOCLAIM',
    );
    const next = typeof reply[0] === 'string' ? reply[0] : '0-0';
    const entries = parseEntries(reply[1] ?? [], 'XAUTOCLAIM');
    const deleted = (Array.isArray(reply[2]) ? reply[2] : []).map(String);
    return { cursor: next, records: await this.#withDeliveries(entries), deleted };
  }

  async touch(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const { stream, group, consumer } = this.#o;
    const lost = await this.#cmd(this.#main, () =>
      runScript(this.#main, 'touchPending', [stream], [group, consumer, ...ids]),
    );
    return Array.isArray(lost) ? lost.map(String) : [];
  }

  async ack(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const { stream, group } = this.#o;
    await this.#cmd(this.#main, () => this.#main.call('xack', [stream, group, ...ids]));
  }

  async trimAcknowledged(): Promise<number> {
    const { stream } = this.#o;
    const removed = await this.#cmd(this.#main, () =>
      runScript(this.#main, 'trimAcknowledged', [stream], []),
    );
    return Number(removed) || 0;
  }

  async deadLetter(entry: DeadLetter): Promise<void> {
    const o = this.#o;
    await this.#cmd(this.#main, () =>
      runScript(
        this.#main,
        'deadLetter',
        [o.stream, o.deadLetterStream],
        [
          o.group,
          entry.id,
          o.deadLetterMaxLen,
          entry.reason,
          o.consumer,
          entry.deliveries,
          ...flattenFields(entry.fields, entry.orderKey),
        ],
      ),
    );
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

  /** Delivery counts of entries read from the pending list (history, claims): XPENDING per entry. */
  async #withDeliveries(entries: readonly RawEntry[]): Promise<ConsumerRecord[]> {
    if (entries.length === 0) return [];
    const { stream, group } = this.#o;
    const results = await this.#cmd(this.#main, () => {
      const pipeline = this.#main.pipeline();
      for (const e of entries) pipeline.call('xpending', stream, group, e.id, e.id, '1');
      return pipeline.exec();
    });
    const records: ConsumerRecord[] = [];
    entries.forEach((e, i) => {
      const [err, reply] = results?.[i] ?? [new Error('no reply'), undefined];
      if (err) throw toBusError(err);
      const info = Array.isArray(reply) ? reply[0] : undefined;
      // Not pending any more (acknowledged meanwhile): nothing to do.
      if (!Array.isArray(info)) return;
      records.push({
        id: e.id,
        fields: publishedFields(e.fields),
        orderKey: e.fields?.get('k'),
        deliveries: Number(info[3]) || 1,
      });
    });
    return records;
  }
}

/**
 * The dedicated connection of one blocking reader (a consumer's XREADGROUP, a tail's XREAD), shared by the
 * Redis consumer and tail backends: a duplicate of the bus's shared client (for a cluster, a cluster
 * client of its own: it connects only to the master of the stream's slot, and follows a failover), so that
 * blocking reads never delay publishers, and with no auto-pipelining (nothing may queue behind a BLOCK).
 * Its commands are raced against the backend's abort signal.
 *
 * `interrupt()` makes a pending read return early: on a standalone Redis with CLIENT UNBLOCK sent on the
 * shared client (an unblocked read returns nothing), on a cluster by closing the connection (no CLIENT
 * UNBLOCK across a cluster client: the reader's ID lives on one node).
 */
import type { Logger } from 'pino';
import { duplicateClient, isCluster, quitClient } from '../redis/redis-connection.ts';
import type { RedisClient } from '../redis/redis-connection.ts';
import { redisCommand } from './redis-command.ts';

export interface BlockingReaderOptions {
  /** The bus's shared client (duplicated; CLIENT UNBLOCK goes through it). */
  readonly main: RedisClient;
  /** The connection's name (CLIENT SETNAME); characters Redis refuses become `_`. */
  readonly name: string;
  readonly blockMs: number;
  readonly commandTimeoutMs: number;
  readonly connectWaitMs: number;
  readonly logger: Logger;
}

export class BlockingReader {
  readonly #o: BlockingReaderOptions;
  readonly #client: RedisClient;
  readonly #abort = new AbortController();
  #clientId: string | undefined;
  #blocking = false;
  #closing: Promise<void> | undefined;

  constructor(options: BlockingReaderOptions) {
    this.#o = options;
    this.#client = duplicateClient(options.main, {
      commandTimeout: options.blockMs + options.commandTimeoutMs,
      connectionName: options.name.replace(/[^\x21-\x7e]/g, '_'),
      enableAutoPipelining: false,
    });
    this.#client.on('error', (err: Error) => {
      options.logger.debug({ code: 'BUS_UNAVAILABLE', err: err.message }, 'reader connection error');
    });
    const client = this.#client;
    if (!isCluster(client)) {
      client.on('ready', () => {
        this.#clientId = undefined;
        client.call('CLIENT', ['ID']).then(
          (id) => (this.#clientId = String(id)),
          () => {},
        );
      });
    }
  }

  /** Abort signal of the backend's commands: aborted by interrupt() and destroy(). */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Run a command on `redis` (the shared client or this reader's) once connected; failures become BusErrors. */
  command<T>(redis: RedisClient, command: () => Promise<T>): Promise<T> {
    return redisCommand(redis, this.#o.connectWaitMs, command, this.#abort.signal);
  }

  /** Run a blocking read on this reader's connection (interrupt() can end it early). */
  read<T>(read: (client: RedisClient) => Promise<T>): Promise<T> {
    return this.command(this.#client, async () => {
      this.#blocking = true;
      try {
        return await read(this.#client);
      } finally {
        this.#blocking = false;
      }
    });
  }

  interrupt(): void {
    this.#abort.abort();
    if (!this.#blocking) return;
    if (isCluster(this.#client)) {
      this.#client.disconnect();
      return;
    }
    const id = this.#clientId;
    if (id !== undefined && this.#o.main.status === 'ready') {
      this.#o.main.call('CLIENT', ['UNBLOCK', id]).catch(() => {});
    }
  }

  /** Interrupt, then close the connection politely. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.interrupt();
      await quitClient(this.#client, this.#o.commandTimeoutMs);
    })();
    return this.#closing;
  }

  /** Drop the connection now, abandoning commands in flight. */
  destroy(): void {
    this.#abort.abort();
    this.#client.disconnect();
    this.#closing ??= Promise.resolve();
  }
}

/**
 * The storage actor: consumes the store shards. Persists messages into the inbox (dedup by signature),
 * records per-terminal deliveries, and drains backlogs a page at a time: the next page is requested by
 * the gateway once the last message of a page is delivered, so live traffic interleaves with the backlog.
 */
import type { Logger } from 'pino';
import type { BusConsumer, BusEntry, MessageBus } from '../bus/message-bus.ts';
import { decodeStore } from '../bus/stream-entries.ts';
import type { DeliverEntry, DrainEntry } from '../bus/stream-entries.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { InboxStore } from './inbox-store.ts';

export interface StorageWorkerOptions {
  readonly bus: MessageBus;
  readonly keys: RedisKeys;
  readonly shards: number;
  readonly inbox: InboxStore;
  readonly consumerName: string;
  /** Messages per backlog page (default 64). */
  readonly pageSize?: number;
  readonly concurrency?: number;
  /** Entries pending this long at a dead consumer are reclaimed (ms, default the bus's 30 s). */
  readonly claimIdleMs?: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

export const STORAGE_GROUP = 'storage';

export class StorageWorker {
  readonly #o: StorageWorkerOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  #consumers: BusConsumer[] = [];
  #closing: Promise<void> | undefined;

  constructor(options: StorageWorkerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ module: 'storage' });
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    for (let shard = 0; shard < this.#o.shards; shard++) {
      this.#consumers.push(
        this.#o.bus.consume({
          stream: this.#o.keys.storeStream(shard),
          group: STORAGE_GROUP,
          consumer: this.#o.consumerName,
          concurrency: this.#o.concurrency ?? 64,
          claimIdleMs: this.#o.claimIdleMs,
          handler: (entry) => this.handle(entry),
        }),
      );
    }
    this.#log.info(
      { code: 'STORAGE_STARTED', shards: this.#o.shards },
      'storage worker consuming store shards',
    );
  }

  close(): Promise<void> {
    this.#closing ??= Promise.all(this.#consumers.map((c) => c.close())).then(() => {
      this.#log.info({ code: 'STORAGE_CLOSED' }, 'storage worker stopped');
    });
    return this.#closing;
  }

  async handle(entry: BusEntry): Promise<void> {
    let value;
    try {
      value = decodeStore(entry.payload);
    } catch (err) {
      this.#log.error(
        { code: 'BAD_STREAM_ENTRY', id: entry.id, err: String(err) },
        'dropping unreadable store entry',
      );
      return;
    }
    const { inbox } = this.#o;
    switch (value.kind) {
      case 'store':
        await inbox.put(value.user, {
          sig: value.sig,
          time: value.time,
          storedAt: this.#now(),
          terminal: value.terminal,
          json: value.json,
        });
        return;
      case 'delivered':
        await inbox.markDelivered(value.user, value.terminal, value.sig);
        return;
      case 'drain':
        await this.#drain(value);
        return;
    }
  }

  async #drain(request: DrainEntry): Promise<void> {
    const { inbox, bus, keys } = this.#o;
    await inbox.addTerminal(request.user, request.terminal);
    const page = await inbox.page(request.user, request.terminal, {
      limit: this.#o.pageSize ?? 64,
      until: request.until,
      cursor: request.cursor,
    });
    const stream = keys.deliveryStream(request.gatewayId);
    for (let i = 0; i < page.entries.length; i++) {
      const m = page.entries[i]!;
      const last = i === page.entries.length - 1;
      const deliver: DeliverEntry = {
        kind: 'deliver',
        connId: request.connId,
        user: request.user,
        terminal: request.terminal,
        sig: m.sig,
        json: m.json,
        ...(last ? { backlog: { last: true, next: page.next, until: request.until } } : {}),
      };
      await bus.publish(stream, JSON.stringify(deliver));
    }
    if (page.entries.length > 0) {
      this.#log.debug(
        {
          code: 'BACKLOG_PAGE',
          user: request.user,
          count: page.entries.length,
          more: page.next !== undefined,
        },
        'backlog page sent',
      );
    }
  }
}

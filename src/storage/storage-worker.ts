/**
 * The storage actor: consumes the store shards and drains backlogs a page at a time (live messages are
 * stored by the dispatcher and marked by the gateways, in the inbox directly; `store` and `delivered`
 * entries written before that are still applied):
 * each page is one entry on the gateway's delivery stream, and the gateway asks for the next page (after
 * the page's last cursor) once `prefetchAt` of its messages are confirmed — a window of pages in flight,
 * still in order — so live traffic interleaves with the backlog.
 */
import type { Logger } from 'pino';
import type { BusConsumer, BusEntry, MessageBus } from '../bus/message-bus.ts';
import { decodeStore } from '../streams/station-streams.ts';
import type { DrainEntry, StationStreams } from '../streams/station-streams.ts';
import type { InboxStore } from './inbox-store.ts';

export interface StorageWorkerOptions {
  readonly bus: MessageBus;
  readonly streams: StationStreams;
  readonly inbox: InboxStore;
  readonly consumerName: string;
  /** Messages per backlog page (default BACKLOG_PAGE_SIZE). */
  readonly pageSize?: number;
  /**
   * The gateway asks for the next page once this fraction of a page is confirmed (default
   * BACKLOG_PREFETCH: half); 1 waits for the whole page.
   */
  readonly prefetch?: number;
  readonly concurrency?: number;
  /** Entries pending this long at a dead consumer are reclaimed (ms, default the bus's 30 s). */
  readonly claimIdleMs?: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

export const STORAGE_GROUP = 'storage';
/** Messages per backlog page. */
export const BACKLOG_PAGE_SIZE = 128;
/** Fraction of a page confirmed before the next one is requested. */
export const BACKLOG_PREFETCH = 0.5;

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
    for (let shard = 0; shard < this.#o.streams.shards; shard++) {
      this.#consumers.push(
        this.#o.bus.consume({
          stream: this.#o.streams.storeStream(shard),
          group: STORAGE_GROUP,
          consumer: this.#o.consumerName,
          concurrency: this.#o.concurrency ?? 64,
          claimIdleMs: this.#o.claimIdleMs,
          handler: (entry) => this.handle(entry),
        }),
      );
    }
    this.#log.info(
      { code: 'STORAGE_STARTED', shards: this.#o.streams.shards },
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
      value = decodeStore(entry.fields);
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
          storedAt: typeof value.at === 'number' ? Math.min(value.at, this.#now()) : this.#now(),
          terminal: value.terminal,
          json: value.msg,
        });
        return;
      case 'delivered':
        if (value.sigs.length > 0) await inbox.markDeliveredMany(value.user, value.terminal, value.sigs);
        return;
      case 'drain':
        await this.#drain(value);
        return;
    }
  }

  async #drain(request: DrainEntry): Promise<void> {
    const { inbox, bus, streams } = this.#o;
    // the first page records the terminal; later pages of the same drain need not
    if (request.cursor === undefined) await inbox.addTerminal(request.user, request.terminal);
    const page = await inbox.page(request.user, request.terminal, {
      limit: this.#o.pageSize ?? BACKLOG_PAGE_SIZE,
      until: request.until,
      cursor: request.cursor,
    });
    // an empty page too: it tells the gateway the drain is complete (its live pushes wait for that)
    const count = page.entries.length;
    const fraction = Math.min(1, Math.max(0, this.#o.prefetch ?? BACKLOG_PREFETCH));
    const deliver = streams.deliverPage(request.gatewayId, {
      connId: request.connId,
      user: request.user,
      terminal: request.terminal,
      until: request.until,
      next: page.next,
      prefetchAt:
        page.next === undefined ? undefined : Math.min(count, Math.max(1, Math.ceil(count * fraction))),
      messages: page.entries.map((m) => ({ sig: m.sig, msg: m.json })),
    });
    await bus.publish(deliver.stream, deliver.fields);
    this.#log.debug(
      { code: 'BACKLOG_PAGE', user: request.user, count, more: page.next !== undefined },
      'backlog page sent',
    );
  }
}

/**
 * A gateway's delivery loop: tails the gateway's own delivery stream (MessageBus.tail: no consumer group,
 * nothing acknowledged, each entry read once) and pushes each message to the connection it names — a
 * single message (live), or a backlog page (its messages pushed in order at once). Confirmed messages
 * (MTP `OK` / WebSocket `ACK:`) are marked delivered in the inbox, in batches (DeliveredMarks).
 * Undelivered messages — not confirmed, their connection gone, a failed handler, or entries this process
 * never read because it died — are still in the inbox (everything is stored before it is delivered) and
 * come back with the next backlog drain; an entry outliving its process would name connections that died
 * with it, so nothing is kept for re-delivery. The tail starts at the stream's end: `start()` resolves once
 * that point is fixed, and the gateway accepts connections only then, so no delivery to one of its
 * connections is published before it. A backlog page asks for the next one (after its last cursor, so
 * order holds) once `prefetchAt` of its messages are confirmed: the next page travels while the client
 * confirms this one. Live pushes to a connection wait while its backlog is on its way; a page tells the
 * gateway when it is written, the last one (possibly empty) lets them go (live-gate.ts).
 */
import type { Logger } from 'pino';
import type { BusEntry, BusTail, MessageBus } from '../bus/message-bus.ts';
import type { InboxStore } from '../storage/inbox-store.ts';
import type { InboundSink } from '../streams/inbound-sink.ts';
import { decodeDelivery } from '../streams/station-streams.ts';
import type { DeliverPageEntry, StationStreams } from '../streams/station-streams.ts';
import type { DeliveryResult } from '../transport/client-channel.ts';
import type { BacklogAttachments } from './backlog-attachments.ts';
import { DeliveredMarks } from './delivered-marks.ts';

export interface DeliveryTarget {
  readonly id: string;
  /** `live`: routed by the dispatcher (not a backlog page's message nor a response). */
  deliver(
    connId: string,
    body: string,
    signature?: string,
    live?: boolean,
  ): Promise<DeliveryResult | 'no-session'>;
  /** A backlog page's pushes were written to the connection (`last`: no page follows). */
  backlogPage?(connId: string, last: boolean): void;
}

export interface DeliveryConsumerOptions {
  readonly bus: MessageBus;
  readonly streams: StationStreams;
  readonly gateway: DeliveryTarget;
  /** Where next-page requests go (the storage worker's shards). */
  readonly sink: InboundSink;
  /** Where delivered marks are recorded. */
  readonly inbox: InboxStore;
  /** Pushes awaiting client confirmation at once (default 10000). */
  readonly concurrency?: number;
  readonly logger: Logger;
  /** Attaches senders' meta and visa to backlog pages (first message of each sender in a drain). */
  readonly attachments?: BacklogAttachments;
}

export class DeliveryConsumer {
  readonly #o: DeliveryConsumerOptions;
  readonly #log: Logger;
  readonly #marks: DeliveredMarks;
  #tail: BusTail | undefined;

  constructor(options: DeliveryConsumerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ module: 'delivery' });
    this.#marks = new DeliveredMarks((user, terminal, sigs) =>
      options.inbox.markDeliveredMany(user, terminal, sigs),
    );
  }

  /** Start tailing; resolves once every delivery published from now on will be read (BusTail.ready). */
  start(): Promise<void> {
    this.#tail ??= this.#o.bus.tail({
      stream: this.#o.streams.deliveryStream(this.#o.gateway.id),
      name: this.#o.gateway.id,
      concurrency: this.#o.concurrency ?? 10_000,
      handler: (entry) => this.handle(entry),
    });
    return this.#tail.ready;
  }

  close(): Promise<void> {
    return this.#tail?.close() ?? Promise.resolve();
  }

  async handle(entry: BusEntry): Promise<void> {
    let deliver;
    try {
      deliver = decodeDelivery(entry.fields);
    } catch (err) {
      this.#log.error(
        { code: 'BAD_STREAM_ENTRY', id: entry.id, err: String(err) },
        'dropping unreadable delivery',
      );
      return;
    }
    if (deliver.kind === 'deliver-page') return this.#page(deliver);
    const result = await this.#o.gateway.deliver(deliver.connId, deliver.msg, deliver.sig, !deliver.response);
    if (deliver.response) return;
    if (result !== 'acked' && result !== 'written') {
      this.#log.debug({ code: 'DELIVERY_DEFERRED', result, conn: deliver.connId }, 'left in the inbox');
      return;
    }
    await this.#marks.add(deliver.user, deliver.terminal, deliver.sig);
  }

  /** Push a backlog page in order; mark what is confirmed; ask for the next page at `prefetchAt`. */
  async #page(page: DeliverPageEntry): Promise<void> {
    const { sink, gateway } = this.#o;
    const { user, terminal, connId, next } = page;
    const prefetchAt = next === undefined ? Infinity : (page.prefetchAt ?? page.messages.length);
    let confirmed = 0;
    let failed: DeliveryResult | 'no-session' | undefined;
    const bodies = (await this.#o.attachments?.attach(page)) ?? page.messages.map((m) => m.msg);
    // Every push starts (its frame is written) here, in page order; they settle as the client confirms.
    const pushes = page.messages.map(async (m, i) => {
      const result = await gateway.deliver(connId, bodies[i] as string, m.sig);
      if (result !== 'acked' && result !== 'written') {
        failed ??= result;
        return;
      }
      confirmed += 1;
      const mark = this.#marks.add(user, terminal, m.sig);
      if (confirmed === prefetchAt) {
        // the next page's request goes out now (not after this mark's batch): it is what the client waits for
        const nextPage = sink.requestBacklog({
          user,
          terminal,
          gatewayId: gateway.id,
          connId,
          until: page.until,
          cursor: next,
        });
        await Promise.all([mark, nextPage]);
        return;
      }
      await mark;
    });
    // every frame of the page is written (in order) by now: live pushes held behind the backlog may follow
    gateway.backlogPage?.(connId, next === undefined);
    const settled = await Promise.allSettled(pushes);
    if (failed !== undefined) {
      this.#log.debug(
        {
          code: 'DELIVERY_DEFERRED',
          result: failed,
          conn: connId,
          unconfirmed: page.messages.length - confirmed,
        },
        'backlog page partly left in the inbox',
      );
    }
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
  }
}

/**
 * A gateway's delivery loop: consumes the gateway's own delivery stream and pushes each message to the
 * connection it names. The stream entry is acknowledged once the client confirmed the frame (MTP `OK` /
 * WebSocket `ACK:`) or the push ended otherwise; undelivered messages are still in the inbox (everything
 * is stored before it is delivered) and come back with the next backlog drain.
 */
import type { Logger } from 'pino';
import type { InboundSink } from '../bus/inbound-sink.ts';
import type { BusConsumer, BusEntry, MessageBus } from '../bus/message-bus.ts';
import { decodeDeliver } from '../bus/stream-entries.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { DeliveryResult } from '../transport/client-channel.ts';

export interface DeliveryTarget {
  readonly id: string;
  deliver(connId: string, body: string, signature?: string): Promise<DeliveryResult | 'no-session'>;
}

export interface DeliveryConsumerOptions {
  readonly bus: MessageBus;
  readonly keys: RedisKeys;
  readonly gateway: DeliveryTarget;
  /** Where delivered marks and next-page requests go (the storage worker's shards). */
  readonly sink: InboundSink;
  /** Pushes awaiting client confirmation at once (default 10000). */
  readonly concurrency?: number;
  /** Must exceed the push retry window (3 × 120 s) so in-flight pushes are not re-delivered (default 400 s). */
  readonly claimIdleMs?: number;
  readonly logger: Logger;
}

export const GATEWAY_GROUP = 'gateway';

export class DeliveryConsumer {
  readonly #o: DeliveryConsumerOptions;
  readonly #log: Logger;
  #consumer: BusConsumer | undefined;

  constructor(options: DeliveryConsumerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ module: 'delivery' });
  }

  start(): void {
    this.#consumer ??= this.#o.bus.consume({
      stream: this.#o.keys.deliveryStream(this.#o.gateway.id),
      group: GATEWAY_GROUP,
      consumer: this.#o.gateway.id,
      concurrency: this.#o.concurrency ?? 10_000,
      claimIdleMs: this.#o.claimIdleMs ?? 400_000,
      handler: (entry) => this.handle(entry),
    });
  }

  close(): Promise<void> {
    return this.#consumer?.close() ?? Promise.resolve();
  }

  async handle(entry: BusEntry): Promise<void> {
    let deliver;
    try {
      deliver = decodeDeliver(entry.payload);
    } catch (err) {
      this.#log.error(
        { code: 'BAD_STREAM_ENTRY', id: entry.id, err: String(err) },
        'dropping unreadable delivery',
      );
      return;
    }
    const result = await this.#o.gateway.deliver(deliver.connId, deliver.json, deliver.sig);
    if (deliver.response) return;
    if (result !== 'acked' && result !== 'written') {
      this.#log.debug({ code: 'DELIVERY_DEFERRED', result, conn: deliver.connId }, 'left in the inbox');
      return;
    }
    const { sink, gateway } = this.#o;
    await sink.markDelivered({ user: deliver.user, terminal: deliver.terminal, sig: deliver.sig });
    if (deliver.backlog?.last && deliver.backlog.next !== undefined) {
      await sink.requestBacklog({
        user: deliver.user,
        terminal: deliver.terminal,
        gatewayId: gateway.id,
        connId: deliver.connId,
        until: deliver.backlog.until,
        cursor: deliver.backlog.next,
      });
    }
  }
}

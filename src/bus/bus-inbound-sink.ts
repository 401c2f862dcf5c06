/** The gateway's InboundSink over the message bus: messages to the inbound shard of their receiver. */
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { shardOf } from '../redis/redis-keys.ts';
import type { BacklogRequest, InboundSink, MessageOrigin } from './inbound-sink.ts';
import type { MessageBus } from './message-bus.ts';
import type { DeliveredEntry, DrainEntry, InboundEntry, StoreEntry } from './stream-entries.ts';

export class BusInboundSink implements InboundSink {
  readonly #bus: MessageBus;
  readonly #keys: RedisKeys;
  readonly #shards: number;
  readonly #now: () => number;

  constructor(bus: MessageBus, keys: RedisKeys, shards: number, now: () => number = Date.now) {
    this.#bus = bus;
    this.#keys = keys;
    this.#shards = shards;
    this.#now = now;
  }

  async publish(message: ReliableMessage, origin: MessageOrigin): Promise<void> {
    const receiver = message.receiver.naked().string;
    const entry: InboundEntry = { kind: 'message', msg: message.dict, origin, at: this.#now() };
    await this.#bus.publish(
      this.#keys.inboundStream(shardOf(receiver, this.#shards)),
      JSON.stringify(entry),
      receiver,
    );
  }

  async requestBacklog(request: BacklogRequest): Promise<void> {
    const entry: DrainEntry = { kind: 'drain', ...request, cursor: request.cursor };
    await this.#toStore(request.user, entry);
  }

  async markDelivered(mark: { user: string; terminal: string; sig: string }): Promise<void> {
    await this.markDeliveredMany({ user: mark.user, terminal: mark.terminal, sigs: [mark.sig] });
  }

  async markDeliveredMany(marks: { user: string; terminal: string; sigs: readonly string[] }): Promise<void> {
    if (marks.sigs.length === 0) return;
    const entry: DeliveredEntry = {
      kind: 'delivered',
      user: marks.user,
      terminal: marks.terminal,
      sigs: marks.sigs,
    };
    await this.#toStore(marks.user, entry);
  }

  /** Store entries of one user go to that user's store shard, in order. */
  #toStore(user: string, entry: StoreEntry): Promise<string> {
    return this.#bus.publish(
      this.#keys.storeStream(shardOf(user, this.#shards)),
      JSON.stringify(entry),
      user,
    );
  }
}

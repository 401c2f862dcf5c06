/** The gateway's InboundSink over the message bus: messages to the inbound shard of their receiver. */
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { shardOf } from '../redis/redis-keys.ts';
import type { InboundSink, MessageOrigin } from './inbound-sink.ts';
import type { MessageBus } from './message-bus.ts';
import type { DrainEntry, InboundEntry } from './stream-entries.ts';

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

  async requestBacklog(request: {
    user: string;
    terminal: string;
    gatewayId: string;
    connId: string;
    until: number;
  }): Promise<void> {
    const entry: DrainEntry = { kind: 'drain', ...request, cursor: undefined };
    await this.#bus.publish(
      this.#keys.storeStream(shardOf(request.user, this.#shards)),
      JSON.stringify(entry),
      request.user,
    );
  }
}

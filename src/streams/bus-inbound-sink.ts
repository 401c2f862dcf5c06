/** The gateway's InboundSink over the message bus: messages to the inbound shard of their receiver. */
import type { MessageBus } from '../bus/message-bus.ts';
import type { Content } from '../protocol/dkd/content.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import type { BacklogRequest, InboundSink } from './inbound-sink.ts';
import { envelopeText, messageText } from './station-streams.ts';
import type { MessageOrigin, Outgoing, StationStreams } from './station-streams.ts';

export class BusInboundSink implements InboundSink {
  readonly #bus: MessageBus;
  readonly #streams: StationStreams;

  constructor(bus: MessageBus, streams: StationStreams) {
    this.#bus = bus;
    this.#streams = streams;
  }

  async publish(message: ReliableMessage, origin: MessageOrigin, content?: Content): Promise<void> {
    await this.#publish(
      this.#streams.inbound(message.receiver.naked().string, {
        msg: messageText(message),
        envelope: envelopeText(message),
        content: content === undefined ? undefined : JSON.stringify(content.dict),
        origin,
      }),
    );
  }

  async requestBacklog(request: BacklogRequest): Promise<void> {
    await this.#publish(this.#streams.drain({ ...request, cursor: request.cursor }));
  }

  async markDelivered(mark: { user: string; terminal: string; sig: string }): Promise<void> {
    await this.markDeliveredMany({ user: mark.user, terminal: mark.terminal, sigs: [mark.sig] });
  }

  async markDeliveredMany(marks: { user: string; terminal: string; sigs: readonly string[] }): Promise<void> {
    if (marks.sigs.length === 0) return;
    await this.#publish(this.#streams.delivered(marks));
  }

  async #publish(entry: Outgoing): Promise<void> {
    await this.#bus.publish(entry.stream, entry.fields, entry.orderKey);
  }
}

/**
 * Where a gateway hands the reliable messages it accepted from clients. `publish` resolves only once the
 * message is durable (Redis: XADD acknowledged); only then does the gateway acknowledge the client's frame.
 */
import type { Content } from '../protocol/dkd/content.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import type { MessageOrigin } from './station-streams.ts';

export type { MessageOrigin } from './station-streams.ts';

export interface BacklogRequest {
  readonly user: string;
  readonly terminal: string;
  readonly gatewayId: string;
  readonly connId: string;
  readonly until: number;
  /** Continue after this cursor (the next page); absent for the first page. */
  readonly cursor?: string | undefined;
}

export interface InboundSink {
  /**
   * `content`: what the gateway decrypted (messages to the station or to everyone), so that the
   * dispatcher need not decrypt it again.
   */
  publish(message: ReliableMessage, origin: MessageOrigin, content?: Content): Promise<void>;
  /**
   * Ask for the stored backlog of a terminal that just became reachable (handshake done, or back online),
   * or for its next page (`cursor`). Messages stored after `until` (ms) are excluded: they are being
   * delivered live.
   */
  requestBacklog(request: BacklogRequest): Promise<void>;
  /** Record that `terminal` of `user` confirmed the message with signature `sig`. */
  markDelivered(mark: { user: string; terminal: string; sig: string }): Promise<void>;
  /** `markDelivered` for a batch of confirmed messages of one terminal (one bus entry). */
  markDeliveredMany(marks: { user: string; terminal: string; sigs: readonly string[] }): Promise<void>;
}

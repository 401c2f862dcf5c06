/**
 * Where a gateway hands the reliable messages it accepted from clients. `publish` resolves only once the
 * message is durable (Redis: XADD acknowledged); only then does the gateway acknowledge the client's frame.
 */
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';

export interface MessageOrigin {
  readonly gatewayId: string;
  readonly connId: string;
  /** The identity bound to the connection (naked ID string). */
  readonly user: string;
  readonly terminal: string | undefined;
  /** Set when the gateway already answered the message's session effects (login, report). */
  readonly handled?: 'login' | 'report';
}

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
  publish(message: ReliableMessage, origin: MessageOrigin): Promise<void>;
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

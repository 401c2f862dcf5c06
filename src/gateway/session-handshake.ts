/**
 * The handshake a session answers itself: the speed test (`Nice to meet you!`), Start (`Hello world!`
 * without or with a stale session key → `DIM?` with ours), Restart (our session key → `DIM!`, bind).
 * A Restart addressed to another station is refused at once (WRONG_STATION) rather than held until the
 * handshake deadline.
 */
import type { Content } from '../protocol/dkd/content.ts';
import {
  AGAIN,
  HELLO,
  SPEED_TEST,
  SPEED_TEST_REPLY,
  SUCCESS,
  buildHandshakeReply,
  parseHandshake,
} from '../protocol/dkd/handshake-command.ts';
import type { ReceiptOptions } from '../protocol/dkd/receipt-command.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import { EVERY_STATION } from '../protocol/mkm/identifier.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import { Rejection } from './session-refusals.ts';

export interface HandshakeHost {
  readonly sessionKey: string;
  readonly remote: [string, number];
  /** The user bound to the connection, when the handshake already completed. */
  readonly boundUser: ID | undefined;
  /** Seconds since the epoch. */
  now(): number;
  send(to: ID, content: Record<string, unknown>, attachIdentity: boolean): void;
  sendReceipt(message: ReliableMessage, text: string, options: ReceiptOptions): void;
  /** Bind the connection to `sender` (registry, state). */
  bind(sender: ID): void;
}

/** `DIM?` asking the sender to handshake (again) with our session key. */
export function againReply(host: HandshakeHost, force: boolean): Record<string, unknown> {
  return buildHandshakeReply(AGAIN, host.now(), {
    session: host.sessionKey,
    remoteAddress: host.remote,
    ...(force ? { force: true } : {}),
  });
}

/**
 * Answer a handshake command; resolves true when the connection was bound by it (the caller then
 * replays held messages).
 */
export function answerHandshake(host: HandshakeHost, message: ReliableMessage, content: Content): boolean {
  const request = parseHandshake(content);
  if (request === undefined) return false;
  const attach =
    message.receiver.string === 'station@anywhere' || content.group?.equals(EVERY_STATION) === true;
  const now = host.now();
  if (request.title === SPEED_TEST) {
    host.send(
      message.sender,
      buildHandshakeReply(SPEED_TEST_REPLY, now, { remoteAddress: host.remote }),
      attach,
    );
    return false;
  }
  if (request.title !== HELLO) {
    host.sendReceipt(message, 'Command not support.', {
      content,
      template: 'Command (name: ${command}) not support yet!',
      replacements: { command: 'handshake' },
    });
    return false;
  }
  if (request.session !== host.sessionKey) {
    host.send(message.sender, againReply(host, false), attach);
    return false;
  }
  const bound = host.boundUser;
  if (bound !== undefined && !message.sender.isSameAs(bound)) {
    throw new Rejection(
      'IDENTITY_CONFLICT',
      'Handshake refused: this connection is logged in as another user.',
      true,
    );
  }
  host.bind(message.sender);
  host.send(
    message.sender,
    buildHandshakeReply(SUCCESS, now, { session: host.sessionKey, remoteAddress: host.remote }),
    attach,
  );
  return true;
}

/**
 * Whether a message sent before the handshake is addressed to another station: a Restart meant for the
 * station the client picked, reaching us (a load balancer, a stale address). Nothing else an unbound
 * client sends goes to a station ID.
 */
export function addressedToAnotherStation(
  message: ReliableMessage,
  isForStation: (id: ID) => boolean,
): boolean {
  return message.receiver.isStation && !message.receiver.isBroadcast && !isForStation(message.receiver);
}

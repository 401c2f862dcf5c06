/**
 * `handshake` (dimples common/protocol/handshake.py): Start (C→S `Hello world!`, no session), Again
 * (S→C `DIM?` + session), Restart (C→S `Hello world!` + session), Success (S→C `DIM!`). The speed test
 * `Nice to meet you!` is answered with `Nice to meet you too!`. `message` is the legacy copy of `title`.
 */
import type { Content } from './content.ts';
import { newCommand } from './content.ts';

export const HELLO = 'Hello world!';
export const AGAIN = 'DIM?';
export const SUCCESS = 'DIM!';
export const SPEED_TEST = 'Nice to meet you!';
export const SPEED_TEST_REPLY = 'Nice to meet you too!';

export interface HandshakeRequest {
  readonly title: string;
  /** The session key the client echoes (Restart), if any. */
  readonly session: string | undefined;
}

/** Read a handshake command (title from `title`, else legacy `message`). */
export function parseHandshake(content: Content): HandshakeRequest | undefined {
  if (content.command !== 'handshake') return undefined;
  const title = content.dict['title'] ?? content.dict['message'];
  const session = content.dict['session'];
  return {
    title: typeof title === 'string' ? title : '',
    session: typeof session === 'string' && session.length > 0 ? session : undefined,
  };
}

/** The station's reply: `DIM?` (with `force` when the client must handshake first), `DIM!`, or the speed test. */
export function buildHandshakeReply(
  title: string,
  now: number,
  fields: { session?: string; remoteAddress?: readonly [string, number]; force?: boolean },
): Record<string, unknown> {
  const out: Record<string, unknown> = { title, message: title };
  if (fields.session !== undefined) out['session'] = fields.session;
  if (fields.remoteAddress !== undefined) out['remote_address'] = [...fields.remoteAddress];
  if (fields.force) out['force'] = true;
  return newCommand('handshake', now, out);
}

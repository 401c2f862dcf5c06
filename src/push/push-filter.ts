/**
 * Which stored messages wake the receiver's devices (the reference's filters, station-py server/push.py
 * and filters.py): not when older than 128 s, flagged `muted`, from or to a station, from or to a bot, or a
 * command / history / array / forward content; not when the receiver muted the sender or the group.
 * Pure: the caller passes the clock and the receiver's mute list.
 */
import { ContentType } from '../protocol/dkd/content-type.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import type { ID } from '../protocol/mkm/identifier.ts';

/** Messages older than this are never pushed (seconds). */
export const MAX_PUSH_AGE_SECONDS = 128;

export type PushSkipReason =
  | 'too-old'
  | 'muted-flag'
  | 'station'
  | 'bot'
  | 'not-a-user'
  | 'content-type'
  | 'muted-sender'
  | 'muted-group';

const SILENT_TYPES: ReadonlySet<number> = new Set([
  ContentType.COMMAND,
  ContentType.HISTORY,
  ContentType.ARRAY,
  ContentType.FORWARD,
]);

/** Why `message` for `receiver` must not be pushed, or undefined when it may be. `now` in ms. */
export function pushSkipReason(
  message: ReliableMessage,
  receiver: ID,
  now: number,
): PushSkipReason | undefined {
  if (message.time !== undefined && now / 1000 - message.time > MAX_PUSH_AGE_SECONDS) return 'too-old';
  const muted = message.dict['muted'];
  if (muted === true || muted === 'true' || muted === 1) return 'muted-flag';
  const sender = message.sender;
  if (sender.isStation || receiver.isStation) return 'station';
  if (sender.isBot || receiver.isBot) return 'bot';
  if (!receiver.isUser || receiver.isBroadcast) return 'not-a-user';
  if (message.type !== undefined && SILENT_TYPES.has(message.type)) return 'content-type';
  return undefined;
}

/** Whether the receiver's mute list silences this message (its sender, or its group). */
export function mutedBy(
  list: readonly string[] | undefined,
  message: ReliableMessage,
): PushSkipReason | undefined {
  if (list === undefined || list.length === 0) return undefined;
  if (list.includes(message.sender.naked().string)) return 'muted-sender';
  const group = message.group;
  if (group !== undefined && list.includes(group.string)) return 'muted-group';
  return undefined;
}

/**
 * Smaller station commands: `ans` (name lookups), `block` / `mute` lists, and the FORWARD (0xFF),
 * ARRAY (0xCA) and TEXT contents a station reads or writes.
 */
import { ProtocolError } from '../protocol-error.ts';
import { tryParseId } from '../mkm/identifier.ts';
import type { ID } from '../mkm/identifier.ts';
import type { Content } from './content.ts';
import { newCommand, newContent } from './content.ts';
import { ContentType } from './content-type.ts';

export const MAX_LIST_LENGTH = 10000;
export const MAX_ANS_NAMES = 64;
export const MAX_FORWARDED = 64;

/** `ans` query: space-separated names. */
export function parseAnsNames(content: Content): string[] | undefined {
  if (content.command !== 'ans') return undefined;
  const names = content.dict['names'];
  if (typeof names !== 'string') return [];
  return names
    .split(/\s+/)
    .filter((n) => n.length > 0)
    .slice(0, MAX_ANS_NAMES);
}

export function buildAnsResponse(
  names: readonly string[],
  records: Record<string, string>,
  now: number,
): Record<string, unknown> {
  const missed = names.filter((n) => !(n in records));
  return newCommand('ans', now, { names: names.join(' '), records, missed });
}

export interface ListCommand {
  readonly name: 'block' | 'mute';
  /** The IDs to store; undefined for a query. Unparseable entries are dropped. */
  readonly list: readonly ID[] | undefined;
}

export function parseListCommand(content: Content): ListCommand | undefined {
  const name = content.command;
  if (name !== 'block' && name !== 'mute') return undefined;
  const list = content.dict['list'];
  if (list === undefined || list === null) return { name, list: undefined };
  if (!Array.isArray(list)) throw new ProtocolError('BAD_CONTENT', `${name} list is not an array`);
  if (list.length > MAX_LIST_LENGTH) throw new ProtocolError('FIELD_TOO_LARGE', `${name} list too long`);
  const ids: ID[] = [];
  for (const item of list) {
    const id = tryParseId(item);
    if (id) ids.push(id);
  }
  return { name, list: ids };
}

export function buildListCommand(
  name: 'block' | 'mute',
  list: readonly ID[],
  now: number,
): Record<string, unknown> {
  return newCommand(name, now, { list: list.map((id) => id.string) });
}

/** Inner reliable messages of a FORWARD content (`secrets` list and/or single `forward`). */
export function parseForward(content: Content): unknown[] | undefined {
  if (content.type !== ContentType.FORWARD) return undefined;
  const out: unknown[] = [];
  const secrets = content.dict['secrets'];
  if (Array.isArray(secrets)) out.push(...secrets);
  const single = content.dict['forward'];
  if (single !== undefined && single !== null) out.push(single);
  if (out.length > MAX_FORWARDED) throw new ProtocolError('FIELD_TOO_LARGE', 'too many forwarded messages');
  return out;
}

export function buildForward(
  messages: readonly Record<string, unknown>[],
  now: number,
): Record<string, unknown> {
  const fields: Record<string, unknown> = { secrets: messages };
  if (messages.length === 1) fields['forward'] = messages[0];
  return newContent(ContentType.FORWARD, now, fields);
}

/** Inner contents of an ARRAY content. */
export function parseArray(content: Content): unknown[] | undefined {
  if (content.type !== ContentType.ARRAY) return undefined;
  const contents = content.dict['contents'];
  if (!Array.isArray(contents)) return [];
  if (contents.length > MAX_FORWARDED) throw new ProtocolError('FIELD_TOO_LARGE', 'too many array contents');
  return contents;
}

export function buildText(
  text: string,
  now: number,
  fields: Record<string, unknown> = {},
): Record<string, unknown> {
  return newContent(ContentType.TEXT, now, { text, ...fields });
}

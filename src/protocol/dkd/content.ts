/**
 * Message contents. Incoming contents are normalized once (short keys expanded, `type` as an integer,
 * command name from `command` or legacy `cmd`) while the dictionary keeps every other field. Outgoing
 * contents are written in the most compatible form: integer `type`, both `command` and `cmd`, both `did`
 * and `ID`.
 */
import { randomInt } from 'node:crypto';
import { ProtocolError } from '../protocol-error.ts';
import { tryParseId } from '../mkm/identifier.ts';
import type { ID } from '../mkm/identifier.ts';
import { ContentType, parseContentType } from './content-type.ts';
import { expandContentKeys } from './short-keys.ts';

export interface Content {
  readonly type: number;
  readonly sn: number | undefined;
  readonly time: number | undefined;
  readonly group: ID | undefined;
  /** Command name (`command`, else legacy `cmd`) for command-like contents. */
  readonly command: string | undefined;
  /** The full dictionary, with `type` normalized to an integer and long key names. */
  readonly dict: Readonly<Record<string, unknown>>;
}

function finiteNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.length > 0 && value.length < 32) {
    const n = Number(value);
    if (Number.isFinite(n)) return n;
  }
  return undefined;
}

/** Parse a content dictionary (already JSON-parsed). Throws BAD_CONTENT. */
export function parseContent(value: unknown): Content {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtocolError('BAD_CONTENT', 'content is not a dictionary');
  }
  const dict = { ...expandContentKeys(value as Record<string, unknown>) };
  const type = parseContentType(dict['type']);
  if (type === undefined) throw new ProtocolError('BAD_CONTENT', 'content without a valid type');
  dict['type'] = type;
  const commandValue = dict['command'] ?? dict['cmd'];
  const command = typeof commandValue === 'string' && commandValue.length > 0 ? commandValue : undefined;
  return {
    type,
    sn: finiteNumber(dict['sn']),
    time: finiteNumber(dict['time']),
    group: dict['group'] === undefined ? undefined : tryParseId(dict['group']),
    command,
    dict,
  };
}

let lastSn = randomInt(0, 0x7fffffff);

/** Serial numbers: random start in [0, 2^31-1], incremented per content, wrapping to 1. */
export function nextSerialNumber(): number {
  lastSn = lastSn >= 0x7fffffff ? 1 : lastSn + 1;
  return lastSn;
}

/**
 * Rewrite a content dictionary in the compatible output form (integer type, `command`+`cmd`,
 * `did`+`ID`). Returns a new object; field order: type, sn, time, then the rest.
 */
export function compatContent(dict: Record<string, unknown>): Record<string, unknown> {
  const type = parseContentType(dict['type']);
  const out: Record<string, unknown> = { type: type ?? dict['type'], sn: dict['sn'], time: dict['time'] };
  for (const [k, v] of Object.entries(dict)) if (!(k in out)) out[k] = v;
  if (out['sn'] === undefined) delete out['sn'];
  if (out['time'] === undefined) delete out['time'];
  const command = dict['command'] ?? dict['cmd'];
  if (command !== undefined) {
    out['command'] = command;
    out['cmd'] = command;
  }
  const did = dict['did'] ?? dict['ID'];
  if (did !== undefined) {
    out['did'] = did;
    out['ID'] = did;
  }
  return out;
}

/** Start a new station content of `type` with a fresh sn and time (seconds). */
export function newContent(
  type: number,
  now: number,
  fields: Record<string, unknown>,
): Record<string, unknown> {
  return compatContent({ type, sn: nextSerialNumber(), time: now, ...fields });
}

/** A command content (type 0x88) named `command`. */
export function newCommand(
  command: string,
  now: number,
  fields: Record<string, unknown> = {},
): Record<string, unknown> {
  return newContent(ContentType.COMMAND, now, { command, ...fields });
}

/**
 * Envelope validation of a reliable message a station relays, whether or not its signature is checked:
 * every field a receiving client reads must have the type and encoding clients expect (Dart clients throw
 * on a negative `time`, on a `type` that is no integer, on `data` that is no base64…). Pure: the caller
 * passes the clock. Throws ProtocolError BAD_TIME / BAD_ENVELOPE / FIELD_TOO_LARGE naming the field.
 *
 * What is not required, on purpose: `type`, `IV` and key material. Messages of classic clients carry
 * neither `type` nor `IV` (vectors V1/V2: zero IV), and a sender reusing its key for a direction may omit
 * `key`/`keys` (protocol §3.4) — refusing them would break real clients. When present they must be valid.
 */
import { decodeTed } from '../crypto/encoding.ts';
import { tryParseId } from '../mkm/identifier.ts';
import { ProtocolError } from '../protocol-error.ts';
import { parseContentType } from './content-type.ts';
import type { ReliableMessage } from './reliable-message.ts';

/** Seconds a message time may be ahead of the station clock (clock skew of phones). */
export const MAX_FUTURE_SECONDS = 24 * 3600;
/** Oldest plausible message time: 2001-09-09 (10⁹ s); smaller values are milliseconds bugs or junk. */
export const MIN_MESSAGE_TIME = 1_000_000_000;
const MAX_TRACES = 64;
const MAX_RECIPIENTS = 4096;
const MAX_TED_FIELD = 4096;
/** 16 bytes of AES IV in base64 is 24 characters; allow the TED prefixes. */
const MAX_IV_LENGTH = 128;

const bad = (field: string, why: string): ProtocolError =>
  new ProtocolError('BAD_ENVELOPE', `\`${field}\` ${why}`);

function checkTed(field: string, value: unknown, maxLength: number): Uint8Array {
  if (typeof value !== 'string' || value.length === 0) throw bad(field, 'is not a non-empty string');
  if (value.length > maxLength) throw new ProtocolError('FIELD_TOO_LARGE', `\`${field}\` too long`);
  try {
    return decodeTed(value);
  } catch {
    throw bad(field, 'is not base64');
  }
}

function checkTime(value: unknown, nowSeconds: number): void {
  if (value === undefined || value === null) throw new ProtocolError('BAD_TIME', '`time` is missing');
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new ProtocolError('BAD_TIME', '`time` is not a number');
  if (value < MIN_MESSAGE_TIME) throw new ProtocolError('BAD_TIME', '`time` is before 2001 (or negative)');
  if (value > nowSeconds + MAX_FUTURE_SECONDS)
    throw new ProtocolError('BAD_TIME', '`time` is more than a day ahead');
}

function checkOptionalTime(field: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw bad(field, 'is not a non-negative number');
}

function checkIdList(field: string, value: unknown, max: number, allowObjects: boolean): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) throw bad(field, 'is not a list');
  if (value.length > max) throw new ProtocolError('FIELD_TOO_LARGE', `\`${field}\` has too many entries`);
  for (const item of value) {
    if (typeof item === 'string') {
      if (tryParseId(item) === undefined) throw bad(field, 'holds an invalid ID');
    } else if (allowObjects && item !== null && typeof item === 'object' && !Array.isArray(item)) {
      const entry = item as Record<string, unknown>;
      const id = entry['ID'] ?? entry['did'];
      if (typeof id !== 'string' || tryParseId(id) === undefined)
        throw bad(field, 'holds an entry without ID');
    } else {
      throw bad(field, 'holds a value that is no ID');
    }
  }
}

/** Validate a parsed message's envelope; `nowSeconds` is the station clock. */
export function checkEnvelope(message: ReliableMessage, nowSeconds: number): void {
  const dict = message.dict;
  checkTime(dict['time'], nowSeconds);
  for (const field of ['sender', 'receiver', 'group'] as const) {
    const id = dict[field];
    if (id !== undefined && id !== null && typeof id !== 'string') throw bad(field, 'is not an ID string');
  }
  const type = dict['type'];
  if (type !== undefined && type !== null && parseContentType(type) === undefined)
    throw bad('type', 'is not a content type (0..255)');
  if (!message.isBroadcast) {
    // the bytes the signature covers; cached on the message, so a later verify does not decode again
    try {
      void message.dataBytes;
    } catch {
      throw bad('data', 'is not base64');
    }
    for (const field of ['IV', 'iv'] as const) {
      const iv = dict[field];
      if (iv === undefined || iv === null) continue;
      if (checkTed(field, iv, MAX_IV_LENGTH).length !== 16) throw bad(field, 'is not 16 bytes');
    }
  }
  try {
    void message.signature;
  } catch {
    throw bad('signature', 'is not base64');
  }
  if (dict['key'] !== undefined && dict['key'] !== null) checkTed('key', dict['key'], MAX_TED_FIELD);
  const keys = dict['keys'];
  if (keys !== undefined && keys !== null) {
    for (const [name, value] of Object.entries(keys as Record<string, unknown>)) {
      if (name === 'digest') {
        if (typeof value !== 'string' || value.length > 64) throw bad('keys.digest', 'is not a short string');
        continue;
      }
      checkTed(`keys`, value, MAX_TED_FIELD);
    }
  }
  checkOptionalTime('SDT', dict['SDT']);
  checkOptionalTime('GDT', dict['GDT']);
  const gf = dict['GF'];
  if (gf !== undefined && gf !== null && typeof gf !== 'boolean' && gf !== 0 && gf !== 1)
    throw bad('GF', 'is not a boolean');
  checkIdList('traces', dict['traces'], MAX_TRACES, true);
  checkIdList('recipients', dict['recipients'], MAX_RECIPIENTS, false);
  for (const field of ['meta', 'visa', 'origin'] as const) {
    const value = dict[field];
    if (value !== undefined && value !== null && (typeof value !== 'object' || Array.isArray(value)))
      throw bad(field, 'is not an object');
  }
}

/**
 * Reliable messages: the only form that travels between clients and stations. Parsing validates the
 * envelope and sizes, expands short keys, and keeps the dictionary verbatim (unknown fields included) so
 * that relaying preserves every byte-relevant value; only `traces` / `recipients` are ever added.
 */
import { DEFAULT_MAX_JSON_DEPTH, parseBoundedJson, valueDepthExceeds } from '../bounded-json.ts';
import { ProtocolError } from '../protocol-error.ts';
import { decodeTed, utf8Encode } from '../crypto/encoding.ts';
import { ANYONE, parseId, tryParseId } from '../mkm/identifier.ts';
import type { ID } from '../mkm/identifier.ts';
import { parseContentType } from './content-type.ts';
import { expandMessageKeys } from './short-keys.ts';

export interface MessageLimits {
  /** Longest `data` string (characters). */
  readonly maxDataLength: number;
  /** Most entries in a `keys` map (group messages carry one per member). */
  readonly maxKeys: number;
  /** Deepest array/object nesting (default 64): deeper values break every recursive walk after parsing. */
  readonly maxDepth?: number;
}

export const DEFAULT_MESSAGE_LIMITS: MessageLimits = { maxDataLength: 1024 * 1024, maxKeys: 4096 };

const MAX_SIGNATURE_LENGTH = 2048;
const MAX_KEY_LENGTH = 4096;
/** Longest ID string (name@address/terminal; real ones are under 100 characters). */
const MAX_ID_LENGTH = 512;
const ID_FIELDS = ['sender', 'receiver', 'group'] as const;

export class ReliableMessage {
  /** The wire dictionary with long key names; relayed as is. */
  readonly dict: Record<string, unknown>;
  readonly sender: ID;
  readonly receiver: ID;
  readonly group: ID | undefined;
  readonly time: number | undefined;
  /** Envelope `type` as an integer (the wire may carry "136"). */
  readonly type: number | undefined;
  readonly data: string;
  readonly signatureText: string;
  /**
   * The JSON text this message was parsed from, when `dict` is exactly that text's object (no short keys
   * were expanded): it can be relayed as is.
   */
  readonly source: string | undefined;
  #signature: Uint8Array | undefined;
  #dataBytes: Uint8Array | undefined;

  constructor(
    dict: Record<string, unknown>,
    sender: ID,
    receiver: ID,
    group: ID | undefined,
    source?: string,
  ) {
    this.dict = dict;
    this.source = source;
    this.sender = sender;
    this.receiver = receiver;
    this.group = group;
    const time = dict['time'];
    this.time = typeof time === 'number' && Number.isFinite(time) ? time : undefined;
    this.type = parseContentType(dict['type']);
    this.data = dict['data'] as string;
    this.signatureText = dict['signature'] as string;
  }

  /** Broadcast: the receiver, or the exposed group, is a broadcast ID; `data` is then plaintext JSON. */
  get isBroadcast(): boolean {
    return this.receiver.isBroadcast || (this.group !== undefined && this.group.isBroadcast);
  }

  get signature(): Uint8Array {
    if (this.#signature === undefined) {
      try {
        this.#signature = decodeTed(this.signatureText);
      } catch (cause) {
        throw new ProtocolError('BAD_MESSAGE', 'signature is not decodable', { cause });
      }
    }
    return this.#signature;
  }

  /** The bytes the signature covers: UTF-8 of `data` for broadcasts, else the decoded ciphertext. */
  get dataBytes(): Uint8Array {
    if (this.#dataBytes === undefined) {
      if (this.isBroadcast) {
        this.#dataBytes = utf8Encode(this.data);
      } else {
        try {
          this.#dataBytes = decodeTed(this.data);
        } catch (cause) {
          throw new ProtocolError('BAD_MESSAGE', 'data is not decodable', { cause });
        }
      }
    }
    return this.#dataBytes;
  }

  /** Top-level IV (`IV`, else `iv`), if any. */
  get iv(): Uint8Array | undefined {
    const value = this.dict['IV'] ?? this.dict['iv'];
    if (typeof value !== 'string' || value.length === 0) return undefined;
    try {
      return decodeTed(value);
    } catch (cause) {
      throw new ProtocolError('BAD_MESSAGE', 'IV is not decodable', { cause });
    }
  }

  get meta(): unknown {
    return this.dict['meta'];
  }

  get visa(): unknown {
    return this.dict['visa'];
  }

  /**
   * Encrypted symmetric-key candidates for `receiver`, most specific first: `keys["ID/terminal"]` for each
   * given terminal, `keys["ID"]` (also the `*` terminal of 2026 clients), then classic `key`.
   */
  encryptedKeysFor(receiver: ID, terminals: readonly string[] = []): Uint8Array[] {
    const out: Uint8Array[] = [];
    const naked = receiver.naked().string;
    const keys = this.dict['keys'];
    const push = (value: unknown): void => {
      if (typeof value !== 'string' || value.length === 0) return;
      try {
        out.push(decodeTed(value));
      } catch {
        // a malformed entry for one terminal must not hide the others
      }
    };
    if (keys !== null && typeof keys === 'object' && !Array.isArray(keys)) {
      const map = keys as Record<string, unknown>;
      if (receiver.terminal !== undefined) push(map[receiver.string]);
      for (const terminal of terminals) push(map[`${naked}/${terminal}`]);
      push(map[naked]);
    }
    push(this.dict['key']);
    return out;
  }

  /** A copy with extra envelope fields (e.g. `traces`); every other field is kept verbatim. */
  withFields(fields: Record<string, unknown>): ReliableMessage {
    return new ReliableMessage({ ...this.dict, ...fields }, this.sender, this.receiver, this.group);
  }

  toJSON(): Record<string, unknown> {
    return this.dict;
  }
}

/** Parse a reliable message from JSON text or a parsed object. Throws BAD_JSON / BAD_MESSAGE / FIELD_TOO_LARGE. */
export function parseReliableMessage(
  input: unknown,
  limits: MessageLimits = DEFAULT_MESSAGE_LIMITS,
): ReliableMessage {
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_JSON_DEPTH;
  let value: unknown = input;
  if (typeof input === 'string') {
    value = parseBoundedJson(input, maxDepth);
  } else if (valueDepthExceeds(input, maxDepth)) {
    throw new ProtocolError('NESTING_TOO_DEEP', `message nested deeper than ${maxDepth} levels`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtocolError('BAD_MESSAGE', 'message is not a JSON object');
  }
  const dict = expandMessageKeys(value as Record<string, unknown>);
  for (const field of ID_FIELDS) {
    const id = dict[field];
    if (typeof id === 'string' && id.length > MAX_ID_LENGTH)
      throw new ProtocolError('FIELD_TOO_LARGE', `\`${field}\` too long`);
  }
  let sender: ID;
  try {
    sender = parseId(dict['sender']);
  } catch (cause) {
    throw new ProtocolError('BAD_MESSAGE', 'message without a valid sender', { cause });
  }
  // A missing or invalid receiver means "anyone" (core-py Envelope).
  const receiver = tryParseId(dict['receiver']) ?? ANYONE;
  const groupValue = dict['group'];
  const group =
    groupValue === undefined || groupValue === null || groupValue === '' ? undefined : tryParseId(groupValue);
  if (groupValue !== undefined && groupValue !== null && groupValue !== '' && group === undefined) {
    throw new ProtocolError('BAD_MESSAGE', 'invalid group ID');
  }
  const data = dict['data'];
  if (typeof data !== 'string' || data.length === 0)
    throw new ProtocolError('BAD_MESSAGE', 'message without data');
  if (data.length > limits.maxDataLength) throw new ProtocolError('FIELD_TOO_LARGE', 'message data too long');
  const signature = dict['signature'];
  if (typeof signature !== 'string' || signature.length === 0) {
    throw new ProtocolError('BAD_MESSAGE', 'message without signature');
  }
  if (signature.length > MAX_SIGNATURE_LENGTH)
    throw new ProtocolError('FIELD_TOO_LARGE', 'signature too long');
  const key = dict['key'];
  if (key !== undefined && (typeof key !== 'string' || key.length > MAX_KEY_LENGTH)) {
    throw new ProtocolError(typeof key === 'string' ? 'FIELD_TOO_LARGE' : 'BAD_MESSAGE', 'bad `key` field');
  }
  const keys = dict['keys'];
  if (keys !== undefined) {
    if (keys === null || typeof keys !== 'object' || Array.isArray(keys)) {
      throw new ProtocolError('BAD_MESSAGE', '`keys` is not a map');
    }
    const entries = Object.keys(keys);
    if (entries.length > limits.maxKeys)
      throw new ProtocolError('FIELD_TOO_LARGE', 'too many `keys` entries');
  }
  const source = typeof input === 'string' && dict === value ? input : undefined;
  return new ReliableMessage(dict, sender, receiver, group, source);
}

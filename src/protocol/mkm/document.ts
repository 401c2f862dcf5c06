/**
 * Documents (TAI): visas (users), bulletins (groups), profiles. The signature covers the exact UTF-8
 * bytes of the `data` string, which is therefore kept verbatim and never re-serialized. The `did` / `ID`
 * / `type` / `terminal` fields sit outside the signature; binding comes from verifying with the meta key
 * of the claimed ID.
 */
import { parseBoundedJson } from '../bounded-json.ts';
import { identitySignatures } from '../crypto/signature-cache.ts';
import { ProtocolError } from '../protocol-error.ts';
import type { PrivateKey, PublicKey } from '../crypto/asymmetric-key.ts';
import { base64Encode, decodeTed, utf8Encode } from '../crypto/encoding.ts';
import { parsePublicKey } from '../crypto/keys.ts';
import { parseId } from './identifier.ts';
import type { ID } from './identifier.ts';

export type DocumentType = 'visa' | 'bulletin' | 'profile';

/** Longest `data` text accepted (avatars travel as URLs; data URIs with thumbnails stay well below). */
export const MAX_DOCUMENT_DATA_LENGTH = 64 * 1024;
/** A document whose time is further in the future than this is rejected (dimples: 30 min). */
export const MAX_FUTURE_SKEW_SECONDS = 30 * 60;

export class Document {
  readonly type: DocumentType;
  /** The ID as written in the document (`did`, or legacy `ID`), possibly with a terminal. */
  readonly id: ID;
  readonly data: string;
  readonly signature: Uint8Array;
  readonly dict: Readonly<Record<string, unknown>>;
  #properties: Record<string, unknown> | undefined;

  constructor(
    type: DocumentType,
    id: ID,
    data: string,
    signature: Uint8Array,
    dict: Record<string, unknown>,
  ) {
    this.type = type;
    this.id = id;
    this.data = data;
    this.signature = signature;
    this.dict = dict;
  }

  /** The parsed `data` properties ({} when `data` is not a JSON object). */
  get properties(): Readonly<Record<string, unknown>> {
    if (this.#properties === undefined) {
      let parsed: unknown;
      try {
        parsed = parseBoundedJson(this.data);
      } catch {
        parsed = undefined;
      }
      this.#properties =
        parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
          ? (parsed as Record<string, unknown>)
          : {};
    }
    return this.#properties;
  }

  /** Document time (seconds), the version used for "newer than" decisions; 0 when absent. */
  get time(): number {
    const time = this.properties['time'];
    return typeof time === 'number' && Number.isFinite(time) ? time : 0;
  }

  /** The device this visa belongs to: outer `terminal`, else the ID's terminal, else legacy inner `terminal`. */
  get terminal(): string | undefined {
    const outer = this.dict['terminal'];
    if (typeof outer === 'string' && outer.length > 0) return outer;
    if (this.id.terminal !== undefined) return this.id.terminal;
    const inner = this.properties['terminal'];
    return typeof inner === 'string' && inner.length > 0 ? inner : undefined;
  }

  /** The visa's encryption key (`key` property), if it parses. */
  get visaKey(): PublicKey | undefined {
    const key = this.properties['key'];
    if (key === undefined) return undefined;
    try {
      return parsePublicKey(key);
    } catch {
      return undefined;
    }
  }

  verify(metaKey: PublicKey): boolean {
    return identitySignatures.verify(metaKey, utf8Encode(this.data), this.signature);
  }

  /** Compatible wire form: both `did` and `ID`, explicit `type`, the verbatim `data` and signature. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { ...this.dict };
    out['type'] = this.type;
    out['did'] = this.id.string;
    out['ID'] = this.id.string;
    return out;
  }
}

/** Infer the document type from the ID when `type` is absent (user → visa, group → bulletin). */
export function inferDocumentType(id: ID): DocumentType {
  if (id.isUser) return 'visa';
  if (id.isGroup) return 'bulletin';
  return 'profile';
}

/** `type` if it names a known document type, else inferred from the ID (as the SDK factories do). */
function documentType(value: unknown, id: ID): DocumentType {
  return value === 'visa' || value === 'bulletin' || value === 'profile' ? value : inferDocumentType(id);
}

/** Parse a document dictionary. Throws BAD_DOCUMENT (does not verify: call verify() with the meta key). */
export function parseDocument(value: unknown): Document {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtocolError('BAD_DOCUMENT', 'document is not a dictionary');
  }
  const dict = value as Record<string, unknown>;
  let id: ID;
  try {
    id = parseId(dict['did'] ?? dict['ID']);
  } catch (cause) {
    throw new ProtocolError('BAD_DOCUMENT', 'document without a valid ID', { cause });
  }
  const data = dict['data'];
  const signature = dict['signature'];
  if (typeof data !== 'string' || data.length === 0)
    throw new ProtocolError('BAD_DOCUMENT', 'document without data');
  if (data.length > MAX_DOCUMENT_DATA_LENGTH)
    throw new ProtocolError('FIELD_TOO_LARGE', 'document data too long');
  if (typeof signature !== 'string' || signature.length === 0) {
    throw new ProtocolError('BAD_DOCUMENT', 'document without signature');
  }
  let signatureBytes: Uint8Array;
  try {
    signatureBytes = decodeTed(signature);
  } catch (cause) {
    throw new ProtocolError('BAD_DOCUMENT', 'document signature is not decodable', { cause });
  }
  return new Document(documentType(dict['type'], id), id, data, signatureBytes, dict);
}

/** Create and sign a document with the meta private key; `time` is set to `now` (seconds). */
export function signDocument(
  type: DocumentType,
  id: ID,
  properties: Record<string, unknown>,
  metaPrivateKey: PrivateKey,
  now: number,
  terminal?: string,
): Document {
  const props = { type, ...properties, time: now };
  const data = JSON.stringify(props);
  const signature = metaPrivateKey.sign(utf8Encode(data));
  const dict: Record<string, unknown> = {
    type,
    did: id.string,
    ID: id.string,
    data,
    signature: base64Encode(signature),
  };
  if (terminal !== undefined) dict['terminal'] = terminal;
  return new Document(type, id, data, signature, dict);
}

/**
 * The sender pipeline (content → encrypt → sign → reliable message) and the receiver pipeline
 * (reliable message → verify → decrypt → content), as in dimp-protocol.md §5.3–§5.4.
 */
import { parseBoundedJson } from '../bounded-json.ts';
import { ProtocolError } from '../protocol-error.ts';
import type { PrivateKey, PublicKey } from '../crypto/asymmetric-key.ts';
import { base64Encode, utf8Decode, utf8Encode } from '../crypto/encoding.ts';
import { AesKey, PLAIN_KEY, serializeSymmetricKey, symmetricKeyFromDict } from '../crypto/symmetric-key.ts';
import type { SymmetricKey } from '../crypto/symmetric-key.ts';
import type { ID } from '../mkm/identifier.ts';
import { compatContent, parseContent } from './content.ts';
import type { Content } from './content.ts';
import { parseContentType } from './content-type.ts';
import { ReliableMessage } from './reliable-message.ts';
import { expandSymmetricKeyKeys } from './short-keys.ts';

/** An encryption key of the receiver: the visa key of one terminal, or the bare ID's key. */
export interface ReceiverKey {
  readonly key: PublicKey;
  /** The visa's terminal; undefined for the wildcard entry keyed by the bare ID. */
  readonly terminal?: string | undefined;
}

export interface PackOptions {
  readonly sender: ID;
  readonly receiver: ID;
  readonly group?: ID | undefined;
  /** Content dictionary; written in the compatible form. */
  readonly content: Record<string, unknown>;
  /** Message time in seconds. */
  readonly time: number;
  readonly signer: PrivateKey;
  /** Required unless the message is broadcast. */
  readonly receiverKeys?: readonly ReceiverKey[];
  /** Reuse a symmetric key (direction cache); a fresh AES-256 key otherwise. */
  readonly symmetricKey?: SymmetricKey;
  /** Reuse a key already encrypted for this receiver (`sealSymmetricKey`); overrides `symmetricKey`. */
  readonly sealedKey?: SealedKey;
  /** Extra top-level fields (e.g. `meta`, `visa` attachments). */
  readonly attachments?: Record<string, unknown>;
}

/** A symmetric key with its `keys` entries, encrypted once for a receiver and reusable for it. */
export interface SealedKey {
  readonly key: SymmetricKey;
  /** The message's `keys` map: bare receiver ID (and `ID/terminal`) → base64 of the encrypted key. */
  readonly keys: Readonly<Record<string, string>>;
}

/**
 * Encrypt `key` for every receiver key: the `keys` map keyed by the bare receiver ID (the first
 * wildcard-capable key) plus `ID/terminal` entries for terminal keys.
 */
export function sealSymmetricKey(
  receiver: ID,
  receiverKeys: readonly ReceiverKey[],
  key: SymmetricKey,
): SealedKey {
  if (receiverKeys.length === 0)
    throw new ProtocolError('NO_KEY_FOR_RECEIVER', 'no encryption key for the receiver');
  const serializedKey = serializeSymmetricKey(key);
  const naked = receiver.naked().string;
  const keys: Record<string, string> = {};
  for (const { key: publicKey, terminal } of receiverKeys) {
    const entry = terminal === undefined ? naked : `${naked}/${terminal}`;
    if (!(entry in keys)) keys[entry] = base64Encode(publicKey.encrypt(serializedKey));
  }
  // Every reader (2.x: keys[receiver]; 2026: the wildcard entry) needs the bare-ID entry.
  if (!(naked in keys)) {
    const first = receiverKeys[0] as ReceiverKey;
    keys[naked] = base64Encode(first.key.encrypt(serializedKey));
  }
  return { key, keys };
}

function isBroadcastEnvelope(receiver: ID, group: ID | undefined): boolean {
  return receiver.isBroadcast || (group !== undefined && group.isBroadcast);
}

/**
 * Encrypt and sign a content into a reliable message. Output form: integer `type`, `keys` map keyed by
 * the bare receiver ID (the first wildcard-capable key) plus `ID/terminal` entries for terminal keys,
 * top-level `IV`, long field names.
 */
export function packMessage(options: PackOptions): ReliableMessage {
  const { sender, receiver, group, time, signer } = options;
  const content = compatContent(options.content);
  const type = parseContentType(content['type']);
  const plaintext = utf8Encode(JSON.stringify(content));
  const dict: Record<string, unknown> = { sender: sender.string, receiver: receiver.string, time };
  if (group !== undefined) dict['group'] = group.string;
  if (type !== undefined) dict['type'] = type;
  let signed: Uint8Array;
  if (isBroadcastEnvelope(receiver, group)) {
    dict['data'] = utf8Decode(plaintext);
    signed = plaintext;
  } else {
    const sealed =
      options.sealedKey ??
      sealSymmetricKey(receiver, options.receiverKeys ?? [], options.symmetricKey ?? AesKey.generate());
    const { ciphertext, iv } = sealed.key.encrypt(plaintext);
    dict['data'] = base64Encode(ciphertext);
    dict['keys'] = { ...sealed.keys };
    if (iv !== undefined) dict['IV'] = base64Encode(iv);
    signed = ciphertext;
  }
  dict['signature'] = base64Encode(signer.sign(signed));
  if (options.attachments) Object.assign(dict, options.attachments);
  return new ReliableMessage(dict, sender, receiver, group);
}

/** Verify the message signature against any of the candidate keys (visa keys first, then the meta key). */
export function verifyMessage(message: ReliableMessage, candidates: readonly PublicKey[]): boolean {
  let signature: Uint8Array;
  let data: Uint8Array;
  try {
    signature = message.signature;
    data = message.dataBytes;
  } catch {
    return false;
  }
  // An ECDSA DER signature (≤ 72 bytes, SEQUENCE) cannot be an RSA one (modulus-sized): try the
  // matching algorithm first, so that a failed RSA attempt does not precede every ECC verification.
  const looksEcdsa = signature.length <= 72 && signature[0] === 0x30;
  for (const key of candidates) {
    if ((key.algorithm === 'ECC') === looksEcdsa && key.verify(data, signature)) return true;
  }
  for (const key of candidates) {
    if ((key.algorithm === 'ECC') !== looksEcdsa && key.verify(data, signature)) return true;
  }
  return false;
}

export interface OpenOptions {
  /** Private keys that may decrypt the message key (visa keys, then the meta key if it can decrypt). */
  readonly privateKeys: readonly PrivateKey[];
  /** Terminals of the receiver's visas, for `keys["ID/terminal"]` lookups. */
  readonly terminals?: readonly string[];
  /** The cached key for this direction, used when the message carries no key material. */
  readonly cachedKey?: SymmetricKey | undefined;
}

export interface OpenedMessage {
  readonly content: Content;
  /** The symmetric key used (to cache for the direction sender → receiver). */
  readonly key: SymmetricKey;
}

/**
 * Parse decrypted key bytes (UTF-8 JSON of a key dictionary, short keys `A`/`D`/`I` expanded). Anything
 * else is rejected: with RSA implicit rejection a wrong private key yields random bytes.
 */
function decodeSymmetricKey(bytes: Uint8Array): SymmetricKey {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8Decode(bytes));
  } catch (cause) {
    throw new ProtocolError('BAD_SYMMETRIC_KEY', 'decrypted key is not JSON', { cause });
  }
  if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
    parsed = expandSymmetricKeyKeys(parsed as Record<string, unknown>);
  }
  return symmetricKeyFromDict(parsed);
}

function decodeContent(bytes: Uint8Array): Content {
  let parsed: unknown;
  try {
    parsed = parseBoundedJson(utf8Decode(bytes));
  } catch (cause) {
    throw new ProtocolError('BAD_CONTENT', 'content is not JSON (or nested too deep)', { cause });
  }
  return parseContent(parsed);
}

/**
 * Decrypt a message addressed to us (call verifyMessage first). Tries every key candidate with every
 * private key and accepts the first symmetric key that parses *and* decrypts the data into a content:
 * RSA implicit rejection makes a wrong private key return garbage rather than fail.
 */
export function openMessage(message: ReliableMessage, options: OpenOptions): OpenedMessage {
  if (message.isBroadcast) return { content: decodeContent(utf8Encode(message.data)), key: PLAIN_KEY };
  const ciphertext = message.dataBytes;
  const iv = message.iv;
  const candidates = message.encryptedKeysFor(message.receiver, options.terminals);
  let lastError: unknown;
  for (const encrypted of candidates) {
    for (const privateKey of options.privateKeys) {
      if (!privateKey.canDecrypt) continue;
      try {
        const key = decodeSymmetricKey(privateKey.decrypt(encrypted));
        return { content: decodeContent(key.decrypt(ciphertext, iv)), key };
      } catch (err) {
        lastError = err;
      }
    }
  }
  if (candidates.length === 0 && options.cachedKey) {
    return { content: decodeContent(options.cachedKey.decrypt(ciphertext, iv)), key: options.cachedKey };
  }
  if (candidates.length === 0)
    throw new ProtocolError('NO_KEY_FOR_RECEIVER', 'no key material and no cached key');
  throw new ProtocolError('DECRYPT_FAILED', 'no private key decrypts this message', { cause: lastError });
}

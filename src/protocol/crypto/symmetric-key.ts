/**
 * Symmetric message keys: AES-CBC with PKCS#7 padding (256-bit in every current client) and PLAIN
 * (broadcast messages). Decrypted key material is accepted only when it parses as a key dictionary.
 *
 * IV rules (dimp-protocol.md §3.4): when decrypting, the message's top-level `IV`, else its `iv`, else the
 * key dictionary's legacy `iv`/`IV`, else 16 zero bytes. When encrypting, a fresh random IV is returned for
 * the caller to put at the message's top level.
 */
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ProtocolError } from '../protocol-error.ts';
import { base64Decode, base64Encode, utf8Decode, utf8Encode } from './encoding.ts';
import { md5 } from './digest.ts';
import { canonicalAlgorithm } from './key-dict.ts';
import { randomBytes } from './random-pool.ts';
import type { KeyDict } from './key-dict.ts';

export interface SymmetricKey {
  readonly algorithm: 'AES' | 'PLAIN';
  readonly dict: KeyDict;
  /** Encrypt; returns the IV the ciphertext needs (undefined for PLAIN). */
  encrypt(plaintext: Uint8Array): { ciphertext: Uint8Array; iv: Uint8Array | undefined };
  /** Decrypt; `iv` is the message-level IV if the message carried one. Throws DECRYPT_FAILED. */
  decrypt(ciphertext: Uint8Array, iv?: Uint8Array): Uint8Array;
}

const ZERO_IV = new Uint8Array(16);

export class AesKey implements SymmetricKey {
  readonly algorithm = 'AES' as const;
  readonly dict: KeyDict;
  readonly #key: Uint8Array;
  readonly #legacyIv: Uint8Array | undefined;
  /** Node 24's createCipheriv takes ~35 µs longer with raw key bytes than with a KeyObject. */
  #keyObject: KeyObject | undefined;

  constructor(key: Uint8Array, dict?: KeyDict, legacyIv?: Uint8Array) {
    if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
      throw new ProtocolError('BAD_SYMMETRIC_KEY', `AES key of ${key.length} bytes`);
    }
    this.#key = key;
    this.#legacyIv = legacyIv;
    this.dict = dict ?? { algorithm: 'AES', data: base64Encode(key) };
  }

  static generate(): AesKey {
    return new AesKey(randomBytes(32));
  }

  get cipherName(): string {
    return `aes-${this.#key.length * 8}-cbc`;
  }

  encrypt(plaintext: Uint8Array): { ciphertext: Uint8Array; iv: Uint8Array } {
    const iv = randomBytes(16);
    const cipher = createCipheriv(this.cipherName, this.#secret(), iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { ciphertext: new Uint8Array(ciphertext), iv };
  }

  decrypt(ciphertext: Uint8Array, iv?: Uint8Array): Uint8Array {
    const effectiveIv = iv ?? this.#legacyIv ?? ZERO_IV;
    if (effectiveIv.length !== 16) throw new ProtocolError('DECRYPT_FAILED', 'IV is not 16 bytes');
    if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) {
      throw new ProtocolError('DECRYPT_FAILED', 'ciphertext is not a whole number of AES blocks');
    }
    try {
      const decipher = createDecipheriv(this.cipherName, this.#secret(), effectiveIv);
      return new Uint8Array(Buffer.concat([decipher.update(ciphertext), decipher.final()]));
    } catch (cause) {
      throw new ProtocolError('DECRYPT_FAILED', 'AES decryption failed (bad padding)', { cause });
    }
  }

  #secret(): KeyObject {
    this.#keyObject ??= createSecretKey(this.#key);
    return this.#keyObject;
  }

  /** Key digest used for key-reuse signalling: base64 of the first 6 bytes of MD5(key data). */
  digest(): string {
    return base64Encode(md5(this.#key).subarray(0, 6));
  }
}

export class PlainKey implements SymmetricKey {
  readonly algorithm = 'PLAIN' as const;
  readonly dict: KeyDict = { algorithm: 'PLAIN' };

  encrypt(plaintext: Uint8Array): { ciphertext: Uint8Array; iv: undefined } {
    return { ciphertext: plaintext, iv: undefined };
  }

  decrypt(ciphertext: Uint8Array): Uint8Array {
    return ciphertext;
  }
}

export const PLAIN_KEY = new PlainKey();

function optionalBase64(value: unknown): Uint8Array | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  return base64Decode(value);
}

/** Build a symmetric key from a dictionary (already JSON-parsed). */
export function symmetricKeyFromDict(value: unknown): SymmetricKey {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtocolError('BAD_SYMMETRIC_KEY', 'symmetric key is not a dictionary');
  }
  const dict = value as KeyDict;
  const name = typeof dict.algorithm === 'string' ? dict.algorithm : '';
  const algorithm = canonicalAlgorithm(name);
  if (algorithm === 'PLAIN') return PLAIN_KEY;
  if (algorithm !== 'AES') {
    throw new ProtocolError('BAD_SYMMETRIC_KEY', `unsupported symmetric key "${name}"`);
  }
  let legacyIv: Uint8Array | undefined;
  try {
    legacyIv = optionalBase64(dict['iv']) ?? optionalBase64(dict['IV']);
  } catch (cause) {
    throw new ProtocolError('BAD_SYMMETRIC_KEY', 'bad legacy IV in key', { cause });
  }
  if (typeof dict.data === 'string') {
    let raw: Uint8Array;
    try {
      raw = base64Decode(dict.data);
    } catch (cause) {
      throw new ProtocolError('BAD_SYMMETRIC_KEY', 'AES key data is not base64', { cause });
    }
    return new AesKey(raw, dict, legacyIv);
  }
  if (typeof dict['passphrase'] === 'string') {
    // 2018-era key (vector V5): the passphrase right-padded with zero bytes to keySize (default 32).
    const size = typeof dict['keySize'] === 'number' ? dict['keySize'] : 32;
    // Validate before allocating: the dict comes from decrypted (attacker-chosen) bytes.
    if (size !== 16 && size !== 24 && size !== 32) {
      throw new ProtocolError('BAD_SYMMETRIC_KEY', `bad AES keySize ${String(size)}`);
    }
    const pass = utf8Encode(dict['passphrase']);
    if (pass.length > size) throw new ProtocolError('BAD_SYMMETRIC_KEY', 'passphrase longer than the key');
    const raw = new Uint8Array(size);
    raw.set(pass);
    // Carry the derived key as `data` so that serializeSymmetricKey keeps the key material.
    return new AesKey(raw, { ...dict, data: base64Encode(raw) }, legacyIv);
  }
  throw new ProtocolError('BAD_SYMMETRIC_KEY', 'AES key without data');
}

/**
 * Parse decrypted key bytes. Because RSA PKCS#1 v1.5 decryption with implicit rejection returns random
 * bytes for a wrong key, the bytes are accepted only if they are UTF-8 JSON of a known key dictionary.
 */
export function symmetricKeyFromBytes(bytes: Uint8Array): SymmetricKey {
  let text: string;
  let parsed: unknown;
  try {
    text = utf8Decode(bytes);
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new ProtocolError('BAD_SYMMETRIC_KEY', 'decrypted key is not JSON', { cause });
  }
  return symmetricKeyFromDict(parsed);
}

/** Serialize a key for RSA encryption: only `algorithm` and `data` (RSA-1024 fits 117 bytes). */
export function serializeSymmetricKey(key: SymmetricKey): Uint8Array {
  const { algorithm, data } = key.dict;
  return utf8Encode(JSON.stringify(data === undefined ? { algorithm } : { algorithm, data }));
}

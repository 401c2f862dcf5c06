/**
 * secp256k1 keys as DIM uses them: DER signatures over SHA-256, high-S accepted on verify (no DIM client
 * normalizes S), low-S produced on sign. Public keys arrive as hex (65/64/33 bytes) or PEM (SPKI under
 * `PUBLIC KEY` or `EC PUBLIC KEY`, curve OID ignored: the point is the tail of the BIT STRING).
 *
 * Signing and verifying run on libsecp256k1 (native when its addon loads, else WebAssembly:
 * secp256k1-backend.ts), several times faster than OpenSSL (bench/RESULTS.md). A signature that is not
 * strict DER is handed to OpenSSL instead, so what verifies is exactly what OpenSSL accepts.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ProtocolError } from '../protocol-error.ts';
import type { PrivateKey, PublicKey } from './asymmetric-key.ts';
import { compactToDer, derToCompact } from './ecdsa-der.ts';
import { hexDecode, hexEncode } from './encoding.ts';
import type { KeyDict } from './key-dict.ts';
import { encodePem, findPemBlock, parsePemBlocks } from './pem.ts';
import { signDigest, verifyDigest } from './secp256k1-backend.ts';

const CURVE_ORDER = secp256k1.Point.CURVE().n;

/** SPKI DER prefix for an uncompressed secp256k1 point (id-ecPublicKey, secp256k1, BIT STRING of 66). */
const SPKI_PREFIX = hexDecode('3056301006072a8648ce3d020106052b8104000a034200');

function pointFromBytes(bytes: Uint8Array): Uint8Array {
  try {
    return secp256k1.Point.fromBytes(bytes).toBytes(false);
  } catch (cause) {
    throw new ProtocolError('BAD_KEY', 'not a secp256k1 point', { cause });
  }
}

/** Parse an ECC public key `data` string into the 65-byte uncompressed point. */
export function parseEccPublicData(data: string): Uint8Array {
  const trimmed = data.trim();
  if (/^(?:0x)?[0-9a-fA-F]+$/.test(trimmed)) {
    const raw = hexDecode(trimmed);
    if (raw.length === 65 || raw.length === 33) return pointFromBytes(raw);
    if (raw.length === 64) return pointFromBytes(Uint8Array.of(4, ...raw));
    throw new ProtocolError('BAD_KEY', `ECC hex key of ${raw.length} bytes`);
  }
  const block = findPemBlock(trimmed, (label) => label.includes('PUBLIC KEY'));
  const der = block.der;
  if (der.length >= 65 && der[der.length - 65] === 0x04) return pointFromBytes(der.subarray(der.length - 65));
  if (der.length >= 33) {
    const lead = der[der.length - 33];
    if (lead === 0x02 || lead === 0x03) return pointFromBytes(der.subarray(der.length - 33));
  }
  throw new ProtocolError('BAD_KEY', 'no secp256k1 point in the ECC PEM');
}

/** Whether a DER signature is high-S (for tests, benchmarks and statistics). */
export function isHighS(der: Uint8Array): boolean {
  try {
    const sig = secp256k1.Signature.fromBytes(der, 'der');
    return sig.hasHighS();
  } catch {
    return false;
  }
}

/** ECDSA verification through OpenSSL (node:crypto). Accepts high-S. */
export function ecdsaVerifyNode(keyObject: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return nodeVerify('sha256', message, { key: keyObject, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

/** ECDSA verification through libsecp256k1 of a compact `r ‖ s` signature, high-S accepted. */
export function ecdsaVerifyCompact(point: Uint8Array, message: Uint8Array, compact: Uint8Array): boolean {
  return verifyDigest(sha256(message), point, compact);
}

/** ECDSA signing through OpenSSL, normalized to low-S; DER (the previous production signer, for benchmarks). */
export function ecdsaSignNode(keyObject: KeyObject, message: Uint8Array): Uint8Array {
  const der = nodeSign('sha256', message, { key: keyObject, dsaEncoding: 'der' });
  const signature = secp256k1.Signature.fromBytes(der, 'der');
  if (!signature.hasHighS()) return new Uint8Array(der);
  return new secp256k1.Signature(signature.r, CURVE_ORDER - signature.s).toBytes('der');
}

function sha256(message: Uint8Array): Uint8Array {
  return createHash('sha256').update(message).digest();
}

/** ECDSA verification through noble, high-S accepted. */
export function ecdsaVerifyNoble(point: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return secp256k1.verify(signature, message, point, { format: 'der', lowS: false });
  } catch {
    return false;
  }
}

export class EccPublicKey implements PublicKey {
  readonly algorithm = 'ECC' as const;
  readonly dict: KeyDict;
  readonly point: Uint8Array;
  readonly data: Uint8Array;
  readonly canEncrypt = false;
  #keyObject: KeyObject | undefined;

  constructor(point: Uint8Array, dict?: KeyDict) {
    this.point = point;
    this.dict = dict ?? {
      algorithm: 'ECC',
      data: encodePem('PUBLIC KEY', spkiOf(point)),
      curve: 'secp256k1',
      digest: 'SHA256',
    };
    this.data = this.dict['compressed'] === true ? secp256k1.Point.fromBytes(point).toBytes(true) : point;
  }

  static fromDict(dict: KeyDict): EccPublicKey {
    if (typeof dict.data !== 'string') throw new ProtocolError('BAD_KEY', 'ECC key without data');
    return new EccPublicKey(parseEccPublicData(dict.data), dict);
  }

  get keyObject(): KeyObject {
    this.#keyObject ??= createPublicKey({
      key: Buffer.from(spkiOf(this.point)),
      format: 'der',
      type: 'spki',
    });
    return this.#keyObject;
  }

  verify(message: Uint8Array, signature: Uint8Array): boolean {
    const compact = derToCompact(signature);
    if (compact === undefined) return ecdsaVerifyNode(this.keyObject, message, signature);
    return ecdsaVerifyCompact(this.point, message, compact);
  }

  encrypt(): Uint8Array {
    throw new ProtocolError('KEY_CANNOT_ENCRYPT', 'ECC keys cannot encrypt');
  }

  equals(other: PublicKey): boolean {
    return other instanceof EccPublicKey && Buffer.compare(other.point, this.point) === 0;
  }
}

function spkiOf(point: Uint8Array): Uint8Array {
  const out = new Uint8Array(SPKI_PREFIX.length + point.length);
  out.set(SPKI_PREFIX, 0);
  out.set(point, SPKI_PREFIX.length);
  return out;
}

/** Parse an ECC private key `data`: 64 hex chars (raw scalar), PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`. */
export function parseEccPrivateData(data: string): Uint8Array {
  const trimmed = data.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return checkScalar(hexDecode(trimmed));
  const block = parsePemBlocks(trimmed).find((b) => b.label === '' || b.label.includes('PRIVATE KEY'));
  if (!block) throw new ProtocolError('BAD_PEM', 'no private key block');
  const attempts: Array<'pkcs8' | 'sec1'> =
    block.label === 'EC PRIVATE KEY' ? ['sec1', 'pkcs8'] : ['pkcs8', 'sec1'];
  for (const type of attempts) {
    try {
      const key = createPrivateKey({ key: Buffer.from(block.der), format: 'der', type });
      const jwk = key.export({ format: 'jwk' });
      if (jwk.crv !== 'secp256k1' || typeof jwk.d !== 'string') continue;
      return checkScalar(new Uint8Array(Buffer.from(jwk.d, 'base64url')));
    } catch {
      // try the next container type
    }
  }
  throw new ProtocolError('BAD_KEY', 'not a secp256k1 private key');
}

function checkScalar(scalar: Uint8Array): Uint8Array {
  if (!secp256k1.utils.isValidSecretKey(scalar))
    throw new ProtocolError('BAD_KEY', 'invalid secp256k1 scalar');
  return scalar;
}

export class EccPrivateKey implements PrivateKey {
  readonly algorithm = 'ECC' as const;
  readonly publicKey: EccPublicKey;
  readonly canDecrypt = false;
  readonly #scalar: Uint8Array;
  #keyObject: KeyObject | undefined;

  constructor(scalar: Uint8Array) {
    this.#scalar = checkScalar(scalar);
    const point = secp256k1.getPublicKey(this.#scalar, false);
    this.publicKey = new EccPublicKey(point);
  }

  /** The key as an OpenSSL KeyObject (created on first use; production signing does not need it). */
  get keyObject(): KeyObject {
    const point = this.publicKey.point;
    const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
    this.#keyObject ??= createPrivateKey({
      key: {
        kty: 'EC',
        crv: 'secp256k1',
        d: b64(this.#scalar),
        x: b64(point.subarray(1, 33)),
        y: b64(point.subarray(33)),
      },
      format: 'jwk',
    });
    return this.#keyObject;
  }

  static generate(): EccPrivateKey {
    return new EccPrivateKey(secp256k1.utils.randomSecretKey());
  }

  static fromDict(dict: KeyDict): EccPrivateKey {
    if (typeof dict.data !== 'string') throw new ProtocolError('BAD_KEY', 'ECC key without data');
    return new EccPrivateKey(parseEccPrivateData(dict.data));
  }

  /**
   * ECDSA over SHA-256 through libsecp256k1 (RFC 6979 nonces; low-S, so strict verifiers such as noble's
   * default accept it too); DER.
   */
  sign(message: Uint8Array): Uint8Array {
    return compactToDer(signDigest(sha256(message), this.#scalar));
  }

  decrypt(): Uint8Array {
    throw new ProtocolError('KEY_CANNOT_ENCRYPT', 'ECC keys cannot decrypt');
  }

  toDict(): KeyDict {
    return { algorithm: 'ECC', data: hexEncode(this.#scalar), curve: 'secp256k1', digest: 'SHA256' };
  }
}

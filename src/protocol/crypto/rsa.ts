/**
 * RSA as DIM uses it: RSASSA-PKCS1-v1_5/SHA-256 signatures and RSAES-PKCS1-v1_5 encryption of short
 * symmetric-key JSON. Keys are parsed once into node:crypto KeyObjects. Public PEMs may carry an SPKI or a
 * PKCS#1 body under either label; private PEMs are PKCS#1 or PKCS#8.
 *
 * Decryption relies on Node 24's OpenSSL, which implements PKCS#1 v1.5 with implicit rejection: a wrong
 * key yields pseudo-random bytes, not an error, so callers validate what they get (see symmetric-key.ts).
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  sign as nodeSign,
  verify as nodeVerify,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ProtocolError } from '../protocol-error.ts';
import type { PrivateKey, PublicKey } from './asymmetric-key.ts';
import type { KeyDict } from './key-dict.ts';
import { parsePemBlocks } from './pem.ts';

const PADDING = constants.RSA_PKCS1_PADDING;
// Signatures pass the KeyObject itself: PKCS#1 v1.5 is OpenSSL's default for RSA signing, and Node 24 takes
// ~40 µs to tell an options object from a KeyObject (bench/RESULTS.md). Encryption needs the options.

/** Largest modulus accepted (bits) and largest public exponent: bounds the cost of a verify. */
export const MAX_RSA_BITS = 4096;
const MAX_RSA_EXPONENT = 0xffffffffn;

function checkRsaBounds(key: KeyObject): KeyObject {
  const details = key.asymmetricKeyDetails;
  const bits = details?.modulusLength ?? 0;
  const exponent = details?.publicExponent ?? 0n;
  if (bits < 512 || bits > MAX_RSA_BITS || exponent < 3n || exponent > MAX_RSA_EXPONENT) {
    throw new ProtocolError('BAD_KEY', `RSA key outside accepted bounds (${bits} bits)`);
  }
  return key;
}

function loadPublicDer(der: Uint8Array, preferPkcs1: boolean): KeyObject {
  const order: Array<'spki' | 'pkcs1'> = preferPkcs1 ? ['pkcs1', 'spki'] : ['spki', 'pkcs1'];
  for (const type of order) {
    try {
      const key = createPublicKey({ key: Buffer.from(der), format: 'der', type });
      if (key.asymmetricKeyType === 'rsa') return checkRsaBounds(key);
    } catch {
      // try the other container
    }
  }
  throw new ProtocolError('BAD_KEY', 'not an RSA public key');
}

export class RsaPublicKey implements PublicKey {
  readonly algorithm = 'RSA' as const;
  readonly dict: KeyDict;
  readonly keyObject: KeyObject;
  readonly canEncrypt = true;
  #data: Uint8Array | undefined;

  constructor(keyObject: KeyObject, dict?: KeyDict) {
    this.keyObject = keyObject;
    this.dict = dict ?? {
      algorithm: 'RSA',
      data: keyObject.export({ format: 'pem', type: 'spki' }).toString().trim(),
      mode: 'ECB',
      padding: 'PKCS1',
      digest: 'SHA256',
    };
  }

  static fromDict(dict: KeyDict): RsaPublicKey {
    if (typeof dict.data !== 'string') throw new ProtocolError('BAD_KEY', 'RSA key without data');
    const block = parsePemBlocks(dict.data).find((b) => b.label === '' || b.label.includes('PUBLIC KEY'));
    if (!block) throw new ProtocolError('BAD_KEY', 'no RSA public key block');
    return new RsaPublicKey(loadPublicDer(block.der, block.label === 'RSA PUBLIC KEY'), dict);
  }

  get data(): Uint8Array {
    this.#data ??= new Uint8Array(this.keyObject.export({ format: 'der', type: 'spki' }));
    return this.#data;
  }

  verify(message: Uint8Array, signature: Uint8Array): boolean {
    try {
      return nodeVerify('sha256', message, this.keyObject, signature);
    } catch {
      return false;
    }
  }

  encrypt(plaintext: Uint8Array): Uint8Array {
    try {
      return new Uint8Array(publicEncrypt({ key: this.keyObject, padding: PADDING }, plaintext));
    } catch (cause) {
      throw new ProtocolError('BAD_KEY', 'RSA encryption failed (plaintext too long for the key?)', {
        cause,
      });
    }
  }

  equals(other: PublicKey): boolean {
    return other instanceof RsaPublicKey && this.keyObject.equals(other.keyObject);
  }
}

export class RsaPrivateKey implements PrivateKey {
  readonly algorithm = 'RSA' as const;
  readonly publicKey: RsaPublicKey;
  readonly canDecrypt = true;
  readonly #keyObject: KeyObject;

  constructor(keyObject: KeyObject) {
    if (keyObject.asymmetricKeyType !== 'rsa') throw new ProtocolError('BAD_KEY', 'not an RSA private key');
    this.#keyObject = keyObject;
    this.publicKey = new RsaPublicKey(createPublicKey(keyObject));
  }

  static generate(bits = 1024): RsaPrivateKey {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 65537 });
    return new RsaPrivateKey(privateKey);
  }

  static fromDict(dict: KeyDict): RsaPrivateKey {
    if (typeof dict.data !== 'string') throw new ProtocolError('BAD_KEY', 'RSA key without data');
    // A dictionary may hold the public and the private PEM together: take the private block.
    const blocks = parsePemBlocks(dict.data).filter((b) => b.label === '' || b.label.includes('PRIVATE KEY'));
    for (const block of blocks) {
      const order: Array<'pkcs1' | 'pkcs8'> =
        block.label === 'PRIVATE KEY' ? ['pkcs8', 'pkcs1'] : ['pkcs1', 'pkcs8'];
      for (const type of order) {
        try {
          return new RsaPrivateKey(createPrivateKey({ key: Buffer.from(block.der), format: 'der', type }));
        } catch {
          // try the next container
        }
      }
    }
    throw new ProtocolError('BAD_KEY', 'not an RSA private key');
  }

  sign(message: Uint8Array): Uint8Array {
    return new Uint8Array(nodeSign('sha256', message, this.#keyObject));
  }

  decrypt(ciphertext: Uint8Array): Uint8Array {
    try {
      return new Uint8Array(privateDecrypt({ key: this.#keyObject, padding: PADDING }, ciphertext));
    } catch (cause) {
      throw new ProtocolError('DECRYPT_FAILED', 'RSA decryption failed', { cause });
    }
  }

  toDict(): KeyDict {
    const pem = this.#keyObject.export({ format: 'pem', type: 'pkcs1' }).toString().trim();
    return { algorithm: 'RSA', data: pem, mode: 'ECB', padding: 'PKCS1', digest: 'SHA256' };
  }
}

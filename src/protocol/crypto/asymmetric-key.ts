/** What the protocol needs from public and private keys, whatever the algorithm. */
import type { AsymmetricAlgorithm, KeyDict } from './key-dict.ts';

export interface PublicKey {
  readonly algorithm: AsymmetricAlgorithm;
  /** The wire dictionary this key was parsed from (or that represents it). */
  readonly dict: KeyDict;
  /**
   * The key's binary `data` as BTC/ETH addresses use it: for ECC the 65-byte uncompressed point (33-byte
   * compressed when the dictionary says `compressed: true`); for RSA the SPKI DER.
   */
  readonly data: Uint8Array;
  readonly canEncrypt: boolean;
  /** Verify a signature over `message`; never throws for a malformed signature, returns false. */
  verify(message: Uint8Array, signature: Uint8Array): boolean;
  /** Encrypt a short plaintext (a serialized symmetric key); throws KEY_CANNOT_ENCRYPT for ECC. */
  encrypt(plaintext: Uint8Array): Uint8Array;
  /** Structural equality of the key material. */
  equals(other: PublicKey): boolean;
}

export interface PrivateKey {
  readonly algorithm: AsymmetricAlgorithm;
  readonly publicKey: PublicKey;
  readonly canDecrypt: boolean;
  sign(message: Uint8Array): Uint8Array;
  /** Decrypt; throws DECRYPT_FAILED (callers must still validate the plaintext: see implicit rejection). */
  decrypt(ciphertext: Uint8Array): Uint8Array;
  /** The dictionary to persist the private key in a key file; never logged, never sent. */
  toDict(): KeyDict;
}

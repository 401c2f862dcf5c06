/** Message digests used by DIMP (addresses, signatures, key digests, the WebSocket accept key). */
import { createHash } from 'node:crypto';
import { md5 as nobleMd5, ripemd160 as nobleRipemd160, sha1 as nobleSha1 } from '@noble/hashes/legacy.js';
import { keccak_256 } from '@noble/hashes/sha3.js';

/** SHA-256 via OpenSSL (faster than a JS implementation for the sizes we hash). */
export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** Original Keccak-256 (Ethereum), not NIST SHA3-256. */
export function keccak256(data: Uint8Array): Uint8Array {
  return keccak_256(data);
}

/** RIPEMD-160: noble's is faster than OpenSSL's for the 32-byte inputs addresses hash (bench/RESULTS.md). */
export function ripemd160(data: Uint8Array): Uint8Array {
  return nobleRipemd160(data);
}

export function md5(data: Uint8Array): Uint8Array {
  return nobleMd5(data);
}

export function sha1(data: Uint8Array): Uint8Array {
  return nobleSha1(data);
}

/**
 * The libsecp256k1 that signs and verifies secp256k1 ECDSA: the native build (the `secp256k1` package's
 * N-API addon, a prebuilt binary shipped in the package) when it loads, else the WebAssembly build
 * (tiny-secp256k1). Both are Bitcoin Core's library: RFC 6979 nonces, low-S signatures, identical output
 * for identical input. Native is ~2.7× faster at signing and ~5× at verifying on this project's machines
 * (bench/RESULTS.md); the station signs every receipt and verifies every handshake with it.
 *
 * Both functions take the 32-byte SHA-256 digest and the 64-byte compact `r ‖ s` form. Verification
 * accepts high-S signatures (no DIM client normalizes S): a high-S signature is normalized before the
 * library, which rejects high-S, checks it. Out-of-range r or s do not verify.
 */
import { createRequire } from 'node:module';
import * as wasm from 'tiny-secp256k1';

/** The part of the `secp256k1` package's native API used here. */
interface NativeSecp256k1 {
  ecdsaSign(msg32: Uint8Array, seckey: Uint8Array): { signature: Uint8Array; recid: number };
  ecdsaVerify(sig: Uint8Array, msg32: Uint8Array, pubkey: Uint8Array): boolean;
  signatureNormalize(sig: Uint8Array): Uint8Array;
}

function loadNative(): NativeSecp256k1 | undefined {
  try {
    // `secp256k1/bindings` is the addon only (the package's main falls back to a slow pure-JS build).
    return createRequire(import.meta.url)('secp256k1/bindings') as NativeSecp256k1;
  } catch {
    return undefined;
  }
}

const native = loadNative();

/** Which build is in use ('native' or 'wasm'), for logs and benchmarks. */
export const secp256k1Backend: 'native' | 'wasm' = native === undefined ? 'wasm' : 'native';

/** Low-S compact signature of a 32-byte digest, native build. */
export function nativeSign(digest: Uint8Array, scalar: Uint8Array): Uint8Array {
  if (native === undefined) throw new Error('the native secp256k1 addon is not available');
  return native.ecdsaSign(digest, scalar).signature;
}

/** Compact signature check (high-S accepted), native build. */
export function nativeVerify(digest: Uint8Array, point: Uint8Array, compact: Uint8Array): boolean {
  if (native === undefined) throw new Error('the native secp256k1 addon is not available');
  try {
    // normalizing works in place: on a copy, so the caller's bytes stay as received
    return native.ecdsaVerify(native.signatureNormalize(compact.slice()), digest, point);
  } catch {
    return false; // r or s not below the curve order, or not a curve point
  }
}

/** Low-S compact signature of a 32-byte digest, WebAssembly build. */
export function wasmSign(digest: Uint8Array, scalar: Uint8Array): Uint8Array {
  return wasm.sign(digest, scalar);
}

/** Compact signature check (high-S accepted), WebAssembly build. */
export function wasmVerify(digest: Uint8Array, point: Uint8Array, compact: Uint8Array): boolean {
  try {
    return wasm.verify(digest, point, compact, false);
  } catch {
    return false; // r or s not below the curve order
  }
}

/** Sign with the fastest build available. */
export const signDigest: (digest: Uint8Array, scalar: Uint8Array) => Uint8Array =
  native === undefined ? wasmSign : nativeSign;

/** Verify with the fastest build available. */
export const verifyDigest: (digest: Uint8Array, point: Uint8Array, compact: Uint8Array) => boolean =
  native === undefined ? wasmVerify : nativeVerify;

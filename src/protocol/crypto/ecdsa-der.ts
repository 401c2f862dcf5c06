/**
 * ECDSA signature forms: DER (`SEQUENCE { INTEGER r, INTEGER s }`, what DIM puts on the wire) and the
 * 64-byte compact `r ‖ s` that libsecp256k1 takes. Pure, no I/O.
 *
 * The DER parser is strict, as OpenSSL's verifier is (it re-encodes and rejects anything that differs):
 * definite short-form lengths only, minimal positive INTEGERs, no trailing bytes. Anything else gives
 * `undefined`, and callers decide (the ECC verifier then asks OpenSSL, so acceptance never changes).
 */

/** The INTEGER content (without the sign byte) in 32 bytes, or undefined if not minimal / too long. */
function readInteger(der: Uint8Array, offset: number): { value: Uint8Array; next: number } | undefined {
  if (der[offset] !== 0x02) return undefined;
  const length = der[offset + 1];
  if (length === undefined || length === 0 || length > 33) return undefined;
  const start = offset + 2;
  const end = start + length;
  if (end > der.length) return undefined;
  const first = der[start] as number;
  if (first & 0x80) return undefined; // negative
  if (first === 0 && length > 1 && !((der[start + 1] as number) & 0x80)) return undefined; // not minimal
  const body = first === 0 && length > 1 ? der.subarray(start + 1, end) : der.subarray(start, end);
  if (body.length > 32) return undefined;
  const value = new Uint8Array(32);
  value.set(body, 32 - body.length);
  return { value, next: end };
}

/** Strict DER → 64-byte compact `r ‖ s`; undefined when not canonical DER of two ≤ 256-bit integers. */
export function derToCompact(der: Uint8Array): Uint8Array | undefined {
  if (der.length < 8 || der.length > 72 || der[0] !== 0x30) return undefined;
  if (der[1] !== der.length - 2) return undefined;
  const r = readInteger(der, 2);
  if (r === undefined) return undefined;
  const s = readInteger(der, r.next);
  if (s === undefined || s.next !== der.length) return undefined;
  const out = new Uint8Array(64);
  out.set(r.value, 0);
  out.set(s.value, 32);
  return out;
}

function integerBytes(value: Uint8Array): Uint8Array {
  let i = 0;
  while (i < value.length - 1 && value[i] === 0) i++;
  const body = value.subarray(i);
  if (!((body[0] as number) & 0x80)) return body;
  const padded = new Uint8Array(body.length + 1);
  padded.set(body, 1);
  return padded;
}

/** 64-byte compact `r ‖ s` → canonical DER. */
export function compactToDer(compact: Uint8Array): Uint8Array {
  if (compact.length !== 64) throw new RangeError('compact ECDSA signature must be 64 bytes');
  const r = integerBytes(compact.subarray(0, 32));
  const s = integerBytes(compact.subarray(32));
  const out = new Uint8Array(6 + r.length + s.length);
  out[0] = 0x30;
  out[1] = 4 + r.length + s.length;
  out[2] = 0x02;
  out[3] = r.length;
  out.set(r, 4);
  out[4 + r.length] = 0x02;
  out[5 + r.length] = s.length;
  out.set(s, 6 + r.length);
  return out;
}

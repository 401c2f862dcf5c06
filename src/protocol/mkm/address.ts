/**
 * Addresses: BTC-style (base58 of network ‖ RIPEMD160(SHA256(input)) ‖ checkcode), ETH-style (EIP-55
 * `0x` + 40 hex of Keccak-256 of the 64-byte point), the broadcast words, and, as the compat clients
 * do, "unknown" addresses (4–64 chars) with network 0 so that IDs from newer schemes still route.
 */
import { ProtocolError } from '../protocol-error.ts';
import { keccak256, ripemd160, sha256 } from '../crypto/digest.ts';
import { base58Decode, base58Encode, hexEncode } from '../crypto/encoding.ts';
import { EntityType } from './entity-type.ts';

export type AddressKind = 'btc' | 'eth' | 'broadcast' | 'unknown';

export interface Address {
  readonly kind: AddressKind;
  readonly text: string;
  /** Raw network byte (legacy values included). */
  readonly network: number;
}

export const ANYWHERE: Address = { kind: 'broadcast', text: 'anywhere', network: EntityType.ANY };
export const EVERYWHERE: Address = { kind: 'broadcast', text: 'everywhere', network: EntityType.EVERY };

function checkCode(payload: Uint8Array): Uint8Array {
  return sha256(sha256(payload)).subarray(0, 4);
}

/** Generate a BTC-style address over `input` (meta fingerprint bytes, or key data for BTC metas). */
export function btcAddress(input: Uint8Array, network: number): Address {
  const payload = new Uint8Array(21);
  payload[0] = network;
  payload.set(ripemd160(sha256(input)), 1);
  const bytes = new Uint8Array(25);
  bytes.set(payload);
  bytes.set(checkCode(payload), 21);
  return { kind: 'btc', text: base58Encode(bytes), network };
}

function parseBtc(text: string): Address | undefined {
  let bytes: Uint8Array;
  try {
    bytes = base58Decode(text);
  } catch {
    return undefined;
  }
  if (bytes.length !== 25) return undefined;
  const expected = checkCode(bytes.subarray(0, 21));
  for (let i = 0; i < 4; i++) if (bytes[21 + i] !== expected[i]) return undefined;
  return { kind: 'btc', text, network: bytes[0] ?? 0 };
}

/** EIP-55 mixed-case rendering of a 40-hex-digit address body (with or without 0x). */
export function eip55(hex: string): string {
  const lower = (hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex).toLowerCase();
  const hash = hexEncode(keccak256(new TextEncoder().encode(lower)));
  let out = '0x';
  for (let i = 0; i < lower.length; i++) {
    const c = lower[i] as string;
    out += c >= 'a' && c <= 'f' && parseInt(hash[i] as string, 16) >= 8 ? c.toUpperCase() : c;
  }
  return out;
}

export function isValidEip55(address: string): boolean {
  return /^0x[0-9a-fA-F]{40}$/.test(address) && eip55(address) === address;
}

/** ETH-style address of a secp256k1 public key (65-byte point; 64-byte x‖y accepted). */
export function ethAddress(point: Uint8Array): Address {
  const xy = point.length === 65 ? point.subarray(1) : point;
  if (xy.length !== 64)
    throw new ProtocolError('BAD_KEY', 'ETH address needs an uncompressed secp256k1 point');
  return { kind: 'eth', text: eip55(hexEncode(keccak256(xy).subarray(12))), network: EntityType.USER };
}

const ETH_RE = /^0x[0-9A-Za-z]{40}$/;

/** Parse an address string. Throws BAD_ADDRESS when it is none of the accepted forms. */
export function parseAddress(text: string): Address {
  const lower = text.toLowerCase();
  // Broadcast words match case-insensitively and are canonicalized to lowercase.
  if (lower === 'anywhere') return ANYWHERE;
  if (lower === 'everywhere') return EVERYWHERE;
  const length = text.length;
  if (length >= 26 && length <= 35) {
    const btc = parseBtc(text);
    if (btc) return btc;
  } else if (length === 42 && ETH_RE.test(text)) {
    return { kind: 'eth', text, network: EntityType.USER };
  }
  if (length >= 4 && length <= 64 && /^[0-9A-Za-z._-]+$/.test(text)) {
    return { kind: 'unknown', text, network: EntityType.USER };
  }
  throw new ProtocolError('BAD_ADDRESS', 'invalid address');
}

/**
 * Binary-to-text codings: hex, base64, base58, UTF-8, and TED ("transportable encoded data"), the
 * binary-as-text forms DIM clients emit (plain base64, `base64,…`, `base58,…`, `hex,…`, RFC 2397
 * `data:` URIs, and `{algorithm, data}` objects).
 */
import bs58 from 'bs58';
import { ProtocolError } from '../protocol-error.ts';

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export function utf8Encode(text: string): Uint8Array {
  return textEncoder.encode(text);
}

/** Strict UTF-8 decoding: malformed bytes are an error, not U+FFFD. */
export function utf8Decode(bytes: Uint8Array): string {
  try {
    return textDecoder.decode(bytes);
  } catch (cause) {
    throw new ProtocolError('BAD_JSON', 'invalid UTF-8', { cause });
  }
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

export function hexEncode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function hexDecode(text: string): Uint8Array {
  const body = text.startsWith('0x') || text.startsWith('0X') ? text.slice(2) : text;
  if (!HEX_RE.test(body)) throw new ProtocolError('BAD_HEX', 'invalid hex string');
  return new Uint8Array(Buffer.from(body, 'hex'));
}

export function base64Encode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

const WHITESPACE_RE = /\s+/g;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
const BASE64URL_RE = /^[A-Za-z0-9\-_]*={0,2}$/;

/**
 * Strict-but-tolerant base64: whitespace anywhere is ignored (PEM bodies, wrapped lines), standard or
 * URL-safe alphabet, padding optional; anything else (stray characters, a dangling sextet) is an error
 * rather than silently dropped bytes.
 */
export function base64Decode(text: string): Uint8Array {
  let body =
    text.includes('\n') || text.includes(' ') || text.includes('\r') || text.includes('\t')
      ? text.replace(WHITESPACE_RE, '')
      : text;
  if (body.includes('\\/')) body = body.replaceAll('\\/', '/');
  const urlSafe = !BASE64_RE.test(body);
  if (urlSafe && !BASE64URL_RE.test(body)) throw new ProtocolError('BAD_BASE64', 'invalid base64 character');
  const unpadded = body.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) throw new ProtocolError('BAD_BASE64', 'truncated base64');
  if (body.length !== unpadded.length && body.length % 4 !== 0) {
    throw new ProtocolError('BAD_BASE64', 'bad base64 padding');
  }
  return new Uint8Array(Buffer.from(unpadded, urlSafe ? 'base64url' : 'base64'));
}

export function base58Encode(bytes: Uint8Array): string {
  return bs58.encode(bytes);
}

export function base58Decode(text: string): Uint8Array {
  try {
    return bs58.decode(text);
  } catch (cause) {
    throw new ProtocolError('BAD_BASE58', 'invalid base58 string', { cause });
  }
}

function decodeWithAlgorithm(algorithm: string, data: string): Uint8Array {
  switch (algorithm.toLowerCase()) {
    case 'base64':
      return base64Decode(data);
    case 'base58':
      return base58Decode(data);
    case 'hex':
      return hexDecode(data);
    default:
      throw new ProtocolError('BAD_TED', `unknown TED encoding "${algorithm}"`);
  }
}

/**
 * Decode a TED value: plain base64 (the default), `base64,<b64>`, `base58,<b58>`, `hex,<hex>`, an RFC 2397
 * `data:<mime>[;params];base64,<b64>` URI, or an object / object JSON text `{algorithm, data}`.
 */
export function decodeTed(value: unknown): Uint8Array {
  if (typeof value === 'string') {
    if (value.startsWith('data:')) {
      const comma = value.indexOf(',');
      if (comma < 0) throw new ProtocolError('BAD_TED', 'data URI without a comma');
      const header = value.slice(5, comma);
      if (!header.split(';').includes('base64')) {
        throw new ProtocolError('BAD_TED', 'data URI is not base64-encoded');
      }
      return base64Decode(value.slice(comma + 1));
    }
    if (value.startsWith('{')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(value);
      } catch (cause) {
        throw new ProtocolError('BAD_TED', 'TED object text is not JSON', { cause });
      }
      return decodeTed(parsed);
    }
    const comma = value.indexOf(',');
    if (comma > 0 && comma <= 6) return decodeWithAlgorithm(value.slice(0, comma), value.slice(comma + 1));
    return base64Decode(value);
  }
  if (value !== null && typeof value === 'object') {
    const { algorithm, data } = value as { algorithm?: unknown; data?: unknown };
    if (typeof data !== 'string') throw new ProtocolError('BAD_TED', 'TED object without data');
    return decodeWithAlgorithm(typeof algorithm === 'string' ? algorithm : 'base64', data);
  }
  throw new ProtocolError('BAD_TED', 'TED value is not a string');
}

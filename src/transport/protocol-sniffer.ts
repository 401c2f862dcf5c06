/**
 * Decide from a connection's first bytes which framing it speaks, buffering until the decision is
 * certain: a first read split anywhere (even one byte at a time) is never misclassified.
 *  - MTP: starts with the magic `DIM`;
 *  - WebSocket: an HTTP `GET ` request (the upgrade itself is validated by the WebSocket library);
 *  - TLS: a handshake record (0x16 0x03 …): MTP over TLS or WSS, sniffed again once decrypted;
 *  - anything else: unknown (closed with a reason).
 */
export type SniffResult = 'mtp' | 'websocket' | 'tls' | 'unknown' | 'incomplete';

const MTP_MAGIC = Buffer.from('DIM');
const HTTP_GET = Buffer.from('GET ');
/** TLS record content type `handshake` and the record version's major byte (SSL 3.0 … TLS 1.3). */
const TLS_HANDSHAKE = 0x16;
const TLS_MAJOR = 0x03;

function startsWithOrPrefix(buf: Buffer, expected: Buffer): 'yes' | 'prefix' | 'no' {
  const n = Math.min(buf.length, expected.length);
  if (!buf.subarray(0, n).equals(expected.subarray(0, n))) return 'no';
  return buf.length >= expected.length ? 'yes' : 'prefix';
}

export function sniffProtocol(buf: Buffer): SniffResult {
  if (buf.length === 0) return 'incomplete';
  const mtp = startsWithOrPrefix(buf, MTP_MAGIC);
  if (mtp === 'yes') return 'mtp';
  const ws = startsWithOrPrefix(buf, HTTP_GET);
  if (ws === 'yes') return 'websocket';
  if (buf[0] === TLS_HANDSHAKE) {
    if (buf.length < 2) return 'incomplete';
    if (buf[1] === TLS_MAJOR) return 'tls';
  }
  if (mtp === 'prefix' || ws === 'prefix') return 'incomplete';
  return 'unknown';
}

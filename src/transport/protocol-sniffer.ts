/**
 * Decide from a connection's first bytes which framing it speaks, buffering until the decision is
 * certain: a first read split anywhere (even one byte at a time) is never misclassified.
 *  - MTP: starts with the magic `DIM`;
 *  - WebSocket: an HTTP `GET ` request (the upgrade itself is validated by the WebSocket library);
 *  - anything else: unknown (closed with a reason).
 */
export type SniffResult = 'mtp' | 'websocket' | 'unknown' | 'incomplete';

const MTP_MAGIC = Buffer.from('DIM');
const HTTP_GET = Buffer.from('GET ');

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
  if (mtp === 'prefix' || ws === 'prefix') return 'incomplete';
  return 'unknown';
}

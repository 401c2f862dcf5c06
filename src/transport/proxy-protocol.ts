/**
 * PROXY protocol v1 (text) and v2 (binary) header parsing, pure and I/O-free, so that behind HAProxy
 * (`send-proxy` / `send-proxy-v2`) the station knows the real client address.
 * Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 */
import { isIP } from 'node:net';
import { TransportError } from './transport-error.ts';

/** A decimal port 0..65535 without leading zeros (as the spec writes them). */
function validPort(text: string): boolean {
  return /^(?:0|[1-9]\d{0,4})$/.test(text) && Number(text) <= 65535;
}

export interface ProxiedAddress {
  readonly address: string;
  readonly port: number;
}

export type ProxyParseResult =
  /** More bytes are needed to decide. */
  | { readonly status: 'incomplete' }
  /** A complete header of `consumed` bytes; `source` is absent for LOCAL / UNKNOWN connections. */
  | { readonly status: 'ok'; readonly consumed: number; readonly source: ProxiedAddress | undefined };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
const V1_MAX = 107;
const V2_MAX_BODY = 4096;

function isPrefixOf(buf: Buffer, expected: Buffer): boolean {
  const n = Math.min(buf.length, expected.length);
  return buf.subarray(0, n).equals(expected.subarray(0, n));
}

/** Whether `buf` (the connection's first bytes) could start a PROXY header. */
export function mayBeProxyHeader(buf: Buffer): boolean {
  return isPrefixOf(buf, V2_SIGNATURE) || isPrefixOf(buf, V1_PREFIX);
}

function parseV1(buf: Buffer): ProxyParseResult {
  const end = buf.indexOf('\r\n');
  if (end < 0) {
    if (buf.length >= V1_MAX) throw new TransportError('PROXY_BAD_HEADER', 'PROXY v1 line too long');
    return { status: 'incomplete' };
  }
  if (end + 2 > V1_MAX) throw new TransportError('PROXY_BAD_HEADER', 'PROXY v1 line too long');
  const parts = buf.subarray(0, end).toString('latin1').split(' ');
  const consumed = end + 2;
  if (parts[1] === 'UNKNOWN') return { status: 'ok', consumed, source: undefined };
  if ((parts[1] !== 'TCP4' && parts[1] !== 'TCP6') || parts.length !== 6) {
    throw new TransportError('PROXY_BAD_HEADER', 'malformed PROXY v1 line');
  }
  const family = parts[1] === 'TCP4' ? 4 : 6;
  const [, , address, destination, sourcePort, destinationPort] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  // isIP: every octet 0..255 (no `999.999.999.999`), a well-formed IPv6 literal of the announced family
  if (isIP(address) !== family || isIP(destination) !== family) {
    throw new TransportError('PROXY_BAD_HEADER', `invalid PROXY v1 ${parts[1]} address`);
  }
  if (!validPort(sourcePort) || !validPort(destinationPort)) {
    throw new TransportError('PROXY_BAD_HEADER', 'invalid PROXY v1 port');
  }
  return { status: 'ok', consumed, source: { address, port: Number(sourcePort) } };
}

function ipv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

function parseV2(buf: Buffer): ProxyParseResult {
  if (buf.length < 16) return { status: 'incomplete' };
  const verCmd = buf[12] as number;
  const family = buf[13] as number;
  const length = buf.readUInt16BE(14);
  if (verCmd >> 4 !== 2) throw new TransportError('PROXY_BAD_HEADER', 'PROXY v2 with an unknown version');
  if (length > V2_MAX_BODY) throw new TransportError('PROXY_BAD_HEADER', 'PROXY v2 header too long');
  if (buf.length < 16 + length) return { status: 'incomplete' };
  const consumed = 16 + length;
  const command = verCmd & 0x0f;
  if (command === 0x0) return { status: 'ok', consumed, source: undefined }; // LOCAL (health checks)
  if (command !== 0x1) throw new TransportError('PROXY_BAD_HEADER', 'PROXY v2 with an unknown command');
  const body = buf.subarray(16, consumed);
  switch (family) {
    case 0x11: // TCP over IPv4
    case 0x12: // UDP over IPv4
      if (length < 12) throw new TransportError('PROXY_BAD_HEADER', 'PROXY v2 IPv4 block too short');
      return {
        status: 'ok',
        consumed,
        source: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) },
      };
    case 0x21: // TCP over IPv6
    case 0x22:
      if (length < 36) throw new TransportError('PROXY_BAD_HEADER', 'PROXY v2 IPv6 block too short');
      return {
        status: 'ok',
        consumed,
        source: { address: ipv6(body.subarray(0, 16)), port: body.readUInt16BE(32) },
      };
    default: // UNSPEC, unix sockets: no usable address
      return { status: 'ok', consumed, source: undefined };
  }
}

/**
 * Parse a PROXY header at the start of `buf`. Throws TransportError `PROXY_BAD_HEADER` when the bytes are
 * not a valid header (the connection must then be closed: a proxy that promised a header must send one).
 */
export function parseProxyHeader(buf: Buffer): ProxyParseResult {
  if (isPrefixOf(buf, V2_SIGNATURE))
    return buf.length < V2_SIGNATURE.length ? { status: 'incomplete' } : parseV2(buf);
  if (isPrefixOf(buf, V1_PREFIX))
    return buf.length < V1_PREFIX.length ? { status: 'incomplete' } : parseV1(buf);
  throw new TransportError('PROXY_MISSING', 'expected a PROXY protocol header');
}

/**
 * MTP ("DIM" Message Transfer Protocol) header: model, probe, parse and encode (reference-station.md §2.2,
 * moky/wormhole udp-py/udp/mtp/header.py). Big-endian throughout:
 *
 * | offset | size | field                                                                   |
 * |--------|------|-------------------------------------------------------------------------|
 * | 0      | 3    | magic `44 49 4D` ("DIM")                                                |
 * | 3      | 1    | high nibble = header length in 32-bit words, low nibble = data type    |
 * | 4      | 8    | transaction ID `sn` (headers of 12 bytes and more)                      |
 * | 12     | 4+4  | pages, index (fragment headers: 20 and 24 bytes)                        |
 * | last 4 | 4    | body length (8-, 16- and 24-byte headers; required on a stream)         |
 *
 * Header sizes: 4 (type), 8 (+length), 12 (+sn), 16 (+sn +length: the TCP one), 20 (+sn +pages +index),
 * 24 (+sn +pages +index +length). On a stream only 8, 16 and 24 can be framed.
 */
import { randomFillSync } from 'node:crypto';
import { TransportError } from './transport-error.ts';

/** The 3-byte magic code every header starts with. */
export const MTP_MAGIC = 'DIM';

/** Data types (low nibble of byte 3). Bit 0 = response, bit 3 = fragment. */
export const MTP_COMMAND = 0x0;
export const MTP_COMMAND_RESPONSE = 0x1;
export const MTP_MESSAGE = 0x2;
export const MTP_MESSAGE_RESPONSE = 0x3;
export const MTP_MESSAGE_FRAGMENT = 0xa;
export const MTP_FRAGMENT_RESPONSE = 0xb;

export type MtpDataType =
  | typeof MTP_COMMAND
  | typeof MTP_COMMAND_RESPONSE
  | typeof MTP_MESSAGE
  | typeof MTP_MESSAGE_RESPONSE
  | typeof MTP_MESSAGE_FRAGMENT
  | typeof MTP_FRAGMENT_RESPONSE;

/** Header sizes in bytes. */
export type MtpHeaderLength = 4 | 8 | 12 | 16 | 20 | 24;

/** Size of the header used on TCP for commands, messages and their responses. */
export const MTP_HEADER_LENGTH = 16;
/** Size of a fragment header carrying a body length. */
export const MTP_FRAGMENT_HEADER_LENGTH = 24;
/** Largest header size. */
export const MTP_MAX_HEADER_LENGTH = 24;
/** Size of a transaction ID. */
export const MTP_SN_LENGTH = 8;
/** Largest `pages` value accepted (wormhole Header.MAX_PAGES). */
export const MTP_MAX_PAGES = 2_097_152;
/** Largest body length a header can express (unsigned 32-bit field). */
export const MTP_MAX_BODY_LENGTH = 0xffff_ffff;

/** Results of {@link probeMtpHeader} other than a header length. */
export const MTP_PROBE_INCOMPLETE = 0;
export const MTP_PROBE_BAD_MAGIC = -1;
export const MTP_PROBE_BAD_LENGTH = -2;
export const MTP_PROBE_BAD_TYPE = -3;
export const MTP_PROBE_BAD_LAYOUT = -4;
export const MTP_PROBE_BAD_FRAGMENT = -5;
export const MTP_PROBE_NO_BODY_LENGTH = -6;

/** A parsed header. */
export interface MtpHeader {
  readonly headerLength: MtpHeaderLength;
  readonly type: MtpDataType;
  /** 8 bytes; all zero when the header has no sn (4- and 8-byte headers). */
  readonly sn: Buffer;
  /** Fragment count; 1 when the header has no fragment fields. */
  readonly pages: number;
  /** Fragment index (0-based, < pages); 0 when the header has no fragment fields. */
  readonly index: number;
  /** Body length; -1 when the header carries none (4-, 12- and 20-byte headers, UDP only). */
  readonly bodyLength: number;
}

/**
 * Fields for {@link encodeMtpHeader}; which optional fields are present decides the header size. Fragment
 * fields are written for fragment types and whenever pages/index differ from the defaults (1, 0).
 */
export interface MtpHeaderFields {
  readonly type: MtpDataType;
  /** 8-byte transaction ID; omitted or null for the sn-less 4- and 8-byte headers. */
  readonly sn?: Uint8Array | null;
  /** Fragment count and index (defaults 1 and 0) for 20- and 24-byte headers. */
  readonly pages?: number;
  readonly index?: number;
  /** Body length; omitted or null for the UDP-only forms without length. */
  readonly bodyLength?: number | null;
}

/** Input of {@link encodeFrame}. */
export interface MtpFrameInput {
  readonly type: MtpDataType;
  readonly sn: Uint8Array;
  /** Body bytes; a string is encoded as UTF-8. */
  readonly body: Uint8Array | string;
  readonly pages?: number;
  readonly index?: number;
}

const D = 0x44;
const I = 0x49;
const M = 0x4d;

/** Data types by low nibble (1 = known). */
const KNOWN_TYPE = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0];

export function isMtpDataType(value: number): value is MtpDataType {
  return Number.isInteger(value) && value >= 0 && value <= 0xf && KNOWN_TYPE[value] === 1;
}

/** True for Command Response, Message Response and Fragment Response. */
export function isMtpResponseType(type: MtpDataType): boolean {
  return (type & 0x1) !== 0;
}

/** True for Message Fragment and its response. */
export function isMtpFragmentType(type: MtpDataType): boolean {
  return (type & 0x8) !== 0;
}

/** Whether a header of the given size can carry the given type. */
function layoutAllows(headerLength: number, type: number): boolean {
  if (headerLength >= 20) {
    // pages + index: fragments, their responses, and a Message Response echoing a fragment's fields
    return type === MTP_MESSAGE_FRAGMENT || type === MTP_FRAGMENT_RESPONSE || type === MTP_MESSAGE_RESPONSE;
  }
  return type <= MTP_MESSAGE_RESPONSE;
}

function readU32(data: Uint8Array, at: number): number {
  return ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0;
}

function writeU32(data: Uint8Array, at: number, value: number): void {
  data[at] = value >>> 24;
  data[at + 1] = (value >>> 16) & 0xff;
  data[at + 2] = (value >>> 8) & 0xff;
  data[at + 3] = value & 0xff;
}

/**
 * Checks whether `data[offset, end)` starts with a valid MTP header, without allocating or throwing.
 * Returns the header length (> 0) when a complete valid header is there; {@link MTP_PROBE_INCOMPLETE} when
 * the bytes present are a valid beginning but more are needed; a negative `MTP_PROBE_*` reason otherwise.
 * With `stream` set, headers without a body length are rejected ({@link MTP_PROBE_NO_BODY_LENGTH}).
 * The body length is not checked against any limit.
 */
export function probeMtpHeader(data: Uint8Array, offset: number, end: number, stream: boolean): number {
  const avail = end - offset;
  if (avail < 4) {
    if (avail <= 0) return MTP_PROBE_INCOMPLETE;
    if (data[offset] !== D) return MTP_PROBE_BAD_MAGIC;
    if (avail >= 2 && data[offset + 1] !== I) return MTP_PROBE_BAD_MAGIC;
    if (avail >= 3 && data[offset + 2] !== M) return MTP_PROBE_BAD_MAGIC;
    return MTP_PROBE_INCOMPLETE;
  }
  if (data[offset] !== D || data[offset + 1] !== I || data[offset + 2] !== M) return MTP_PROBE_BAD_MAGIC;
  const b3 = data[offset + 3]!;
  const words = b3 >>> 4;
  if (words < 1 || words > 6) return MTP_PROBE_BAD_LENGTH;
  const type = b3 & 0xf;
  if (KNOWN_TYPE[type] !== 1) return MTP_PROBE_BAD_TYPE;
  const headerLength = words << 2;
  if (stream && (words & 1) === 1) return MTP_PROBE_NO_BODY_LENGTH; // 4, 12, 20: no body length
  if (!layoutAllows(headerLength, type)) return MTP_PROBE_BAD_LAYOUT;
  if (avail < headerLength) return MTP_PROBE_INCOMPLETE;
  if (headerLength >= 20) {
    const pages = readU32(data, offset + 12);
    const index = readU32(data, offset + 16);
    if (pages < 1 || pages > MTP_MAX_PAGES || index >= pages) return MTP_PROBE_BAD_FRAGMENT;
  }
  return headerLength;
}

/** The body length of a header already validated by {@link probeMtpHeader} (-1 when it has none). */
export function readMtpBodyLength(data: Uint8Array, offset: number, headerLength: number): number {
  return (headerLength & 4) === 0 ? readU32(data, offset + headerLength - 4) : -1;
}

const PROBE_MESSAGES: Readonly<Record<number, string>> = {
  [MTP_PROBE_BAD_MAGIC]: 'missing "DIM" magic',
  [MTP_PROBE_BAD_LENGTH]: 'header length nibble out of range 1..6',
  [MTP_PROBE_BAD_TYPE]: 'unknown data type',
  [MTP_PROBE_BAD_LAYOUT]: 'header size does not fit the data type',
  [MTP_PROBE_BAD_FRAGMENT]: 'bad pages/index',
};

/**
 * Parses the header at the start of `bytes` (trailing bytes, e.g. the body, are ignored).
 * `stream` (default true): only headers carrying a body length (8, 16, 24 bytes) are accepted, as on TCP.
 * Throws TransportError `MTP_HEADER_TRUNCATED`, `MTP_NO_BODY_LENGTH` or `MTP_BAD_HEADER`.
 */
export function parseMtpHeader(bytes: Uint8Array, options: { readonly stream?: boolean } = {}): MtpHeader {
  const stream = options.stream ?? true;
  const result = probeMtpHeader(bytes, 0, bytes.length, stream);
  if (result === MTP_PROBE_INCOMPLETE) {
    throw new TransportError('MTP_HEADER_TRUNCATED', `MTP header truncated (${bytes.length} bytes)`);
  }
  if (result === MTP_PROBE_NO_BODY_LENGTH) {
    throw new TransportError(
      'MTP_NO_BODY_LENGTH',
      `MTP header of ${(bytes[3]! >>> 4) << 2} bytes has no body length and cannot be framed on a stream`,
    );
  }
  if (result < 0) {
    throw new TransportError('MTP_BAD_HEADER', `bad MTP header: ${PROBE_MESSAGES[result] ?? 'invalid'}`);
  }
  const headerLength = result as MtpHeaderLength;
  const sn = Buffer.alloc(MTP_SN_LENGTH);
  if (headerLength >= 12) sn.set(bytes.subarray(4, 12));
  const fragment = headerLength >= 20;
  return {
    headerLength,
    type: (bytes[3]! & 0xf) as MtpDataType,
    sn,
    pages: fragment ? readU32(bytes, 12) : 1,
    index: fragment ? readU32(bytes, 16) : 0,
    bodyLength: readMtpBodyLength(bytes, 0, headerLength),
  };
}

function badArgument(message: string): TransportError {
  return new TransportError('MTP_BAD_ARGUMENT', message);
}

function checkType(type: number): void {
  if (!isMtpDataType(type)) throw badArgument(`unknown MTP data type ${String(type)}`);
}

function checkSn(sn: Uint8Array): void {
  if (!(sn instanceof Uint8Array) || sn.length !== MTP_SN_LENGTH) {
    throw badArgument(`MTP sn must be ${MTP_SN_LENGTH} bytes`);
  }
}

function checkFragment(pages: number, index: number): void {
  if (!Number.isInteger(pages) || pages < 1 || pages > MTP_MAX_PAGES) {
    throw badArgument(`MTP pages must be an integer in 1..${MTP_MAX_PAGES}`);
  }
  if (!Number.isInteger(index) || index < 0 || index >= pages) {
    throw badArgument('MTP index must be an integer in 0..pages-1');
  }
}

function checkBodyLength(length: number): void {
  if (!Number.isInteger(length) || length < 0) throw badArgument('MTP body length must be a natural number');
  if (length > MTP_MAX_BODY_LENGTH) {
    throw new TransportError('MTP_FRAME_TOO_LARGE', `MTP body of ${length} bytes does not fit a header`);
  }
}

/**
 * Encodes a header of any of the six sizes. The sn is present when given; pages/index for fragment types
 * and when they differ from (1, 0); the body length when given. Throws `MTP_BAD_ARGUMENT` for combinations
 * that have no header layout (fragment fields without sn, or fields the type cannot carry).
 */
export function encodeMtpHeader(fields: MtpHeaderFields): Buffer {
  const { type, sn, bodyLength } = fields;
  checkType(type);
  const hasSn = sn !== undefined && sn !== null;
  if (hasSn) checkSn(sn);
  const pages = fields.pages ?? 1;
  const index = fields.index ?? 0;
  const fragment = isMtpFragmentType(type) || pages !== 1 || index !== 0;
  if (fragment) {
    checkFragment(pages, index);
    if (!hasSn) throw badArgument('an MTP header with pages/index needs an sn');
  }
  const hasLength = bodyLength !== undefined && bodyLength !== null;
  if (hasLength) checkBodyLength(bodyLength);
  const headerLength = 4 + (hasSn ? 8 : 0) + (fragment ? 8 : 0) + (hasLength ? 4 : 0);
  if (!layoutAllows(headerLength, type)) {
    throw badArgument(`MTP data type ${type} cannot carry pages/index`);
  }
  const out = Buffer.allocUnsafe(headerLength);
  writeHeader(out, headerLength, type, hasSn ? sn : null, pages, index, hasLength ? bodyLength : 0);
  return out;
}

function writeHeader(
  out: Uint8Array,
  headerLength: number,
  type: number,
  sn: Uint8Array | null,
  pages: number,
  index: number,
  bodyLength: number,
): void {
  out[0] = D;
  out[1] = I;
  out[2] = M;
  out[3] = ((headerLength >>> 2) << 4) | type;
  let at = 4;
  if (sn !== null) {
    out.set(sn, 4);
    at = 12;
  }
  if (headerLength >= 20) {
    writeU32(out, 12, pages);
    writeU32(out, 16, index);
    at = 20;
  }
  if (at < headerLength) writeU32(out, at, bodyLength);
}

/**
 * Encodes one frame for a stream: a 16-byte header (24 bytes, with pages/index, for fragment types, or for
 * a Message Response echoing a fragment's pages/index) followed by the body. Accepts a decoded MtpFrame. Throws `MTP_BAD_ARGUMENT` or `MTP_FRAME_TOO_LARGE`.
 */
export function encodeFrame(frame: MtpFrameInput): Buffer {
  const { type, sn, body } = frame;
  checkType(type);
  checkSn(sn);
  const pages = frame.pages ?? 1;
  const index = frame.index ?? 0;
  const fragment = isMtpFragmentType(type) || pages !== 1 || index !== 0;
  if (fragment) {
    checkFragment(pages, index);
    if (!layoutAllows(MTP_FRAGMENT_HEADER_LENGTH, type)) {
      throw badArgument(`MTP data type ${type} cannot carry pages/index`);
    }
  }
  const headerLength = fragment ? MTP_FRAGMENT_HEADER_LENGTH : MTP_HEADER_LENGTH;
  const bodyLength = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
  checkBodyLength(bodyLength);
  const out = Buffer.allocUnsafe(headerLength + bodyLength);
  writeHeader(out, headerLength, type, sn, pages, index, bodyLength);
  if (typeof body === 'string') out.write(body, headerLength, 'utf8');
  else out.set(body, headerLength);
  return out;
}

const SN_POOL_SIZE = 4096;
const snPool = Buffer.allocUnsafe(SN_POOL_SIZE);
let snPoolOffset = SN_POOL_SIZE;

/** A fresh random 8-byte transaction ID (from the CSPRNG; a new Buffer the caller owns). */
export function generateSn(): Buffer {
  if (snPoolOffset + MTP_SN_LENGTH > SN_POOL_SIZE) {
    randomFillSync(snPool);
    snPoolOffset = 0;
  }
  const sn = Buffer.allocUnsafe(MTP_SN_LENGTH);
  snPool.copy(sn, 0, snPoolOffset, snPoolOffset + MTP_SN_LENGTH);
  snPool.fill(0, snPoolOffset, snPoolOffset + MTP_SN_LENGTH);
  snPoolOffset += MTP_SN_LENGTH;
  return sn;
}

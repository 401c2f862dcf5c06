/**
 * Incremental MTP stream decoder (reference-station.md §2.2 "Stream parsing"): bytes of one TCP
 * connection go in, complete frames come out. Handles sticky packets (several frames per chunk) and split
 * packets (a frame over any number of chunks). Resynchronises on the next "DIM" that starts a plausible
 * header when the data does not start with one, counting and reporting the dropped bytes.
 *
 * Memory: bytes are parsed straight out of the pushed chunk; only an unfinished frame (at most one header
 * + `maxBodyLength`) or a partial header is kept, in one growable buffer with an offset. Garbage is never
 * kept: it is dropped as soon as it is recognised, so `bufferedBytes` never exceeds
 * `MTP_MAX_HEADER_LENGTH + maxBodyLength`. A run of more than `maxGarbage` dropped bytes without a valid
 * header is reported as `MTP_GARBAGE_OVERFLOW` (the caller may close the connection).
 */
import {
  MTP_MAX_HEADER_LENGTH,
  MTP_PROBE_INCOMPLETE,
  MTP_SN_LENGTH,
  probeMtpHeader,
  readMtpBodyLength,
  type MtpDataType,
  type MtpHeaderLength,
} from './mtp-header.ts';
import { TransportError } from './transport-error.ts';

/** One decoded frame. `sn` and `body` are copies owned by the caller. */
export interface MtpFrame {
  readonly type: MtpDataType;
  /** 8 bytes; all zero for an 8-byte header (which has no sn). */
  readonly sn: Buffer;
  /** 1 unless the header has fragment fields. */
  readonly pages: number;
  /** 0 unless the header has fragment fields. */
  readonly index: number;
  readonly body: Buffer;
  /** 8, 16 or 24. */
  readonly headerLength: MtpHeaderLength;
}

/** Something the caller should log (with `code`); not an error. */
export interface MtpDecoderEvent {
  /**
   * `MTP_GARBAGE_SKIPPED`: the decoder resynchronised on a valid header after dropping `bytes` bytes;
   * `MTP_GARBAGE_OVERFLOW`: more than `maxGarbage` bytes were dropped without finding a valid header.
   */
  readonly code: 'MTP_GARBAGE_SKIPPED' | 'MTP_GARBAGE_OVERFLOW';
  /** Bytes dropped in this run. */
  readonly bytes: number;
  /** Stream offset (bytes since the connection started) of the first dropped byte of the run. */
  readonly offset: number;
}

export interface MtpDecoderOptions {
  /** Largest accepted body; a header announcing more throws `MTP_FRAME_TOO_LARGE`. Default 1 MiB. */
  readonly maxBodyLength?: number;
  /** Garbage bytes dropped in a row before `MTP_GARBAGE_OVERFLOW` is reported. Default 64 KiB. */
  readonly maxGarbage?: number;
  /** Receives decoder events synchronously, from inside `push`; must not throw. */
  readonly onEvent?: (event: MtpDecoderEvent) => void;
}

export const MTP_DEFAULT_MAX_BODY_LENGTH = 1024 * 1024;
export const MTP_DEFAULT_MAX_GARBAGE = 64 * 1024;

const MAGIC = Buffer.from('DIM', 'latin1');
const D = 0x44;
const I = 0x49;
const EMPTY = Buffer.alloc(0);
/** Initial size of the carry-over buffer. */
const INITIAL_CAPACITY = 4096;
/** A carry-over buffer larger than this is released once it is empty (after a large frame). */
const RETAINED_CAPACITY = 64 * 1024;

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function checkLimit(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TransportError('MTP_BAD_ARGUMENT', `${name} must be a non-negative integer`);
  }
  return value;
}

export class MtpDecoder {
  readonly maxBodyLength: number;
  readonly maxGarbage: number;
  readonly #onEvent: ((event: MtpDecoderEvent) => void) | undefined;
  readonly #maxFrame: number;

  /** Carry-over bytes are `#buf[#start, #start + #len)`. */
  #buf: Buffer = EMPTY;
  #start = 0;
  #len = 0;
  /** Total size of the frame at the start of the carry-over once its header is known, else 0. */
  #pending = 0;

  /** Bytes consumed (decoded or dropped) since the start of the stream. */
  #consumed = 0;
  #garbageRun = 0;
  #garbageStart = 0;
  #dropped = 0;
  #frames = 0;
  #overflows = 0;
  #error: TransportError | null = null;

  constructor(options: MtpDecoderOptions = {}) {
    this.maxBodyLength = checkLimit('maxBodyLength', options.maxBodyLength ?? MTP_DEFAULT_MAX_BODY_LENGTH);
    this.maxGarbage = checkLimit('maxGarbage', options.maxGarbage ?? MTP_DEFAULT_MAX_GARBAGE);
    this.#onEvent = options.onEvent;
    this.#maxFrame = MTP_MAX_HEADER_LENGTH + this.maxBodyLength;
  }

  /** Bytes currently held back (a partial header or an unfinished frame). */
  get bufferedBytes(): number {
    return this.#len;
  }

  /** Size of the carry-over buffer (never more than `MTP_MAX_HEADER_LENGTH + maxBodyLength`). */
  get bufferCapacity(): number {
    return this.#buf.length;
  }

  /** Total garbage bytes dropped while resynchronising. */
  get droppedBytes(): number {
    return this.#dropped;
  }

  /** Frames decoded so far. */
  get framesDecoded(): number {
    return this.#frames;
  }

  /** Number of `MTP_GARBAGE_OVERFLOW` events reported. */
  get garbageOverflows(): number {
    return this.#overflows;
  }

  /** The fatal error that stopped the decoder, if any. */
  get error(): TransportError | null {
    return this.#error;
  }

  /**
   * Feeds the next bytes of the stream; returns the frames they complete, appended to `out` (a new array
   * by default). The chunk is not retained. Throws TransportError `MTP_FRAME_TOO_LARGE` when a header
   * announces a body over `maxBodyLength`; frames completed before that point are already in `out`, and
   * the decoder is then dead (every later `push` throws the same error).
   */
  push(chunk: Uint8Array, out: MtpFrame[] = []): MtpFrame[] {
    if (this.#error !== null) throw this.#error;
    const data = asBuffer(chunk);
    const size = data.length;
    let at = 0;
    // 1. Complete what is carried over, taking only the bytes it needs from the chunk.
    while (this.#len > 0 && at < size) {
      const want =
        this.#pending > 0 ? this.#pending - this.#len : Math.max(1, MTP_MAX_HEADER_LENGTH - this.#len);
      const take = Math.min(want, size - at);
      this.#append(data, at, take);
      at += take;
      if (this.#pending > this.#len) continue; // body still incomplete: no need to look again
      const start = this.#start;
      const end = start + this.#len;
      const stop = this.#scan(this.#buf, start, end, out);
      this.#start = stop;
      this.#len = end - stop;
      if (this.#len === 0) this.#release();
    }
    // 2. Parse the rest straight out of the chunk; keep what remains unfinished.
    if (at < size) {
      const stop = this.#scan(data, at, size, out);
      if (stop < size) this.#append(data, stop, size - stop);
    }
    return out;
  }

  /** Decodes frames in `data[pos, end)`; returns where it stopped (start of an unfinished frame/header). */
  #scan(data: Buffer, pos: number, end: number, out: MtpFrame[]): number {
    for (;;) {
      const avail = end - pos;
      if (avail === 0) {
        this.#pending = 0;
        return pos;
      }
      const result = probeMtpHeader(data, pos, end, true);
      if (result > 0) {
        const bodyLength = readMtpBodyLength(data, pos, result);
        if (bodyLength > this.maxBodyLength) {
          throw this.#fail(
            new TransportError(
              'MTP_FRAME_TOO_LARGE',
              `MTP header announces a body of ${bodyLength} bytes (limit ${this.maxBodyLength})`,
            ),
          );
        }
        if (this.#garbageRun > 0) this.#resynced();
        const total = result + bodyLength;
        if (avail < total) {
          this.#pending = total;
          return pos;
        }
        out.push(this.#frame(data, pos, result as MtpHeaderLength, bodyLength));
        pos += total;
        this.#consumed += total;
        this.#frames += 1;
      } else if (result === MTP_PROBE_INCOMPLETE) {
        this.#pending = 0;
        return pos;
      } else {
        pos = this.#skip(data, pos, end);
      }
    }
  }

  #frame(data: Buffer, pos: number, headerLength: MtpHeaderLength, bodyLength: number): MtpFrame {
    // one allocation for sn + body
    const block = Buffer.allocUnsafe(MTP_SN_LENGTH + bodyLength);
    if (headerLength >= 12) data.copy(block, 0, pos + 4, pos + 12);
    else block.fill(0, 0, MTP_SN_LENGTH);
    const bodyStart = pos + headerLength;
    data.copy(block, MTP_SN_LENGTH, bodyStart, bodyStart + bodyLength);
    const fragment = headerLength >= 20;
    return {
      type: (data[pos + 3]! & 0xf) as MtpDataType,
      sn: block.subarray(0, MTP_SN_LENGTH),
      pages: fragment ? data.readUInt32BE(pos + 12) : 1,
      index: fragment ? data.readUInt32BE(pos + 16) : 0,
      body: block.subarray(MTP_SN_LENGTH),
      headerLength,
    };
  }

  /** No valid header at `pos`: drop up to the next "DIM" (or a trailing "D"/"DI"); returns the new pos. */
  #skip(data: Buffer, pos: number, end: number): number {
    const from = pos + 1;
    let next = end;
    if (end - from >= 3) {
      const found = data.subarray(from, end).indexOf(MAGIC);
      if (found >= 0) next = from + found;
    }
    if (next === end) {
      if (end - from >= 2 && data[end - 2] === D && data[end - 1] === I) next = end - 2;
      else if (end - from >= 1 && data[end - 1] === D) next = end - 1;
    }
    this.#drop(next - pos);
    return next;
  }

  #drop(count: number): void {
    if (this.#garbageRun === 0) this.#garbageStart = this.#consumed;
    this.#garbageRun += count;
    this.#dropped += count;
    this.#consumed += count;
    if (this.#garbageRun > this.maxGarbage) {
      this.#overflows += 1;
      this.#emit('MTP_GARBAGE_OVERFLOW');
    }
  }

  #resynced(): void {
    this.#emit('MTP_GARBAGE_SKIPPED');
  }

  #emit(code: MtpDecoderEvent['code']): void {
    const event: MtpDecoderEvent = { code, bytes: this.#garbageRun, offset: this.#garbageStart };
    this.#garbageRun = 0;
    this.#onEvent?.(event);
  }

  /** Appends `src[from, from + count)` to the carry-over, growing/compacting the buffer as needed. */
  #append(src: Buffer, from: number, count: number): void {
    const need = this.#len + count;
    if (this.#start + need > this.#buf.length) {
      // room for the whole pending frame at once when its size is known
      const target = Math.max(need, this.#pending);
      if (target <= this.#buf.length) {
        this.#buf.copy(this.#buf, 0, this.#start, this.#start + this.#len);
      } else {
        const grown = Math.min(Math.max(this.#buf.length * 2, INITIAL_CAPACITY), this.#maxFrame);
        const next = Buffer.allocUnsafe(Math.max(target, grown));
        this.#buf.copy(next, 0, this.#start, this.#start + this.#len);
        this.#buf = next;
      }
      this.#start = 0;
    }
    src.copy(this.#buf, this.#start + this.#len, from, from + count);
    this.#len = need;
  }

  /** The carry-over is empty: rewind, and let go of a buffer grown for a large frame. */
  #release(): void {
    this.#start = 0;
    this.#pending = 0;
    if (this.#buf.length > RETAINED_CAPACITY) this.#buf = EMPTY;
  }

  #fail(error: TransportError): TransportError {
    this.#error = error;
    this.#buf = EMPTY;
    this.#start = 0;
    this.#len = 0;
    this.#pending = 0;
    return error;
  }
}

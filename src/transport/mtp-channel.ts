/**
 * A ClientChannel over one MTP-framed TCP connection (reference-station.md §2.2, dimp-protocol.md §8).
 *
 * Inbound frames:
 * - Message (0x2): passed up as a package; its Message Response `OK` (same sn, pages, index) is written
 *   when the handler calls `ack()`. Bodies `NOOP`/`PING`/`PONG` are acked at once and dropped.
 * - Command (0x0): `PING` → Command Response `PONG`; any other body → Command Response `OK`.
 * - Command Response / Message Response: `OK` (or `PONG`) completes our pending push with that sn;
 *   `AGAIN` resends it at once (counted as a try).
 * - Message Fragment (0xA): reassembled (mtp-fragments.ts); every page but the last is answered `OK` at
 *   once, the last one once the assembled message was accepted; a fragment that cannot be reassembled
 *   closes the connection MTP_FRAGMENT_REFUSED.
 *
 * A frame that stays incomplete longer than `frameTimeout` must keep arriving at `minBytesPerSecond`
 * (averaged since its first byte), else the connection is closed TOO_SLOW: a trickle of bytes resets the
 * idle timer but cannot hold a partial frame (and its buffer) forever.
 *
 * Pushes are Message frames with a fresh sn, resent every `retryInterval` until `OK`, at most `maxTries`
 * sends. Everything written in one event-loop turn leaves in one system call (write-batch.ts). A local close writes a Command `BYE <code> <reason>` first (reference clients answer it `OK`),
 * ends the socket and destroys it after `closeGrace`.
 */
import type { Socket } from 'node:net';
import type {
  ChannelHandler,
  ClientChannel,
  CloseCode,
  CloseInfo,
  DeliveryResult,
  RemoteAddress,
} from './client-channel.ts';
import {
  nextChannelId,
  resolveChannelOptions,
  type ChannelInit,
  type ResolvedChannelOptions,
} from './channel-options.ts';
import { HandlerQueue } from './handler-queue.ts';
import { FragmentAssembler } from './mtp-fragments.ts';
import { IdleTimer } from './idle-timer.ts';
import { MtpDecoder, type MtpDecoderEvent, type MtpFrame } from './mtp-decoder.ts';
import {
  MTP_COMMAND,
  MTP_COMMAND_RESPONSE,
  MTP_FRAGMENT_RESPONSE,
  MTP_MESSAGE,
  MTP_MESSAGE_FRAGMENT,
  MTP_MESSAGE_RESPONSE,
  encodeFrame,
  generateSn,
} from './mtp-header.ts';
import { isTransportError } from './transport-error.ts';
import { noopTransportLogger, type TransportLogger } from './transport-logger.ts';
import { truncateUtf8 } from './utf8-truncate.ts';
import { corkForTurn } from './write-batch.ts';

export type MtpChannelOptions = ChannelInit;

/** Most bytes of the reason text put in a `BYE` frame. */
const MAX_BYE_REASON = 200;

const OK = Buffer.from('OK');
const AGAIN = Buffer.from('AGAIN');
const PING = Buffer.from('PING');
const PONG = Buffer.from('PONG');
const NOOP = Buffer.from('NOOP');

/** The body of the Command frame sent before a local close. */
export function mtpByeBody(code: CloseCode, reason: string): Buffer {
  const text = Buffer.from(reason.replace(/[\r\n]+/g, ' '), 'utf8');
  return Buffer.concat([Buffer.from(`BYE ${code} `), truncateUtf8(text, MAX_BYE_REASON)]);
}

/** A BYE Command frame (fresh sn). */
export function encodeMtpBye(code: CloseCode, reason: string): Buffer {
  return encodeFrame({ type: MTP_COMMAND, sn: generateSn(), body: mtpByeBody(code, reason) });
}

function isHeartbeat(body: Buffer): boolean {
  return body.length === 4 && (body.equals(NOOP) || body.equals(PING) || body.equals(PONG));
}

interface PendingPush {
  readonly key: string;
  readonly frame: Buffer;
  tries: number;
  timer: NodeJS.Timeout | undefined;
  readonly resolve: (result: DeliveryResult) => void;
}

export class MtpChannel implements ClientChannel {
  readonly id: string;
  readonly kind = 'mtp' as const;
  readonly remote: RemoteAddress;

  readonly #socket: Socket;
  readonly #options: ResolvedChannelOptions;
  readonly #log: TransportLogger;
  readonly #decoder: MtpDecoder;
  /** Created with the first fragment (most clients never send one). */
  #fragments: FragmentAssembler | undefined;
  readonly #events: HandlerQueue;
  readonly #idle: IdleTimer;
  /** Pushes waiting for their `OK`, by sn (hex); created with the first push. */
  #pending: Map<string, PendingPush> | undefined;
  #closed = false;
  #garbageOverflow: MtpDecoderEvent | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  /** The incomplete frame in progress: when its first byte arrived and bytes received since. */
  #partial: { since: number; bytes: number; timer: NodeJS.Timeout } | undefined;

  /**
   * @param socket the connection, already accepted (and sniffed as MTP)
   * @param initial bytes already read from it (after any PROXY header); decoded at once
   * @param remote the client address (from the PROXY header when enabled)
   */
  constructor(socket: Socket, initial: Buffer, remote: RemoteAddress, options: MtpChannelOptions = {}) {
    this.id = options.id ?? nextChannelId('m');
    this.remote = remote;
    this.#socket = socket;
    this.#options = options.resolved ?? resolveChannelOptions(options);
    this.#log = options.logger ?? noopTransportLogger;
    this.#events = new HandlerQueue(this.#options.maxPendingPackages, this.#log);
    this.#decoder = new MtpDecoder({
      maxBodyLength: this.#options.maxBodyLength,
      maxGarbage: this.#options.maxGarbage,
      onEvent: (event) => this.#onDecoderEvent(event),
    });
    this.#idle = new IdleTimer(
      this.#options.idleTimeout,
      () => this.close('IDLE_TIMEOUT', `nothing received for ${this.#options.idleTimeout} ms`),
      options.wheel,
    );
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#finish('PEER_CLOSED', 'the client ended the connection'));
    socket.on('close', () => {
      clearTimeout(this.#graceTimer);
      this.#finish('PEER_CLOSED', 'connection closed');
    });
    socket.on('error', (err: Error) => {
      this.#finish('SOCKET_ERROR', err.message);
      socket.destroy();
    });
    if (socket.destroyed) this.#finish('PEER_CLOSED', 'connection closed before the channel started');
    else if (initial.length > 0) this.#onData(initial);
  }

  get bufferedBytes(): number {
    return this.#socket.destroyed ? 0 : this.#socket.writableLength;
  }

  get closed(): boolean {
    return this.#closed;
  }

  setHandler(handler: ChannelHandler): void {
    this.#events.setHandler(handler);
  }

  push(body: string, _ackKey?: { signature?: string; time?: string }): Promise<DeliveryResult> {
    if (this.#closed) return Promise.resolve('closed');
    const sn = generateSn();
    const frame = encodeFrame({ type: MTP_MESSAGE, sn, body });
    const key = sn.toString('hex');
    return new Promise<DeliveryResult>((resolve) => {
      const pending: PendingPush = { key, frame, tries: 0, timer: undefined, resolve };
      (this.#pending ??= new Map()).set(key, pending);
      this.#send(pending);
    });
  }

  close(code: CloseCode, reason: string): void {
    if (this.#closed) return;
    const socket = this.#socket;
    if (!socket.destroyed && socket.writable) {
      socket.write(encodeMtpBye(code, reason));
      socket.end();
    }
    this.#graceTimer = setTimeout(() => socket.destroy(), this.#options.closeGrace);
    this.#graceTimer.unref();
    this.#shutdown({ code, reason, local: true });
  }

  // ---- inbound ------------------------------------------------------------------------------------

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    this.#idle.touch();
    const frames: MtpFrame[] = [];
    let fatal: unknown;
    try {
      this.#decoder.push(chunk, frames);
    } catch (err) {
      fatal = err;
    }
    for (const frame of frames) {
      if (this.#closed) return;
      this.#onFrame(frame);
    }
    if (this.#closed) return;
    this.#trackPartial(chunk.length);
    if (fatal !== undefined) {
      const message = fatal instanceof Error ? fatal.message : String(fatal);
      if (isTransportError(fatal, 'MTP_FRAME_TOO_LARGE')) {
        this.#log.warn({ code: 'FRAME_TOO_LARGE', limit: this.#options.maxBodyLength }, message);
        this.close('FRAME_TOO_LARGE', message);
      } else {
        this.#log.error({ err: fatal, code: 'PROTOCOL_ERROR' }, 'MTP decoder failed');
        this.close('PROTOCOL_ERROR', message);
      }
      return;
    }
    const overflow = this.#garbageOverflow;
    if (overflow !== undefined) {
      this.#log.warn({ code: 'GARBAGE', bytes: overflow.bytes, offset: overflow.offset }, 'too much garbage');
      this.close('GARBAGE', `${overflow.bytes} bytes without a valid MTP header`);
    }
  }

  /** Start, continue or end the deadline of an incomplete frame (after a chunk was decoded). */
  #trackPartial(chunkBytes: number): void {
    const timeout = this.#options.frameTimeout;
    if (timeout <= 0) return;
    if (this.#decoder.bufferedBytes === 0) {
      if (this.#partial !== undefined) {
        clearTimeout(this.#partial.timer);
        this.#partial = undefined;
      }
      return;
    }
    if (this.#partial !== undefined) {
      this.#partial.bytes += chunkBytes;
      return;
    }
    const timer = setTimeout(() => this.#checkPartial(), timeout);
    timer.unref();
    this.#partial = { since: performance.now(), bytes: this.#decoder.bufferedBytes, timer };
  }

  #checkPartial(): void {
    const partial = this.#partial;
    if (partial === undefined || this.#closed) return;
    const elapsed = performance.now() - partial.since;
    const rate = (partial.bytes * 1000) / elapsed;
    if (rate < this.#options.minBytesPerSecond) {
      const reason = `an incomplete frame arrives at ${Math.round(rate)} B/s (minimum ${this.#options.minBytesPerSecond} B/s after ${this.#options.frameTimeout} ms)`;
      this.#log.warn({ code: 'TOO_SLOW', bytes: partial.bytes, elapsedMs: Math.round(elapsed) }, reason);
      this.close('TOO_SLOW', reason);
      return;
    }
    partial.timer = setTimeout(() => this.#checkPartial(), 1000);
    partial.timer.unref();
  }

  #onDecoderEvent(event: MtpDecoderEvent): void {
    if (event.code === 'MTP_GARBAGE_OVERFLOW') {
      this.#garbageOverflow ??= event;
    } else {
      this.#log.warn(
        { code: event.code, bytes: event.bytes, offset: event.offset },
        'skipped garbage before an MTP header',
      );
    }
  }

  #onFrame(frame: MtpFrame): void {
    switch (frame.type) {
      case MTP_MESSAGE:
        this.#onMessage(frame);
        return;
      case MTP_COMMAND:
        this.#reply(frame, MTP_COMMAND_RESPONSE, frame.body.equals(PING) ? PONG : OK);
        if (!frame.body.equals(PING)) {
          this.#log.debug({ code: 'MTP_COMMAND', body: frame.body.toString('utf8', 0, 64) }, 'command');
        }
        return;
      case MTP_COMMAND_RESPONSE:
      case MTP_MESSAGE_RESPONSE:
        this.#onResponse(frame);
        return;
      case MTP_MESSAGE_FRAGMENT:
        this.#onFragment(frame);
        return;
      case MTP_FRAGMENT_RESPONSE:
        return;
    }
  }

  #onFragment(frame: MtpFrame): void {
    this.#fragments ??= new FragmentAssembler({ maxBodyLength: this.#options.maxBodyLength });
    let result;
    try {
      result = this.#fragments.add(frame.sn, frame.pages, frame.index, frame.body);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.#log.warn(
        { code: 'MTP_FRAGMENT_REFUSED', pages: frame.pages, index: frame.index, bytes: frame.body.length },
        reason,
      );
      this.close('MTP_FRAGMENT_REFUSED', reason);
      return;
    }
    if (result.status === 'partial') {
      this.#reply(frame, MTP_MESSAGE_RESPONSE, OK);
      return;
    }
    this.#onMessage({ ...frame, body: result.body });
  }

  #onMessage(frame: MtpFrame): void {
    if (frame.body.length === 0 || isHeartbeat(frame.body)) {
      this.#reply(frame, MTP_MESSAGE_RESPONSE, OK);
      return;
    }
    let acked = false;
    const ack = (): void => {
      if (acked) return;
      acked = true;
      if (!this.#closed) this.#reply(frame, MTP_MESSAGE_RESPONSE, OK);
    };
    if (!this.#events.package(frame.body, ack)) {
      this.close('PROTOCOL_ERROR', `more than ${this.#options.maxPendingPackages} packages before a handler`);
    }
  }

  #onResponse(frame: MtpFrame): void {
    const pending = this.#pending?.get(frame.sn.toString('hex'));
    if (pending === undefined) return; // e.g. the OK answering a BYE, or a late duplicate
    if (frame.body.equals(OK) || frame.body.equals(PONG)) {
      this.#settle(pending, 'acked');
    } else if (frame.body.equals(AGAIN)) {
      if (pending.tries < this.#options.maxTries) this.#send(pending);
    } else {
      this.#log.debug({ code: 'MTP_UNKNOWN_RESPONSE', body: frame.body.toString('utf8', 0, 64) }, 'response');
    }
  }

  // ---- outbound -----------------------------------------------------------------------------------

  #reply(
    request: MtpFrame,
    type: typeof MTP_COMMAND_RESPONSE | typeof MTP_MESSAGE_RESPONSE,
    body: Buffer,
  ): void {
    this.#write(encodeFrame({ type, sn: request.sn, body, pages: request.pages, index: request.index }));
  }

  #send(pending: PendingPush): void {
    clearTimeout(pending.timer);
    pending.tries += 1;
    if (!this.#write(pending.frame)) return; // closed: the pending push was settled
    pending.timer = setTimeout(() => {
      pending.timer = undefined;
      if (pending.tries >= this.#options.maxTries) this.#settle(pending, 'expired');
      else this.#send(pending);
    }, this.#options.retryInterval);
    pending.timer.unref();
  }

  #settle(pending: PendingPush, result: DeliveryResult): void {
    clearTimeout(pending.timer);
    const waiting = this.#pending;
    if (waiting !== undefined) {
      waiting.delete(pending.key);
      if (waiting.size === 0) this.#pending = undefined; // an emptied Map keeps its grown table
    }
    pending.resolve(result);
  }

  /** Writes unless the client is too slow (then closes SLOW_CONSUMER); false when nothing was written. */
  #write(bytes: Buffer): boolean {
    const socket = this.#socket;
    if (this.#closed || socket.destroyed || !socket.writable) return false;
    const queued = socket.writableLength;
    if (queued > 0 && queued + bytes.length > this.#options.maxOutgoingBytes) {
      this.#log.warn(
        { code: 'SLOW_CONSUMER', queued, limit: this.#options.maxOutgoingBytes },
        'slow consumer',
      );
      this.close('SLOW_CONSUMER', `more than ${this.#options.maxOutgoingBytes} bytes queued`);
      return false;
    }
    corkForTurn(socket); // frames written to this connection in this turn leave in one writev
    socket.write(bytes);
    return true;
  }

  // ---- closing ------------------------------------------------------------------------------------

  /** The peer went away (end, close, error). */
  #finish(code: CloseCode, reason: string): void {
    this.#shutdown({ code, reason, local: false });
  }

  #shutdown(info: CloseInfo): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#idle.stop();
    if (this.#partial !== undefined) clearTimeout(this.#partial.timer);
    if (this.#pending !== undefined) {
      for (const pending of [...this.#pending.values()]) this.#settle(pending, 'closed');
    }
    if (info.local) this.#events.dropPackages();
    this.#log.info({ code: info.code, local: info.local, reason: info.reason }, 'MTP channel closed');
    this.#events.close(info);
  }
}

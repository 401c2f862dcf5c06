/**
 * The client side of MTP over TCP (reference-station.md §2.2), as the Python clients and bots speak it:
 * - every `send` is a Message frame (16-byte header) with a fresh random transaction ID, and resolves when
 *   the station's `OK` Message Response with that sn arrives ("station-acknowledged"), or rejects with
 *   ACK_TIMEOUT;
 * - Message frames (and fragments) from the station are answered with a Message Response `OK` carrying the
 *   same sn/pages/index, unless `autoAck` is off (tests withholding acks); `NOOP`/`PING`/`PONG` bodies inside
 *   messages are acked and dropped; fragments are re-assembled;
 * - Command `PING` is answered with Command Response `PONG`; Command `BYE …` is recorded (`byes`, `onBye`);
 *   other commands are answered `OK`;
 * - `ping()` sends Command `PING` and resolves with the round-trip time on the matching `PONG`.
 */
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { MtpDecoder } from '../transport/mtp-decoder.ts';
import type { MtpFrame } from '../transport/mtp-decoder.ts';
import {
  encodeFrame,
  generateSn,
  MTP_COMMAND,
  MTP_COMMAND_RESPONSE,
  MTP_FRAGMENT_RESPONSE,
  MTP_MESSAGE,
  MTP_MESSAGE_FRAGMENT,
  MTP_MESSAGE_RESPONSE,
} from '../transport/mtp-header.ts';
import { ClientError } from './client-error.ts';
import type { ClientTransport, TransportCloseInfo } from './client-transport.ts';
import { ListenerSet } from './listener-set.ts';

export interface MtpClientTransportOptions {
  /** Answer the station's Message frames with `OK` (default true). Can be changed later (`autoAck`). */
  readonly autoAck?: boolean;
  /** Answer the station's Command `PING` with `PONG` (default true). */
  readonly answerPing?: boolean;
  /** How long `send` waits for the station's `OK` (ms, default 30000). */
  readonly sendTimeoutMs?: number;
  /** How long `ping` waits for `PONG` (ms, default 10000). */
  readonly pingTimeoutMs?: number;
  /** Largest frame body accepted from the station (default 16 MiB). */
  readonly maxBodyLength?: number;
  /** How long `close` waits for the socket to close after `end()` before destroying it (ms, default 2000). */
  readonly closeTimeoutMs?: number;
}

export interface MtpConnectOptions extends MtpClientTransportOptions {
  readonly host: string;
  readonly port: number;
  /** Connect timeout (ms, default 10000). */
  readonly connectTimeoutMs?: number;
}

export interface MtpSendOptions {
  /** Override the transport's `sendTimeoutMs`. */
  readonly timeoutMs?: number;
  /** Wait for the station's `OK` (default true); false resolves once the frame is written. */
  readonly awaitAck?: boolean;
}

/** Counters, for load measurements. */
export interface MtpTransportStats {
  /** Message frames sent. */
  messagesSent: number;
  /** `OK` Message Responses received for them. */
  messagesAcked: number;
  /** Message frames received from the station (fragments counted once re-assembled). */
  messagesReceived: number;
  /** `OK` responses we sent. */
  acksSent: number;
  /** Message Responses `AGAIN` received (ignored, as the reference does). */
  againReceived: number;
}

interface PendingSend {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

interface PendingPing {
  readonly resolve: (rtt: number) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
  readonly start: number;
}

interface FragmentAssembly {
  readonly parts: Array<Buffer | undefined>;
  received: number;
  readonly timer: NodeJS.Timeout;
}

const DEFAULT_SEND_TIMEOUT_MS = 30_000;
const DEFAULT_PING_TIMEOUT_MS = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;
const DEFAULT_MAX_BODY_LENGTH = 16 * 1024 * 1024;
/** Fragments of a message not completed within this time are dropped (the reference uses 300 s). */
const FRAGMENT_EXPIRY_MS = 300_000;
const DROPPED_BODIES = new Set(['NOOP', 'PING', 'PONG']);

export class MtpClientTransport implements ClientTransport {
  readonly kind = 'mtp' as const;
  /** Answer the station's Message frames with `OK`. */
  autoAck: boolean;
  /** Answer the station's Command `PING` with `PONG`. */
  answerPing: boolean;
  readonly stats: MtpTransportStats = {
    messagesSent: 0,
    messagesAcked: 0,
    messagesReceived: 0,
    acksSent: 0,
    againReceived: 0,
  };
  readonly #socket: Socket;
  readonly #decoder: MtpDecoder;
  readonly #sendTimeoutMs: number;
  readonly #pingTimeoutMs: number;
  readonly #closeTimeoutMs: number;
  readonly #pendingSends = new Map<string, PendingSend>();
  readonly #pendingPings = new Map<string, PendingPing>();
  readonly #fragments = new Map<string, FragmentAssembly>();
  readonly #messageListeners = new ListenerSet<string>();
  readonly #frameListeners = new ListenerSet<MtpFrame>();
  readonly #byeListeners = new ListenerSet<string>();
  readonly #closeListeners = new ListenerSet<TransportCloseInfo>();
  readonly #byes: string[] = [];
  #closing = false;
  #closedInfo: TransportCloseInfo | undefined;
  #closePromise: Promise<void> | undefined;
  #socketError: Error | undefined;
  readonly #socketClosed: Promise<void>;

  /** Wrap a connected socket (see `connect`). */
  constructor(socket: Socket, options: MtpClientTransportOptions = {}) {
    this.#socket = socket;
    this.autoAck = options.autoAck ?? true;
    this.answerPing = options.answerPing ?? true;
    this.#sendTimeoutMs = options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
    this.#pingTimeoutMs = options.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.#decoder = new MtpDecoder({ maxBodyLength: options.maxBodyLength ?? DEFAULT_MAX_BODY_LENGTH });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => {
      this.#socketError ??= err;
    });
    // The station may half-close (end) after BYE: finish our side too.
    socket.on('end', () => {
      if (!socket.destroyed) socket.end();
    });
    this.#socketClosed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#onClosed();
        resolve();
      });
    });
  }

  /** Connect to `host:port`; rejects with CONNECT_FAILED. */
  static connect(options: MtpConnectOptions): Promise<MtpClientTransport> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: options.host, port: options.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ClientError('CONNECT_FAILED', `MTP connect to ${options.host}:${options.port} timed out`));
      }, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        reject(
          new ClientError('CONNECT_FAILED', `MTP connect to ${options.host}:${options.port} failed`, {
            cause: err,
          }),
        );
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new MtpClientTransport(socket, options));
      });
    });
  }

  get closed(): boolean {
    return this.#closing || this.#closedInfo !== undefined;
  }

  get remoteHost(): string | undefined {
    return this.#socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.#socket.remotePort;
  }

  get localPort(): number | undefined {
    return this.#socket.localPort;
  }

  /** Bodies of the `BYE …` commands received from the station, in order. */
  get byes(): readonly string[] {
    return this.#byes;
  }

  /** How the connection closed; undefined while it is open. */
  get closeInfo(): TransportCloseInfo | undefined {
    return this.#closedInfo;
  }

  /** Sends still waiting for their `OK`. */
  get pendingAcks(): number {
    return this.#pendingSends.size;
  }

  onMessage(listener: (body: string) => void): () => void {
    return this.#messageListeners.add(listener);
  }

  /** Every decoded frame from the station, before any automatic answer (for tests). */
  onFrame(listener: (frame: MtpFrame) => void): () => void {
    return this.#frameListeners.add(listener);
  }

  onBye(listener: (body: string) => void): () => void {
    return this.#byeListeners.add(listener);
  }

  onClose(listener: (info: TransportCloseInfo) => void): () => void {
    if (this.#closedInfo !== undefined) {
      const info = this.#closedInfo;
      queueMicrotask(() => listener(info));
      return () => {};
    }
    return this.#closeListeners.add(listener);
  }

  /**
   * Send a Message frame with a fresh sn. Resolves on the station's `OK` for that sn (or when written, with
   * `awaitAck: false`); rejects with ACK_TIMEOUT or CLOSED.
   */
  send(body: string | Uint8Array, options: MtpSendOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(this.#closedError());
    const sn = generateSn();
    const frame = encodeFrame({ type: MTP_MESSAGE, sn, body });
    this.stats.messagesSent += 1;
    if (options.awaitAck === false) return this.#write(frame);
    const key = sn.toString('hex');
    const timeoutMs = options.timeoutMs ?? this.#sendTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pendingSends.delete(key);
        reject(new ClientError('ACK_TIMEOUT', `no OK from the station within ${timeoutMs} ms (sn ${key})`));
      }, timeoutMs);
      this.#pendingSends.set(key, { resolve, reject, timer });
      this.#socket.write(frame);
    });
  }

  /** Send Command `PING`; resolves with the round-trip time (ms) on the matching `PONG`. */
  ping(timeoutMs: number = this.#pingTimeoutMs): Promise<number> {
    if (this.closed) return Promise.reject(this.#closedError());
    const sn = generateSn();
    const key = sn.toString('hex');
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pendingPings.delete(key);
        reject(new ClientError('PING_TIMEOUT', `no PONG within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pendingPings.set(key, { resolve, reject, timer, start: performance.now() });
      this.#socket.write(encodeFrame({ type: MTP_COMMAND, sn, body: 'PING' }));
    });
  }

  /** Answer a received Message (or fragment) frame with `OK` (for tests that turned `autoAck` off). */
  acknowledge(frame: Pick<MtpFrame, 'sn' | 'pages' | 'index'>): void {
    // A fragment's response is a Message Response echoing its pages/index (reference-station.md §2.2).
    this.#writeQuietly(
      encodeFrame({
        type: MTP_MESSAGE_RESPONSE,
        sn: frame.sn,
        body: 'OK',
        pages: frame.pages,
        index: frame.index,
      }),
    );
    this.stats.acksSent += 1;
  }

  /** Write raw bytes (malformed input tests). */
  writeRaw(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(this.#closedError());
    return this.#write(bytes);
  }

  /** Send a Command frame with any body (e.g. `NOOP`); resolves when written. */
  sendCommand(body: string): Promise<void> {
    if (this.closed) return Promise.reject(this.#closedError());
    return this.#write(encodeFrame({ type: MTP_COMMAND, sn: generateSn(), body }));
  }

  /** Graceful close (FIN, then destroy after `closeTimeoutMs`); idempotent. */
  close(): Promise<void> {
    if (this.#closePromise === undefined) {
      this.#closing = true;
      this.#closePromise = (async () => {
        if (!this.#socket.destroyed) {
          this.#socket.end();
          const timer = setTimeout(() => this.#socket.destroy(), this.#closeTimeoutMs);
          await this.#socketClosed;
          clearTimeout(timer);
        }
        await this.#socketClosed;
      })();
    }
    return this.#closePromise;
  }

  /** Abortive close (no FIN handshake); idempotent. */
  destroy(): Promise<void> {
    this.#closing = true;
    this.#socket.destroy();
    return this.#socketClosed;
  }

  #write(bytes: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#socket.write(bytes, (err) => {
        if (err) reject(new ClientError('CLOSED', 'write failed', { cause: err }));
        else resolve();
      });
    });
  }

  #writeQuietly(bytes: Uint8Array): void {
    if (this.#socket.destroyed || !this.#socket.writable) return;
    this.#socket.write(bytes);
  }

  #onData(chunk: Buffer): void {
    let frames: MtpFrame[];
    try {
      frames = this.#decoder.push(chunk);
    } catch (err) {
      this.#socketError ??= err instanceof Error ? err : new Error(String(err));
      this.#socket.destroy();
      return;
    }
    for (const frame of frames) this.#onFrame(frame);
  }

  #onFrame(frame: MtpFrame): void {
    this.#frameListeners.emit(frame);
    switch (frame.type) {
      case MTP_COMMAND:
        this.#onCommand(frame);
        break;
      case MTP_COMMAND_RESPONSE:
        this.#onCommandResponse(frame);
        break;
      case MTP_MESSAGE:
        if (this.autoAck) this.acknowledge(frame);
        this.#deliver(frame.body);
        break;
      case MTP_MESSAGE_FRAGMENT:
        if (this.autoAck) this.acknowledge(frame);
        this.#onFragment(frame);
        break;
      case MTP_MESSAGE_RESPONSE:
        this.#onMessageResponse(frame);
        break;
      case MTP_FRAGMENT_RESPONSE:
        break;
    }
  }

  #onCommand(frame: MtpFrame): void {
    const body = frame.body.toString('utf8');
    if (body === 'PING') {
      if (this.answerPing) {
        this.#writeQuietly(encodeFrame({ type: MTP_COMMAND_RESPONSE, sn: frame.sn, body: 'PONG' }));
      }
    } else if (body === 'BYE' || body.startsWith('BYE ')) {
      this.#byes.push(body);
      this.#byeListeners.emit(body);
    } else {
      this.#writeQuietly(encodeFrame({ type: MTP_COMMAND_RESPONSE, sn: frame.sn, body: 'OK' }));
    }
  }

  #onCommandResponse(frame: MtpFrame): void {
    const key = frame.sn.toString('hex');
    const pending = this.#pendingPings.get(key);
    if (pending === undefined || frame.body.toString('utf8') !== 'PONG') return;
    this.#pendingPings.delete(key);
    clearTimeout(pending.timer);
    pending.resolve(performance.now() - pending.start);
  }

  #onMessageResponse(frame: MtpFrame): void {
    const body = frame.body.toString('utf8');
    if (body === 'AGAIN') {
      this.stats.againReceived += 1;
      return;
    }
    if (body !== 'OK') return;
    const key = frame.sn.toString('hex');
    const pending = this.#pendingSends.get(key);
    if (pending === undefined) return;
    this.#pendingSends.delete(key);
    clearTimeout(pending.timer);
    this.stats.messagesAcked += 1;
    pending.resolve();
  }

  #onFragment(frame: MtpFrame): void {
    if (frame.pages <= 1) {
      this.#deliver(frame.body);
      return;
    }
    const key = frame.sn.toString('hex');
    let assembly = this.#fragments.get(key);
    if (assembly === undefined || assembly.parts.length !== frame.pages) {
      if (assembly !== undefined) clearTimeout(assembly.timer);
      const timer = setTimeout(() => this.#fragments.delete(key), FRAGMENT_EXPIRY_MS);
      timer.unref();
      assembly = { parts: new Array<Buffer | undefined>(frame.pages).fill(undefined), received: 0, timer };
      this.#fragments.set(key, assembly);
    }
    if (assembly.parts[frame.index] !== undefined) return;
    assembly.parts[frame.index] = frame.body;
    assembly.received += 1;
    if (assembly.received < assembly.parts.length) return;
    clearTimeout(assembly.timer);
    this.#fragments.delete(key);
    this.#deliver(Buffer.concat(assembly.parts as Buffer[]));
  }

  #deliver(body: Buffer): void {
    const text = body.toString('utf8');
    if (DROPPED_BODIES.has(text)) return;
    this.stats.messagesReceived += 1;
    this.#messageListeners.emit(text);
  }

  #closedError(): ClientError {
    return new ClientError('CLOSED', 'the MTP connection is closed');
  }

  #onClosed(): void {
    if (this.#closedInfo !== undefined) return;
    const error = this.#socketError;
    const info: TransportCloseInfo = {
      code: undefined,
      reason: this.#closing ? 'closed by client' : error !== undefined ? error.message : 'socket closed',
      byClient: this.#closing,
      error,
    };
    this.#closedInfo = info;
    this.#closing = true;
    const closedError = new ClientError('CLOSED', `the MTP connection closed (${info.reason})`, {
      cause: error,
    });
    for (const pending of this.#pendingSends.values()) {
      clearTimeout(pending.timer);
      pending.reject(closedError);
    }
    this.#pendingSends.clear();
    for (const pending of this.#pendingPings.values()) {
      clearTimeout(pending.timer);
      pending.reject(closedError);
    }
    this.#pendingPings.clear();
    for (const assembly of this.#fragments.values()) clearTimeout(assembly.timer);
    this.#fragments.clear();
    this.#closeListeners.emit(info);
    this.#closeListeners.clear();
    this.#messageListeners.clear();
    this.#frameListeners.clear();
    this.#byeListeners.clear();
  }
}

/**
 * The client side of the WebSocket framing (reference-station.md §2.3, dimp-protocol.md §8), as the
 * Flutter/Dart clients speak it: `ws://host:port/`, one text frame per message; for every received message
 * frame the client answers `ACK:{"time":<t>,"signature":"<sig>"}` (configurable); text `PING` is answered
 * `PONG`; `PONG`/`NOOP`/`OK`/empty frames are ignored. `send` resolves once the frame is written (the
 * station sends no delivery confirmation over WebSocket).
 */
import { WebSocket } from 'ws';
import type { RawData } from 'ws';
import { ClientError } from './client-error.ts';
import type { ClientTransport, TransportCloseInfo } from './client-transport.ts';
import { ListenerSet } from './listener-set.ts';
import { wsAckFor } from './ws-client-ack.ts';

export interface WsClientTransportOptions {
  /** Answer each received message frame with an `ACK:` frame (default true). */
  readonly autoAck?: boolean;
  /** Answer text `PING` with `PONG` (default true). */
  readonly answerPing?: boolean;
  /** How long `ping` waits for `PONG` (ms, default 10000). */
  readonly pingTimeoutMs?: number;
  /** How long `close` waits for the closing handshake before terminating (ms, default 2000). */
  readonly closeTimeoutMs?: number;
  /** The station's address as the socket sees it (`connect` fills it in; default: from the URL). */
  readonly remoteHost?: string;
  readonly remotePort?: number;
}

export interface WsConnectOptions extends WsClientTransportOptions {
  /** Full URL; default `ws://<host>:<port><path>`. */
  readonly url?: string;
  readonly host?: string;
  readonly port?: number;
  /** Default `/`. */
  readonly path?: string;
  /** Connect (upgrade) timeout (ms, default 10000). */
  readonly connectTimeoutMs?: number;
  /** Largest frame accepted from the station (default 16 MiB). */
  readonly maxPayload?: number;
}

/** Counters, for load measurements. */
export interface WsTransportStats {
  messagesSent: number;
  messagesReceived: number;
  acksSent: number;
}

interface PendingPing {
  readonly resolve: (rtt: number) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
  readonly start: number;
}

const DEFAULT_PING_TIMEOUT_MS = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 2_000;
const DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024;
const IGNORED = new Set(['NOOP', 'OK', '']);

function rawToText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export class WsClientTransport implements ClientTransport {
  readonly kind = 'ws' as const;
  /** Answer each received message frame with an `ACK:` frame. */
  autoAck: boolean;
  /** Answer text `PING` with `PONG`. */
  answerPing: boolean;
  readonly stats: WsTransportStats = { messagesSent: 0, messagesReceived: 0, acksSent: 0 };
  readonly #ws: WebSocket;
  readonly #pingTimeoutMs: number;
  readonly #closeTimeoutMs: number;
  readonly #pings: PendingPing[] = [];
  readonly #messageListeners = new ListenerSet<string>();
  readonly #closeListeners = new ListenerSet<TransportCloseInfo>();
  readonly #remoteHost: string | undefined;
  readonly #remotePort: number | undefined;
  readonly #socketClosed: Promise<void>;
  #closing = false;
  #closedInfo: TransportCloseInfo | undefined;
  #closePromise: Promise<void> | undefined;
  #error: Error | undefined;

  /** Wrap an open WebSocket (see `connect`). */
  constructor(ws: WebSocket, options: WsClientTransportOptions = {}) {
    this.#ws = ws;
    this.autoAck = options.autoAck ?? true;
    this.answerPing = options.answerPing ?? true;
    this.#pingTimeoutMs = options.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    let fromUrl: URL | undefined;
    try {
      fromUrl = new URL(ws.url);
    } catch {
      fromUrl = undefined;
    }
    this.#remoteHost = options.remoteHost ?? fromUrl?.hostname;
    const urlPort = fromUrl !== undefined && fromUrl.port !== '' ? Number(fromUrl.port) : undefined;
    this.#remotePort = options.remotePort ?? urlPort;
    ws.on('message', (data: RawData) => this.#onFrame(rawToText(data)));
    ws.on('error', (err) => {
      this.#error ??= err;
    });
    this.#socketClosed = new Promise((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) {
        queueMicrotask(() => {
          this.#onClosed(1006, '');
          resolve();
        });
        return;
      }
      ws.once('close', (code: number, reason: Buffer) => {
        this.#onClosed(code, reason.toString('utf8'));
        resolve();
      });
    });
  }

  /** Open `ws://host:port/` (or `url`); rejects with CONNECT_FAILED. */
  static connect(options: WsConnectOptions): Promise<WsClientTransport> {
    const url =
      options.url ?? `ws://${options.host ?? '127.0.0.1'}:${options.port ?? 9394}${options.path ?? '/'}`;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        handshakeTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        maxPayload: options.maxPayload ?? DEFAULT_MAX_PAYLOAD,
        perMessageDeflate: false,
      });
      let remote: { remoteHost?: string; remotePort?: number } = {};
      ws.once('upgrade', (response) => {
        remote = { remoteHost: response.socket.remoteAddress, remotePort: response.socket.remotePort };
      });
      const onError = (err: Error): void => {
        ws.off('open', onOpen);
        ws.terminate();
        reject(new ClientError('CONNECT_FAILED', `WebSocket connect to ${url} failed`, { cause: err }));
      };
      const onOpen = (): void => {
        ws.off('error', onError);
        resolve(new WsClientTransport(ws, { ...options, ...remote }));
      };
      ws.once('error', onError);
      ws.once('open', onOpen);
    });
  }

  get closed(): boolean {
    return this.#closing || this.#closedInfo !== undefined;
  }

  get remoteHost(): string | undefined {
    return this.#remoteHost;
  }

  get remotePort(): number | undefined {
    return this.#remotePort;
  }

  /** The WebSocket close status once closed (1006 for an abnormal close). */
  get closeCode(): number | undefined {
    return this.#closedInfo?.code;
  }

  /** The close reason text once closed. */
  get closeReason(): string | undefined {
    return this.#closedInfo?.reason;
  }

  get closeInfo(): TransportCloseInfo | undefined {
    return this.#closedInfo;
  }

  onMessage(listener: (body: string) => void): () => void {
    return this.#messageListeners.add(listener);
  }

  onClose(listener: (info: TransportCloseInfo) => void): () => void {
    if (this.#closedInfo !== undefined) {
      const info = this.#closedInfo;
      queueMicrotask(() => listener(info));
      return () => {};
    }
    return this.#closeListeners.add(listener);
  }

  /** Send one text frame; resolves when written, rejects with CLOSED. */
  send(body: string): Promise<void> {
    if (this.closed || this.#ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new ClientError('CLOSED', 'the WebSocket is closed'));
    }
    this.stats.messagesSent += 1;
    return this.#sendText(body);
  }

  /** Send text `PING`; resolves with the round-trip time (ms) on `PONG` (answered in order). */
  ping(timeoutMs: number = this.#pingTimeoutMs): Promise<number> {
    if (this.closed || this.#ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new ClientError('CLOSED', 'the WebSocket is closed'));
    }
    return new Promise<number>((resolve, reject) => {
      const entry: PendingPing = {
        resolve,
        reject,
        start: performance.now(),
        timer: setTimeout(() => {
          const at = this.#pings.indexOf(entry);
          if (at >= 0) this.#pings.splice(at, 1);
          reject(new ClientError('PING_TIMEOUT', `no PONG within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#pings.push(entry);
      this.#ws.send('PING');
    });
  }

  /** Close with a closing handshake (terminate after `closeTimeoutMs`); idempotent. */
  close(code = 1000, reason = ''): Promise<void> {
    if (this.#closePromise === undefined) {
      this.#closing = true;
      this.#closePromise = (async () => {
        const state = this.#ws.readyState;
        if (state === WebSocket.CONNECTING || state === WebSocket.OPEN) {
          this.#ws.close(code, reason);
          const timer = setTimeout(() => this.#ws.terminate(), this.#closeTimeoutMs);
          await this.#socketClosed;
          clearTimeout(timer);
        } else if (state === WebSocket.CLOSING) {
          const timer = setTimeout(() => this.#ws.terminate(), this.#closeTimeoutMs);
          await this.#socketClosed;
          clearTimeout(timer);
        }
        await this.#socketClosed;
      })();
    }
    return this.#closePromise;
  }

  /** Abortive close (no closing handshake); idempotent. */
  destroy(): Promise<void> {
    this.#closing = true;
    this.#ws.terminate();
    return this.#socketClosed;
  }

  #sendText(text: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#ws.send(text, (err) => {
        if (err) reject(new ClientError('CLOSED', 'WebSocket write failed', { cause: err }));
        else resolve();
      });
    });
  }

  #sendQuietly(text: string): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(text);
  }

  #onFrame(text: string): void {
    const trimmed = text.length <= 16 ? text.trim() : text;
    if (trimmed === 'PING') {
      if (this.answerPing) this.#sendQuietly('PONG');
      return;
    }
    if (trimmed === 'PONG') {
      const entry = this.#pings.shift();
      if (entry !== undefined) {
        clearTimeout(entry.timer);
        entry.resolve(performance.now() - entry.start);
      }
      return;
    }
    if (IGNORED.has(trimmed) || text.startsWith('ACK:')) return;
    this.stats.messagesReceived += 1;
    if (this.autoAck) {
      const ack = wsAckFor(text);
      if (ack !== undefined) {
        this.#sendQuietly(ack);
        this.stats.acksSent += 1;
      }
    }
    this.#messageListeners.emit(text);
  }

  #onClosed(code: number, reason: string): void {
    if (this.#closedInfo !== undefined) return;
    const info: TransportCloseInfo = {
      code,
      reason: reason.length > 0 ? reason : this.#closing ? 'closed by client' : 'socket closed',
      byClient: this.#closing,
      error: this.#error,
    };
    this.#closedInfo = info;
    this.#closing = true;
    const closedError = new ClientError('CLOSED', `the WebSocket closed (${code} ${info.reason})`);
    for (const entry of this.#pings.splice(0)) {
      clearTimeout(entry.timer);
      entry.reject(closedError);
    }
    this.#closeListeners.emit(info);
    this.#closeListeners.clear();
    this.#messageListeners.clear();
  }
}

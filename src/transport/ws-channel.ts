/**
 * A ClientChannel over one WebSocket connection (the `ws` library does RFC 6455; reference-station.md §2.3,
 * dimp-protocol.md §8).
 *
 * Inbound data frames (text or binary) are packages (`ack()` is a no-op), except the application control
 * strings: `PING` → `PONG`; `PONG`, `NOOP`, `OK` and empty frames are ignored; `ACK:{…}` confirms a push.
 * Pushes are text frames. Until the client has sent one ACK a push resolves `written` once flushed; after
 * that it waits up to `ackTimeout` for its ACK (`acked`), else `expired` (never resent).
 * Limits: `maxBodyLength` is ws's `maxPayload` (oversize → close 1009, FRAME_TOO_LARGE); more than
 * `maxOutgoingBytes` buffered → SLOW_CONSUMER; no frame for `idleTimeout` → IDLE_TIMEOUT.
 */
import type { Writable } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
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
import { IdleTimer } from './idle-timer.ts';
import { noopTransportLogger, type TransportLogger } from './transport-logger.ts';
import { truncateUtf8 } from './utf8-truncate.ts';
import { corkForTurn } from './write-batch.ts';
import { ACK_PREFIX, outgoingAckValues, parseAck } from './ws-ack.ts';

export type WsChannelOptions = ChannelInit;

/** Longest close reason a WebSocket close frame can carry (125 - 2 bytes of status code). */
export const WS_MAX_CLOSE_REASON = 123;

/** The WebSocket close status for a close code: 1001 shutdown, 1009 too large, 1008 (policy) otherwise. */
export function wsCloseStatus(code: CloseCode): number {
  switch (code) {
    case 'SHUTDOWN':
      return 1001;
    case 'FRAME_TOO_LARGE':
      return 1009;
    case 'SOCKET_ERROR':
      return 1011;
    default:
      return 1008;
  }
}

/** `<code>: <reason>`, at most 123 UTF-8 bytes. */
export function wsCloseReason(code: CloseCode, reason: string): string {
  return truncateUtf8(Buffer.from(`${code}: ${reason}`, 'utf8'), WS_MAX_CLOSE_REASON).toString('utf8');
}

const IGNORED = new Set(['PONG', 'NOOP', 'OK', '']);
/** Longest frame checked for a control string (`NOOP` plus some whitespace). */
const MAX_CONTROL_LENGTH = 16;

interface PendingPush {
  readonly signature: string | undefined;
  readonly time: string | undefined;
  timer: NodeJS.Timeout | undefined;
  readonly resolve: (result: DeliveryResult) => void;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export class WsChannel implements ClientChannel {
  readonly id: string;
  readonly kind = 'websocket' as const;
  readonly remote: RemoteAddress;

  readonly #ws: WebSocket;
  /** The connection under `#ws`, when given: corked per turn so that frames leave in one writev. */
  readonly #socket: Pick<Writable, 'cork' | 'uncork' | 'writableCorked'> | undefined;
  readonly #options: ResolvedChannelOptions;
  readonly #log: TransportLogger;
  readonly #events: HandlerQueue;
  readonly #idle: IdleTimer;
  /** Every unsettled push (written or awaiting its ACK). */
  readonly #pending = new Set<PendingPush>();
  /** Pushes awaiting an ACK, oldest first, by signature and by time. */
  readonly #bySignature = new Map<string, PendingPush[]>();
  readonly #byTime = new Map<string, PendingPush[]>();
  #ackEnabled = false;
  #closed = false;
  #graceTimer: NodeJS.Timeout | undefined;

  /**
   * @param ws an open WebSocket (from `WebSocketServer.handleUpgrade`)
   * @param socket the connection `ws` runs on (the one given to `handleUpgrade`): writes of one event-loop
   *   turn are then batched into one system call (write-batch.ts)
   */
  constructor(
    ws: WebSocket,
    remote: RemoteAddress,
    options: WsChannelOptions = {},
    socket?: Pick<Writable, 'cork' | 'uncork' | 'writableCorked'>,
  ) {
    this.id = options.id ?? nextChannelId('w');
    this.remote = remote;
    this.#ws = ws;
    this.#socket = socket;
    this.#options = options.resolved ?? resolveChannelOptions(options);
    this.#log = options.logger ?? noopTransportLogger;
    this.#events = new HandlerQueue(this.#options.maxPendingPackages, this.#log);
    this.#idle = new IdleTimer(
      this.#options.idleTimeout,
      () => this.close('IDLE_TIMEOUT', `nothing received for ${this.#options.idleTimeout} ms`),
      options.wheel,
    );
    ws.on('message', (data: RawData) => this.#onMessage(toBuffer(data)));
    ws.on('ping', () => this.#idle.touch());
    ws.on('pong', () => this.#idle.touch());
    ws.on('error', (err: Error & { code?: string }) => this.#onError(err));
    ws.on('close', (status: number, reason: Buffer) => {
      clearTimeout(this.#graceTimer);
      this.#shutdown({
        code: 'PEER_CLOSED',
        reason: `WebSocket closed (${status}${reason.length > 0 ? ` ${reason.toString('utf8')}` : ''})`,
        local: false,
      });
    });
    if (ws.readyState !== ws.OPEN) {
      this.#shutdown({ code: 'PEER_CLOSED', reason: 'WebSocket not open', local: false });
    }
  }

  get bufferedBytes(): number {
    return this.#ws.bufferedAmount;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True once the client has sent an `ACK:` on this connection. */
  get ackEnabled(): boolean {
    return this.#ackEnabled;
  }

  setHandler(handler: ChannelHandler): void {
    this.#events.setHandler(handler);
  }

  push(body: string, ackKey?: { signature?: string; time?: string }): Promise<DeliveryResult> {
    if (this.#closed) return Promise.resolve('closed');
    const size = Buffer.byteLength(body, 'utf8');
    if (!this.#roomFor(size)) return Promise.resolve('closed');
    const key = outgoingAckValues(body, ackKey);
    const awaitAck = this.#ackEnabled && (key.signature !== undefined || key.time !== undefined);
    return new Promise<DeliveryResult>((resolve) => {
      const pending: PendingPush = { signature: key.signature, time: key.time, timer: undefined, resolve };
      this.#pending.add(pending);
      if (awaitAck) {
        this.#index(pending);
        pending.timer = setTimeout(() => this.#settle(pending, 'expired'), this.#options.ackTimeout);
        pending.timer.unref();
      }
      this.#batch();
      this.#ws.send(body, { binary: false }, (err) => {
        if (err) this.#settle(pending, 'closed');
        else if (!awaitAck) this.#settle(pending, 'written');
      });
    });
  }

  close(code: CloseCode, reason: string): void {
    if (this.#closed) return;
    const ws = this.#ws;
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
      ws.close(wsCloseStatus(code), wsCloseReason(code, reason));
    }
    this.#graceTimer = setTimeout(() => ws.terminate(), this.#options.closeGrace);
    this.#graceTimer.unref();
    this.#shutdown({ code, reason, local: true });
  }

  // ---- inbound ------------------------------------------------------------------------------------

  #onMessage(data: Buffer): void {
    if (this.#closed) return;
    this.#idle.touch();
    if (data.length <= MAX_CONTROL_LENGTH) {
      const text = data.toString('latin1').trim();
      if (text === 'PING') {
        this.#sendControl('PONG');
        return;
      }
      if (IGNORED.has(text)) return;
    }
    if (data.length >= ACK_PREFIX.length && data.toString('latin1', 0, ACK_PREFIX.length) === ACK_PREFIX) {
      this.#onAck(data.toString('utf8', ACK_PREFIX.length));
      return;
    }
    if (!this.#events.package(data, noop)) {
      this.close('PROTOCOL_ERROR', `more than ${this.#options.maxPendingPackages} packages before a handler`);
    }
  }

  #onAck(payload: string): void {
    this.#ackEnabled = true;
    const ack = parseAck(payload);
    let pending: PendingPush | undefined;
    if (ack.signature !== undefined) pending = this.#bySignature.get(ack.signature)?.[0];
    if (pending === undefined && ack.time !== undefined) pending = this.#byTime.get(ack.time)?.[0];
    if (pending !== undefined) this.#settle(pending, 'acked');
    else this.#log.debug({ code: 'WS_ACK_UNMATCHED', signature: ack.signature, time: ack.time }, 'ACK');
  }

  #onError(err: Error & { code?: string }): void {
    if (this.#closed) return;
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      // ws has already sent the close frame with 1009
      this.#log.warn({ code: 'FRAME_TOO_LARGE', limit: this.#options.maxBodyLength }, err.message);
      this.#terminateLater();
      this.#shutdown({ code: 'FRAME_TOO_LARGE', reason: err.message, local: true });
    } else if (err.code?.startsWith('WS_ERR_') === true) {
      // invalid frame: ws has already sent the close frame (1002/1007)
      this.#log.info({ code: 'PROTOCOL_ERROR', wsCode: err.code }, err.message);
      this.#terminateLater();
      this.#shutdown({ code: 'PROTOCOL_ERROR', reason: err.message, local: true });
    } else {
      this.#shutdown({ code: 'SOCKET_ERROR', reason: err.message, local: false });
      this.#ws.terminate();
    }
  }

  // ---- outbound -----------------------------------------------------------------------------------

  #sendControl(text: string): void {
    if (!this.#roomFor(text.length)) return;
    this.#batch();
    this.#ws.send(text, { binary: false });
  }

  #batch(): void {
    if (this.#socket !== undefined && this.#ws.readyState === this.#ws.OPEN) corkForTurn(this.#socket);
  }

  /** False (after closing SLOW_CONSUMER) when `size` more bytes would exceed `maxOutgoingBytes`. */
  #roomFor(size: number): boolean {
    const queued = this.#ws.bufferedAmount;
    if (queued > 0 && queued + size > this.#options.maxOutgoingBytes) {
      this.#log.warn(
        { code: 'SLOW_CONSUMER', queued, limit: this.#options.maxOutgoingBytes },
        'slow consumer',
      );
      this.close('SLOW_CONSUMER', `more than ${this.#options.maxOutgoingBytes} bytes queued`);
      return false;
    }
    return !this.#closed;
  }

  #index(pending: PendingPush): void {
    if (pending.signature !== undefined) addTo(this.#bySignature, pending.signature, pending);
    else if (pending.time !== undefined) addTo(this.#byTime, pending.time, pending);
  }

  #settle(pending: PendingPush, result: DeliveryResult): void {
    if (!this.#pending.delete(pending)) return;
    clearTimeout(pending.timer);
    if (pending.signature !== undefined) removeFrom(this.#bySignature, pending.signature, pending);
    else if (pending.time !== undefined) removeFrom(this.#byTime, pending.time, pending);
    pending.resolve(result);
  }

  // ---- closing ------------------------------------------------------------------------------------

  #terminateLater(): void {
    const ws = this.#ws;
    this.#graceTimer = setTimeout(() => ws.terminate(), this.#options.closeGrace);
    this.#graceTimer.unref();
  }

  #shutdown(info: CloseInfo): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#idle.stop();
    for (const pending of [...this.#pending]) this.#settle(pending, 'closed');
    if (info.local) this.#events.dropPackages();
    this.#log.info({ code: info.code, local: info.local, reason: info.reason }, 'WebSocket channel closed');
    this.#events.close(info);
  }
}

function noop(): void {}

function addTo(map: Map<string, PendingPush[]>, key: string, pending: PendingPush): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [pending]);
  else list.push(pending);
}

function removeFrom(map: Map<string, PendingPush[]>, key: string, pending: PendingPush): void {
  const list = map.get(key);
  if (list === undefined) return;
  const at = list.indexOf(pending);
  if (at >= 0) list.splice(at, 1);
  if (list.length === 0) map.delete(key);
}

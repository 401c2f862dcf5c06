/**
 * The station's TCP listener: MTP and WebSocket on one port (reference-station.md §2.1, §9.1, §10.4–5).
 *
 * Per connection, the first bytes are buffered until (a) the PROXY header is parsed when enabled and
 * (b) the framing is certain (a first read split anywhere is never misclassified):
 * - `mtp` → an MtpChannel over the socket (with the bytes read so far);
 * - `websocket` → the socket goes to a private, non-listening `http.Server`; its `upgrade` goes to
 *   `WebSocketServer.handleUpgrade` → a WsChannel; a plain GET gets `426 Upgrade Required`;
 * - `tls` (when a certificate is configured) → a server-side TLSSocket over the connection, whose
 *   decrypted bytes are sniffed again: MTP over TLS or WSS on the same port;
 * - anything else → closed without a reply (UNKNOWN_PROTOCOL);
 * - no decision (or no completed upgrade) within `detectTimeout` → closed (HANDSHAKE_TIMEOUT).
 * Over `maxConnections`, or `maxConnectionsPerIp` for the (PROXY-resolved) client address, a connection is
 * turned away with TOO_MANY_CONNECTIONS: a `BYE` for MTP, HTTP 503 for WebSocket. With the PROXY
 * protocol on and `trustedProxies` given, a connection from any other peer is closed (PROXY_UNTRUSTED):
 * only the proxies may claim a client address.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { BlockList, createServer, isIP, type AddressInfo, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket, type SecureContext } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  CHANNEL_DEFAULTS,
  resolveChannelOptions,
  type ChannelInit,
  type ChannelOptions,
  type ResolvedChannelOptions,
} from './channel-options.ts';
import type { ClientChannel, CloseCode, RemoteAddress } from './client-channel.ts';
import { MtpChannel, encodeMtpBye } from './mtp-channel.ts';
import { sniffProtocol } from './protocol-sniffer.ts';
import { mayBeProxyHeader, parseProxyHeader } from './proxy-protocol.ts';
import { idleWheelResolution } from './idle-timer.ts';
import { TimerWheel } from './timer-wheel.ts';
import { BoundLogger, noopTransportLogger, type TransportLogger } from './transport-logger.ts';
import { WsChannel } from './ws-channel.ts';

export type ProxyProtocolMode = 'off' | 'optional' | 'required';

export interface StationListenerOptions {
  /** Listen address. Default `0.0.0.0`. */
  readonly host?: string;
  /** Listen port (0 picks a free one). */
  readonly port: number;
  /** PROXY protocol v1/v2 in front of every connection. Default `off`. */
  readonly proxyProtocol?: ProxyProtocolMode;
  /** Open connections (detecting or not). Default 100,000. */
  readonly maxConnections?: number;
  /** Open connections per client address (after PROXY resolution). Default 256. */
  readonly maxConnectionsPerIp?: number;
  /** Milliseconds to recognise the framing (and finish a WebSocket upgrade). Default 10 s. */
  readonly detectTimeout?: number;
  /**
   * Peer addresses (IP literals or CIDR blocks) allowed to connect when the PROXY protocol is on; others
   * are closed PROXY_UNTRUSTED. Empty or absent: any peer.
   */
  readonly trustedProxies?: readonly string[];
  /** The current TLS certificate (called per TLS connection, so a reload takes effect at once). */
  readonly tls?: () => SecureContext;
  /** Limits and timings of the channels. */
  readonly channel?: ChannelOptions;
  readonly logger?: TransportLogger;
  /** A new channel; install its handler right away (packages are held until then). */
  readonly onChannel: (channel: ClientChannel) => void;
}

export const LISTENER_DEFAULTS = {
  host: '0.0.0.0',
  proxyProtocol: 'off' as ProxyProtocolMode,
  maxConnections: 100_000,
  maxConnectionsPerIp: 256,
  detectTimeout: 10_000,
};

/** How long a connection over a limit may take to show its framing (to be told why it is turned away). */
const REJECT_WINDOW = 2_000;
/** Connections beyond `maxConnections` held open to be told why; more are dropped at once. */
const REJECT_BACKLOG = 1024;

const HTTP_503 =
  'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n\r\nToo many connections\n';
const HTTP_400 = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';
const HTTP_426 =
  'HTTP/1.1 426 Upgrade Required\r\nConnection: close\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n';

type Stage = 'detect' | 'http' | 'channel';

const EMPTY = Buffer.alloc(0);

interface Connection {
  /** The connection's socket: the TCP socket, or the TLSSocket over it once TLS was detected. */
  socket: Socket;
  readonly raw: Socket;
  tls: boolean;
  stage: Stage;
  buffer: Buffer;
  remote: RemoteAddress;
  proxyDone: boolean;
  /** The address counted in the per-IP table, once counted. */
  countedIp: string | undefined;
  rejected: boolean;
  timer: NodeJS.Timeout | undefined;
  channel: ClientChannel | undefined;
  readonly onData: (chunk: Buffer) => void;
}

/** `::ffff:1.2.3.4` → `1.2.3.4`. */
function plainAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export class StationListener {
  readonly #host: string;
  readonly #port: number;
  readonly #proxy: ProxyProtocolMode;
  readonly #maxConnections: number;
  readonly #maxPerIp: number;
  readonly #detectTimeout: number;
  readonly #channelOptions: ChannelOptions;
  /** Resolved once, shared by every channel. */
  readonly #resolved: ResolvedChannelOptions;
  /** The idle timeouts of every channel. */
  readonly #wheel: TimerWheel;
  readonly #log: TransportLogger;
  readonly #onChannel: (channel: ClientChannel) => void;
  readonly #server: Server;
  readonly #http = createHttpServer();
  readonly #wss: WebSocketServer;
  readonly #connections = new Set<Connection>();
  readonly #perIp = new Map<string, number>();
  /** Connections by socket, for the http server's events. */
  readonly #bySocket = new WeakMap<Duplex, Connection>();
  #seq = 0;
  #closing: Promise<void> | undefined;
  readonly #trustedProxies: BlockList | undefined;
  readonly #tls: (() => SecureContext) | undefined;
  /** Not listening for now (pauseAccepting / stopAccepting); existing connections stay. */
  #paused = false;
  /** The port actually bound (listening again after a pause reuses it). */
  #bound: number | undefined;

  constructor(options: StationListenerOptions) {
    this.#host = options.host ?? LISTENER_DEFAULTS.host;
    this.#port = options.port;
    this.#proxy = options.proxyProtocol ?? LISTENER_DEFAULTS.proxyProtocol;
    this.#maxConnections = options.maxConnections ?? LISTENER_DEFAULTS.maxConnections;
    this.#maxPerIp = options.maxConnectionsPerIp ?? LISTENER_DEFAULTS.maxConnectionsPerIp;
    this.#detectTimeout = options.detectTimeout ?? LISTENER_DEFAULTS.detectTimeout;
    this.#trustedProxies =
      this.#proxy !== 'off' && (options.trustedProxies?.length ?? 0) > 0
        ? blockListOf(options.trustedProxies ?? [])
        : undefined;
    this.#tls = options.tls;
    this.#channelOptions = options.channel ?? {};
    this.#resolved = resolveChannelOptions(this.#channelOptions);
    this.#wheel = new TimerWheel({ resolution: idleWheelResolution(this.#resolved.idleTimeout) });
    this.#log = options.logger ?? noopTransportLogger;
    this.#onChannel = options.onChannel;
    this.#server = createServer((socket) => this.#accept(socket));
    this.#server.on('error', (err) => this.#log.error({ err, code: 'LISTENER_ERROR' }, 'listener error'));
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: this.#channelOptions.maxBodyLength ?? CHANNEL_DEFAULTS.maxBodyLength,
    });
    this.#http.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res));
    this.#http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#onUpgrade(req, socket, head),
    );
    // Node's HTTP parser reports errors on `socket.server`, which is the net server that accepted it
    const onClientError = (err: Error, socket: Duplex): void => {
      this.#log.info({ code: 'HTTP_BAD_REQUEST', err: err.message }, 'bad HTTP request');
      if (socket.writable) socket.end(HTTP_400);
      socket.destroy();
    };
    this.#http.on('clientError', onClientError);
    this.#server.on('clientError', onClientError);
  }

  /** Open connections (including those still being recognised). */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Start listening; resolves with the bound address and port. */
  listen(): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      const server = this.#server;
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host: this.#host, port: this.#bound ?? this.#port }, () => {
        server.off('error', onError);
        const bound = server.address() as AddressInfo;
        this.#bound = bound.port;
        this.#log.info({ code: 'LISTENING', address: bound.address, port: bound.port }, 'listening');
        resolve({ address: bound.address, port: bound.port });
      });
    });
  }

  /** The channels open now (a drain closes them one by one). */
  channels(): ClientChannel[] {
    const out: ClientChannel[] = [];
    for (const conn of this.#connections)
      if (conn.channel !== undefined && !conn.channel.closed) out.push(conn.channel);
    return out;
  }

  /**
   * Stop listening (new connections are refused by the OS, so a balancer retries elsewhere); open
   * connections stay. `resumeAccepting()` listens again on the same address. Idempotent.
   */
  pauseAccepting(): void {
    if (this.#paused || this.#closing !== undefined || !this.#server.listening) return;
    this.#paused = true;
    this.#server.close();
    this.#log.info({ code: 'LISTENER_PAUSED' }, 'not accepting new connections');
  }

  /** Listen again after pauseAccepting() (resolves once listening; no-op while closing). */
  resumeAccepting(): Promise<void> {
    if (!this.#paused || this.#closing !== undefined) return Promise.resolve();
    this.#paused = false;
    return this.listen().then(
      () => {
        this.#log.info({ code: 'LISTENER_RESUMED' }, 'accepting connections again');
      },
      (err: unknown) => {
        this.#paused = true;
        throw err;
      },
    );
  }

  /** Close every channel with SHUTDOWN; resolves once every connection is gone. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#server.close(() => {
        this.#wheel.close();
        resolve();
      });
      for (const conn of [...this.#connections]) {
        if (conn.channel !== undefined) conn.channel.close('SHUTDOWN', 'the station is shutting down');
        else conn.socket.destroy();
      }
      this.#wss.close();
    });
    return this.#closing;
  }

  // ---- accepting ----------------------------------------------------------------------------------

  #accept(socket: Socket): void {
    if (this.#closing !== undefined) {
      socket.destroy();
      return;
    }
    if (this.#connections.size >= this.#maxConnections + REJECT_BACKLOG) {
      this.#log.warn({ code: 'TOO_MANY_CONNECTIONS', remote: socket.remoteAddress }, 'connection dropped');
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const peer = plainAddress(socket.remoteAddress);
    if (this.#trustedProxies !== undefined && !isTrusted(this.#trustedProxies, peer)) {
      this.#log.warn(
        { code: 'PROXY_UNTRUSTED', remote: peer },
        'connection from a peer that is no trusted proxy',
      );
      socket.destroy();
      return;
    }
    const conn: Connection = {
      socket,
      raw: socket,
      tls: false,
      stage: 'detect',
      buffer: EMPTY,
      remote: { address: plainAddress(socket.remoteAddress), port: socket.remotePort ?? 0 },
      proxyDone: this.#proxy === 'off',
      countedIp: undefined,
      rejected: false,
      timer: undefined,
      channel: undefined,
      onData: (chunk: Buffer) => this.#onDetectData(conn, chunk),
    };
    this.#connections.add(conn);
    this.#bySocket.set(socket, conn);
    socket.on('error', (err: Error) => {
      if (conn.stage !== 'channel')
        this.#log.debug({ code: 'SOCKET_ERROR', err: err.message }, 'socket error');
    });
    socket.on('close', () => this.#release(conn));
    let window = this.#detectTimeout;
    if (this.#connections.size > this.#maxConnections) {
      conn.rejected = true;
      window = Math.min(window, REJECT_WINDOW);
    }
    conn.timer = setTimeout(() => this.#onDetectTimeout(conn), window);
    conn.timer.unref();
    if (conn.proxyDone) this.#countIp(conn);
    socket.on('data', conn.onData);
  }

  #release(conn: Connection): void {
    clearTimeout(conn.timer);
    this.#connections.delete(conn);
    if (conn.countedIp !== undefined) {
      const left = (this.#perIp.get(conn.countedIp) ?? 1) - 1;
      if (left > 0) this.#perIp.set(conn.countedIp, left);
      else this.#perIp.delete(conn.countedIp);
      conn.countedIp = undefined;
    }
  }

  #countIp(conn: Connection): void {
    const ip = conn.remote.address;
    const count = this.#perIp.get(ip) ?? 0;
    if (count >= this.#maxPerIp) {
      if (!conn.rejected) {
        conn.rejected = true;
        clearTimeout(conn.timer);
        conn.timer = setTimeout(
          () => this.#onDetectTimeout(conn),
          Math.min(this.#detectTimeout, REJECT_WINDOW),
        );
        conn.timer.unref();
      }
      return;
    }
    this.#perIp.set(ip, count + 1);
    conn.countedIp = ip;
  }

  #onDetectData(conn: Connection, chunk: Buffer): void {
    conn.buffer = conn.buffer.length === 0 ? chunk : Buffer.concat([conn.buffer, chunk]);
    if (!conn.proxyDone && !this.#readProxyHeader(conn)) return;
    const kind = sniffProtocol(conn.buffer);
    if (kind === 'incomplete') return;
    const { socket } = conn;
    socket.off('data', conn.onData);
    const rest = conn.buffer;
    conn.buffer = EMPTY;
    if (kind === 'tls' && this.#tls !== undefined && !conn.tls) {
      this.#startTls(conn, rest);
      return;
    }
    if (kind === 'unknown' || kind === 'tls') {
      this.#drop(conn, 'UNKNOWN_PROTOCOL', 'unrecognised framing', rest.subarray(0, 16).toString('hex'));
      return;
    }
    this.#startChannel(conn, kind, rest);
  }

  #startChannel(conn: Connection, kind: ReturnType<typeof sniffProtocol>, rest: Buffer): void {
    const { socket } = conn;
    if (kind !== 'mtp' && kind !== 'websocket') {
      this.#drop(conn, 'UNKNOWN_PROTOCOL', 'unrecognised framing', rest.subarray(0, 16).toString('hex'));
      return;
    }
    if (conn.rejected) {
      this.#turnAway(conn, kind);
      return;
    }
    if (kind === 'mtp') {
      clearTimeout(conn.timer);
      conn.timer = undefined;
      conn.stage = 'channel';
      const id = this.#nextId('m');
      const channel = new MtpChannel(socket, rest, conn.remote, this.#channelInit(id, conn));
      this.#started(conn, channel);
      return;
    }
    // websocket: let the HTTP parser read the request (bytes so far included)
    conn.stage = 'http';
    socket.unshift(rest);
    this.#http.emit('connection', socket);
  }

  /**
   * Terminate TLS on this connection: a server TLSSocket over a stream fed with the bytes read so far and
   * everything after, then detection starts again on the decrypted bytes (MTP or WebSocket).
   */
  #startTls(conn: Connection, initial: Buffer): void {
    const raw = conn.raw;
    let context: SecureContext;
    try {
      context = (this.#tls as () => SecureContext)();
    } catch (err) {
      this.#drop(conn, 'TLS_ERROR', err instanceof Error ? err.message : String(err));
      return;
    }
    const carrier = new Duplex({
      read: () => raw.resume(),
      write: (chunk: Buffer, _encoding, callback) => {
        if (raw.destroyed) callback();
        else raw.write(chunk, () => callback());
      },
      final: (callback) => {
        raw.end();
        callback();
      },
      destroy: (_err, callback) => {
        raw.destroy();
        callback(null);
      },
    });
    carrier.push(initial);
    raw.on('data', (chunk: Buffer) => {
      if (!carrier.push(chunk)) raw.pause();
    });
    raw.on('end', () => carrier.push(null));
    raw.on('close', () => carrier.destroy());
    const secure = new TLSSocket(carrier as unknown as Socket, { isServer: true, secureContext: context });
    let established = false;
    let failed = false;
    secure.once('secure', () => (established = true));
    secure.on('error', (err: Error) => {
      if (conn.stage === 'channel' || failed) return;
      failed = true;
      this.#drop(conn, 'TLS_ERROR', `TLS handshake failed: ${err.message}`);
    });
    secure.on('close', () => {
      if (!established && !failed) {
        failed = true;
        this.#drop(
          conn,
          'TLS_ERROR',
          'the client closed during the TLS handshake (certificate not trusted?)',
        );
      }
      raw.destroy();
    });
    conn.socket = secure;
    conn.tls = true;
    conn.buffer = EMPTY;
    this.#bySocket.set(secure, conn);
    const onData = (chunk: Buffer): void => this.#onTlsDetectData(conn, chunk, onData);
    secure.on('data', onData);
  }

  #onTlsDetectData(conn: Connection, chunk: Buffer, self: (chunk: Buffer) => void): void {
    conn.buffer = conn.buffer.length === 0 ? chunk : Buffer.concat([conn.buffer, chunk]);
    const kind = sniffProtocol(conn.buffer);
    if (kind === 'incomplete') return;
    conn.socket.off('data', self);
    const rest = conn.buffer;
    conn.buffer = EMPTY;
    this.#startChannel(conn, kind, rest);
  }

  /** Parses the PROXY header; true once done (the buffer then holds what follows it). */
  #readProxyHeader(conn: Connection): boolean {
    if (this.#proxy === 'optional' && !mayBeProxyHeader(conn.buffer)) {
      conn.proxyDone = true;
      this.#countIp(conn);
      return true;
    }
    let result;
    try {
      result = parseProxyHeader(conn.buffer);
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'PROXY_BAD_HEADER';
      conn.socket.off('data', conn.onData);
      this.#drop(conn, 'PROXY_ERROR', err instanceof Error ? err.message : String(err), code);
      return false;
    }
    if (result.status === 'incomplete') return false;
    if (result.source !== undefined) {
      conn.remote = { address: plainAddress(result.source.address), port: result.source.port };
    }
    conn.buffer = conn.buffer.subarray(result.consumed);
    conn.proxyDone = true;
    this.#countIp(conn);
    return true;
  }

  /** Over a limit: tell the client why (BYE / 503), then close. */
  #turnAway(conn: Connection, kind: 'mtp' | 'websocket'): void {
    const { socket } = conn;
    const reason =
      this.#connections.size > this.#maxConnections
        ? `more than ${this.#maxConnections} connections`
        : `more than ${this.#maxPerIp} connections from ${conn.remote.address}`;
    this.#log.warn({ code: 'TOO_MANY_CONNECTIONS', remote: conn.remote.address, kind }, reason);
    clearTimeout(conn.timer);
    socket.end(kind === 'mtp' ? encodeMtpBye('TOO_MANY_CONNECTIONS', reason) : HTTP_503);
    conn.timer = setTimeout(
      () => socket.destroy(),
      this.#channelOptions.closeGrace ?? CHANNEL_DEFAULTS.closeGrace,
    );
    conn.timer.unref();
  }

  /** Closes without writing anything. */
  #drop(conn: Connection, code: CloseCode, reason: string, detail?: string): void {
    this.#log.info({ code, remote: conn.remote.address, detail }, reason);
    clearTimeout(conn.timer);
    conn.socket.destroy();
    conn.raw.destroy();
  }

  #onDetectTimeout(conn: Connection): void {
    if (conn.stage === 'channel') return;
    conn.socket.off('data', conn.onData);
    this.#drop(
      conn,
      'HANDSHAKE_TIMEOUT',
      `no framing recognised within ${this.#detectTimeout} ms`,
      conn.stage,
    );
  }

  // ---- WebSocket ----------------------------------------------------------------------------------

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.#log.info(
      { code: 'HTTP_NO_UPGRADE', method: req.method, url: req.url },
      'HTTP request without upgrade',
    );
    res.writeHead(426, { Connection: 'close', Upgrade: 'websocket', 'Content-Type': 'text/plain' });
    res.end('Upgrade Required\n');
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const conn = this.#bySocket.get(socket);
    if (conn === undefined || this.#closing !== undefined) {
      socket.destroy();
      return;
    }
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
      this.#log.info({ code: 'HTTP_NO_UPGRADE', upgrade: req.headers.upgrade }, 'not a WebSocket upgrade');
      socket.end(HTTP_426);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      clearTimeout(conn.timer);
      conn.timer = undefined;
      if (this.#closing !== undefined) {
        ws.terminate();
        return;
      }
      conn.stage = 'channel';
      const id = this.#nextId('w');
      const channel = new WsChannel(ws, conn.remote, this.#channelInit(id, conn), socket);
      this.#started(conn, channel);
    });
  }

  // ---- channels -----------------------------------------------------------------------------------

  #nextId(prefix: 'm' | 'w'): string {
    this.#seq += 1;
    return `${prefix}${this.#seq}`;
  }

  #channelInit(id: string, conn: Connection): ChannelInit {
    const parent = this.#channelOptions.logger ?? this.#log;
    return {
      id,
      resolved: this.#resolved,
      wheel: this.#wheel,
      logger: new BoundLogger(parent, { conn: id, remote: conn.remote.address }),
    };
  }

  #started(conn: Connection, channel: ClientChannel): void {
    conn.channel = channel;
    this.#log.debug({ code: 'CHANNEL_OPEN', conn: channel.id, kind: channel.kind }, 'channel open');
    try {
      this.#onChannel(channel);
    } catch (err) {
      this.#log.error({ err, code: 'HANDLER_ERROR' }, 'onChannel threw');
      channel.close('PROTOCOL_ERROR', 'internal error');
    }
  }
}

function blockListOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(bits), family);
  }
  return list;
}

function isTrusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

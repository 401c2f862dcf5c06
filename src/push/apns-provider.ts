/**
 * APNs over HTTP/2 (push-providers.md §1): token auth (ApnsProviderToken), one long-lived multiplexed
 * connection per host (production / sandbox per device), in-flight streams capped at the server's
 * SETTINGS_MAX_CONCURRENT_STREAMS (1 until the server raises it), PING health checks, and reconnection on
 * GOAWAY: streams above the GOAWAY's last stream ID (or refused) are resent once on a new connection,
 * those at or below it are never resent here. Status and `reason` map onto SendResults per §1.6.
 */
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import type { ApnsProviderToken } from './apns-token.ts';
import { maskToken } from './device-token.ts';
import type { PushMessage, PushProvider, SendResult } from './push-provider.ts';
import { parseRetryAfter } from './push-provider.ts';

export const APNS_PRODUCTION_URL = 'https://api.push.apple.com';
export const APNS_SANDBOX_URL = 'https://api.sandbox.push.apple.com';

export interface ApnsProviderOptions {
  readonly token: ApnsProviderToken;
  /** Topic (bundle ID) for devices that reported none. */
  readonly topic: string | undefined;
  /** Environment for devices that did not say. */
  readonly sandbox: boolean;
  readonly productionUrl?: string;
  readonly sandboxUrl?: string;
  /** Extra CA certificates to trust (PEM): tests' CA, or a corporate proxy's. */
  readonly ca?: string | Buffer | undefined;
  /** A request without an answer after this long is cancelled and retried later (ms, default 10 s). */
  readonly requestTimeoutMs?: number;
  /** PING an idle connection this often (ms, default 60 s). */
  readonly pingIntervalMs?: number;
  /** Notifications expire this long after the message (ms, default 1 day). */
  readonly expirationMs?: number;
  readonly logger?: Logger;
}

/** A stream to resend on a new connection (it never reached the application). */
const RESEND = Symbol('resend');
type Attempt = SendResult | typeof RESEND;

const DROP_TOKEN = new Set(['BadDeviceToken', 'DeviceTokenNotForTopic', 'Unregistered', 'ExpiredToken']);

class ApnsConnection {
  readonly session: ClientHttp2Session;
  readonly url: string;
  #inflight = 0;
  #limit = 1;
  #settled = false;
  readonly #waiters: ((ok: boolean) => void)[] = [];
  dead = false;
  lastStreamId: number | undefined;
  #ping: ReturnType<typeof setInterval> | undefined;

  constructor(
    url: string,
    ca: string | Buffer | undefined,
    pingIntervalMs: number,
    log: Logger,
    onDead: () => void,
  ) {
    this.url = url;
    this.session = http2.connect(url, {
      ...(ca === undefined ? {} : { ca }),
      minVersion: 'TLSv1.2',
      peerMaxConcurrentStreams: 1,
    });
    const die = (): void => {
      if (this.dead) return;
      this.dead = true;
      clearInterval(this.#ping);
      onDead();
      for (const waiter of this.#waiters.splice(0)) waiter(false);
    };
    this.session.on('remoteSettings', (settings) => {
      this.#settled = true;
      this.#limit = Math.max(1, Math.min(settings.maxConcurrentStreams ?? 1000, 10_000));
      this.#wake();
    });
    this.session.on('goaway', (errorCode: number, lastStreamID: number, opaque?: Buffer) => {
      this.lastStreamId = lastStreamID;
      let reason: unknown;
      try {
        reason =
          opaque && opaque.length > 0
            ? (JSON.parse(opaque.toString('utf8')) as { reason?: unknown }).reason
            : undefined;
      } catch {
        reason = undefined;
      }
      log.warn(
        { code: 'APNS_GOAWAY', url, errorCode, lastStreamId: lastStreamID, reason },
        'APNs closed the connection; reconnecting',
      );
      die();
    });
    this.session.on('error', (err: Error) => {
      log.warn({ code: 'APNS_CONNECTION_ERROR', url, err: err.message }, 'APNs connection failed');
      die();
    });
    this.session.on('close', die);
    this.#ping = setInterval(() => {
      if (this.dead || this.#inflight > 0) return;
      this.session.ping((err) => {
        if (err && !this.dead) {
          log.warn({ code: 'APNS_PING_FAILED', url, err: err.message }, 'APNs connection unhealthy');
          this.session.destroy();
        }
      });
    }, pingIntervalMs);
    this.#ping.unref();
  }

  /** Wait for a stream slot; false when the connection died meanwhile. */
  acquire(): Promise<boolean> {
    if (this.dead) return Promise.resolve(false);
    if (this.#inflight < this.#limit) {
      this.#inflight += 1;
      return Promise.resolve(true);
    }
    return new Promise((resolve) =>
      this.#waiters.push((ok) => {
        if (ok) this.#inflight += 1;
        resolve(ok);
      }),
    );
  }

  release(): void {
    this.#inflight -= 1;
    this.#wake();
  }

  /** How many streams may be open at once now (the server's setting once known). */
  get limit(): number {
    return this.#settled ? this.#limit : 1;
  }

  get inflight(): number {
    return this.#inflight;
  }

  #wake(): void {
    while (this.#waiters.length > 0 && this.#inflight < this.#limit) this.#waiters.shift()?.(true);
  }

  close(): void {
    this.dead = true;
    clearInterval(this.#ping);
    for (const waiter of this.#waiters.splice(0)) waiter(false);
    if (!this.session.closed) this.session.close();
  }
}

function uuidFrom(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The APNs collapse ID of a conversation: ≤ 64 bytes whatever the ID's length. */
export function collapseId(conversation: string): string {
  return `dim-${createHash('sha256').update(conversation).digest('hex').slice(0, 40)}`;
}

export class ApnsProvider implements PushProvider {
  readonly name = 'apns' as const;
  readonly #o: ApnsProviderOptions;
  readonly #log: Logger;
  readonly #connections = new Map<string, ApnsConnection>();
  /** Connections opened so far (tests, metrics). */
  connectionsOpened = 0;
  #closed = false;

  constructor(options: ApnsProviderOptions) {
    this.#o = options;
    this.#log = (options.logger ?? silentLogger).child({ module: 'apns' });
  }

  async send(message: PushMessage): Promise<SendResult> {
    if (this.#closed) return { kind: 'retry', reason: 'closed' };
    const { device } = message;
    const topic = device.topic ?? this.#o.topic;
    if (topic === undefined) return { kind: 'rejected', reason: 'MissingTopic' };
    const sandbox = device.sandbox ?? this.#o.sandbox;
    const url = sandbox
      ? (this.#o.sandboxUrl ?? APNS_SANDBOX_URL)
      : (this.#o.productionUrl ?? APNS_PRODUCTION_URL);
    const payload = JSON.stringify(this.#payload(message));
    for (let attempt = 0; attempt < 3; attempt++) {
      const connection = this.#connection(url);
      if (!(await connection.acquire())) continue;
      let result: Attempt;
      try {
        result = await this.#request(connection, message, topic, payload);
      } finally {
        connection.release();
      }
      if (result !== RESEND) {
        if (result.kind !== 'sent')
          this.#log.info(
            {
              code: 'APNS_NOT_SENT',
              token: maskToken(device.token),
              result: result.kind,
              reason: result.reason,
            },
            'APNs did not take a notification',
          );
        return result;
      }
    }
    return { kind: 'retry', reason: 'ConnectionLost' };
  }

  #payload(message: PushMessage): Record<string, unknown> {
    const n = message.notification;
    return {
      aps: {
        alert: { title: n.title, body: n.body },
        badge: n.badge,
        sound: 'default',
        'thread-id': n.conversation,
        'mutable-content': 1,
      },
      dim: { sender: n.sender, ...(n.group === undefined ? {} : { group: n.group }), count: n.count },
    };
  }

  #connection(url: string): ApnsConnection {
    let connection = this.#connections.get(url);
    if (connection === undefined || connection.dead) {
      const created = new ApnsConnection(url, this.#o.ca, this.#o.pingIntervalMs ?? 60_000, this.#log, () => {
        if (this.#connections.get(url) === created) this.#connections.delete(url);
      });
      connection = created;
      this.connectionsOpened += 1;
      this.#connections.set(url, connection);
    }
    return connection;
  }

  #request(
    connection: ApnsConnection,
    message: PushMessage,
    topic: string,
    payload: string,
  ): Promise<Attempt> {
    const { device, notification } = message;
    const jwt = this.#o.token.get();
    const expiration = Math.floor((notification.time + (this.#o.expirationMs ?? 24 * 3600_000)) / 1000);
    return new Promise<Attempt>((resolve) => {
      let stream: ClientHttp2Stream;
      try {
        stream = connection.session.request({
          ':method': 'POST',
          ':path': `/3/device/${device.token}`,
          authorization: `bearer ${jwt}`,
          'apns-topic': topic,
          'apns-push-type': 'alert',
          'apns-priority': '10',
          'apns-expiration': String(Math.max(0, expiration)),
          'apns-collapse-id': collapseId(notification.conversation),
          'apns-id': uuidFrom(message.deliveryId),
          'content-type': 'application/json',
        });
      } catch {
        resolve(RESEND); // the session closed between acquire and request
        return;
      }
      let headers: IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      stream.setTimeout(this.#o.requestTimeoutMs ?? 10_000, () => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
      });
      stream.on('response', (h) => (headers = h));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (headers === undefined) return;
        // 500 / 503 (ServiceUnavailable, Shutdown): the next requests go over a new connection
        if (Number(headers[':status']) >= 500) connection.close();
        resolve(this.#classify(headers, Buffer.concat(chunks).toString('utf8'), jwt));
      });
      stream.on('close', () => {
        if (headers !== undefined && stream.readableEnded) return;
        const refused = stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
        const last = connection.lastStreamId;
        const beyondGoaway = last !== undefined && (stream.id === undefined || stream.id > last);
        if (headers === undefined && (refused || beyondGoaway || stream.id === undefined)) resolve(RESEND);
        else resolve({ kind: 'retry', reason: `StreamClosed(${stream.rstCode})` });
      });
      stream.on('error', () => {
        // 'close' follows and decides
      });
      stream.end(payload);
    });
  }

  #classify(headers: IncomingHttpHeaders, body: string, jwt: string): SendResult {
    const status = Number(headers[':status']);
    if (status === 200) {
      const id = headers['apns-id'];
      return { kind: 'sent', id: typeof id === 'string' ? id : undefined };
    }
    let reason = `HTTP${status}`;
    let timestamp: number | undefined;
    try {
      const parsed = JSON.parse(body) as { reason?: unknown; timestamp?: unknown };
      if (typeof parsed.reason === 'string') reason = parsed.reason;
      if (typeof parsed.timestamp === 'number') timestamp = parsed.timestamp;
    } catch {
      // no JSON body: the status decides
    }
    if (DROP_TOKEN.has(reason) || status === 410) return { kind: 'unregistered', reason, timestamp };
    if (reason === 'ExpiredProviderToken') {
      this.#o.token.expired(jwt);
      return { kind: 'retry', reason, retryAfterMs: 1000 };
    }
    if (reason === 'IdleTimeout') return { kind: 'retry', reason };
    if (status === 429 || status >= 500) {
      return { kind: 'retry', reason, retryAfterMs: parseRetryAfter(headers['retry-after']) };
    }
    if (status === 403)
      this.#log.error({ code: 'APNS_AUTH_REJECTED', reason }, 'APNs refused the provider credentials');
    return { kind: 'rejected', reason };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const connection of this.#connections.values()) connection.close();
    this.#connections.clear();
  }
}

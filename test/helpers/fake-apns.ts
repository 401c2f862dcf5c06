/**
 * A local APNs provider API (push-providers.md §1, §4) for tests and benchmarks: HTTP/2 over TLS (a test
 * CA's certificate, HTTP/1 refused), `POST /3/device/<hex>` only, the request headers validated with
 * APNs's 400 reasons, the ES256 provider JWT checked (kid / iss / signature / age / update rate), tokens
 * registered to topics (others: BadDeviceToken, DeviceTokenNotForTopic), SETTINGS_MAX_CONCURRENT_STREAMS 1
 * until the first valid JWT and then `maxStreams` (the client exceeding it is counted), scripted answers
 * per token (410 Unregistered with a ms timestamp, 429, 500, 503…), GOAWAY on demand, and a record of
 * every request.
 */
import { randomUUID, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import http2 from 'node:http2';
import type { Http2Server, Http2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { TestTls } from './push-credentials.ts';

export interface ApnsRequestRecord {
  readonly token: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly session: number;
  readonly streamId: number;
  readonly at: number;
  readonly status: number;
  readonly reason?: string;
}

export interface ScriptedAnswer {
  readonly status: number;
  readonly reason?: string;
  readonly retryAfter?: string;
  /** Answer after this long (ms). */
  readonly delayMs?: number;
}

export interface FakeApnsOptions {
  readonly tls: TestTls;
  readonly keys: readonly { keyId: string; teamId: string; publicKey: KeyObject }[];
  /** Max concurrent streams once a valid JWT was seen (default 1000). */
  readonly maxStreams?: number;
  /** Answer every successful request after this long (ms, default 0). */
  readonly latencyMs?: number;
  /** Keep no per-request record (benchmarks). */
  readonly recordRequests?: boolean;
}

const PUSH_TYPES = new Set([
  'alert',
  'background',
  'voip',
  'complication',
  'fileprovider',
  'mdm',
  'location',
  'liveactivity',
  'pushtotalk',
]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface SessionState {
  readonly id: number;
  inflight: number;
  authorized: boolean;
  /** The connection's provider token and when it was first used (updates within 20 min are refused). */
  jwt?: { value: string; at: number; iat: number };
  /** Highest stream ID processed, and the last stream ID of a GOAWAY sent. */
  maxProcessed: number;
  goawayLast?: number;
}

export class FakeApns {
  readonly server: Http2Server;
  readonly requests: ApnsRequestRecord[] = [];
  /** Successful (200) notifications per token. */
  readonly delivered = new Map<string, number>();
  delivered200 = 0;
  connections = 0;
  /** Times a client opened more streams than the server allowed. */
  streamLimitViolations = 0;
  maxObservedInflight = 0;
  port = 0;
  readonly #o: FakeApnsOptions;
  readonly #topics = new Map<string, string>();
  readonly #scripts = new Map<string, ScriptedAnswer[]>();
  readonly #sessions = new Map<Http2Session, SessionState>();
  #goawayAfter: number | undefined;
  #received = 0;

  constructor(options: FakeApnsOptions) {
    this.#o = options;
    this.server = http2.createSecureServer({
      key: options.tls.key,
      cert: options.tls.cert,
      allowHTTP1: false,
      minVersion: 'TLSv1.2',
      settings: { maxConcurrentStreams: 1 },
    });
    this.server.on('session', (session) => {
      this.connections += 1;
      this.#sessions.set(session, { id: this.connections, inflight: 0, authorized: false, maxProcessed: 0 });
      session.on('close', () => this.#sessions.delete(session));
      session.on('error', () => undefined);
    });
    this.server.on('stream', (stream, headers) => this.#onStream(stream, headers));
  }

  get url(): string {
    return `https://localhost:${this.port}`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  /** Accept `token` for `topic`. */
  register(token: string, topic: string): void {
    this.#topics.set(token, topic);
  }

  /** The next requests for `token` get these answers, in order. */
  script(token: string, answers: readonly ScriptedAnswer[]): void {
    this.#scripts.set(token, [...(this.#scripts.get(token) ?? []), ...answers]);
  }

  /** After the n-th request from now, send GOAWAY (last stream = that request's) and close the session. */
  goawayAfter(n: number): void {
    this.#goawayAfter = this.#received + n;
  }

  count(token: string): number {
    return this.delivered.get(token) ?? 0;
  }

  async close(): Promise<void> {
    for (const session of this.#sessions.keys()) session.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const session = stream.session;
    const state = session ? this.#sessions.get(session) : undefined;
    if (!state || !session) {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    state.inflight += 1;
    this.maxObservedInflight = Math.max(this.maxObservedInflight, state.inflight);
    const limit = state.authorized ? (this.#o.maxStreams ?? 1000) : 1;
    if (state.inflight > limit) this.streamLimitViolations += 1;
    stream.on('close', () => (state.inflight -= 1));
    stream.on('error', () => undefined);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      // after a GOAWAY, streams above its last stream ID are not processed (RFC 9113 §6.8)
      if (state.goawayLast !== undefined && (stream.id ?? 0) > state.goawayLast) {
        stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      this.#received += 1;
      state.maxProcessed = Math.max(state.maxProcessed, stream.id ?? 0);
      const body = Buffer.concat(chunks).toString('utf8');
      this.#handle(stream, headers, body, state);
      if (this.#goawayAfter !== undefined && this.#received >= this.#goawayAfter) {
        this.#goawayAfter = undefined;
        state.goawayLast = state.maxProcessed;
        session.goaway(
          http2.constants.NGHTTP2_NO_ERROR,
          state.maxProcessed,
          Buffer.from('{"reason":"Shutdown"}'),
        );
        setTimeout(() => session.close(), 50);
      }
    });
  }

  #answer(
    stream: ServerHttp2Stream,
    record: Omit<ApnsRequestRecord, 'status' | 'reason'>,
    status: number,
    reason?: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ): void {
    if (this.#o.recordRequests !== false) this.requests.push({ ...record, status, reason });
    if (status === 200) {
      // accepted: APNs delivers it whether or not the client is still there to read the answer
      this.delivered200 += 1;
      this.delivered.set(record.token, (this.delivered.get(record.token) ?? 0) + 1);
    }
    if (stream.destroyed || stream.closed) return;
    const apnsId = typeof record.headers['apns-id'] === 'string' ? record.headers['apns-id'] : randomUUID();
    if (status === 200) {
      stream.respond({ ':status': 200, 'apns-id': apnsId }, { endStream: true });
      return;
    }
    stream.respond({ ':status': status, 'apns-id': apnsId, 'content-type': 'application/json', ...headers });
    stream.end(JSON.stringify({ reason, ...extra }));
  }

  #handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, body: string, state: SessionState): void {
    const path = String(headers[':path'] ?? '');
    const match = /^\/3\/device\/([^/]*)$/.exec(path);
    const token = match?.[1] ?? '';
    const record = {
      token,
      headers,
      body,
      session: state.id,
      streamId: stream.id ?? 0,
      at: performance.now(),
    };
    const fail = (
      status: number,
      reason: string,
      extra?: Record<string, unknown>,
      h?: Record<string, string>,
    ): void => this.#answer(stream, record, status, reason, extra, h);
    if (headers[':method'] !== 'POST') return fail(405, 'MethodNotAllowed');
    if (!match) return fail(404, 'BadPath');
    if (token === '') return fail(400, 'MissingDeviceToken');
    const auth = this.#checkJwt(headers['authorization'], state);
    if (auth !== undefined) return fail(auth.status, auth.reason);
    if (!state.authorized) {
      state.authorized = true;
      stream.session?.settings({ maxConcurrentStreams: this.#o.maxStreams ?? 1000 });
    }
    const topic = headers['apns-topic'];
    if (typeof topic !== 'string' || topic === '') return fail(400, 'MissingTopic');
    const pushType = headers['apns-push-type'];
    if (pushType !== undefined && !PUSH_TYPES.has(String(pushType))) return fail(400, 'InvalidPushType');
    const priority = headers['apns-priority'];
    if (priority !== undefined && !['10', '5', '1'].includes(String(priority)))
      return fail(400, 'BadPriority');
    const collapse = headers['apns-collapse-id'];
    if (collapse !== undefined && Buffer.byteLength(String(collapse)) > 64) return fail(400, 'BadCollapseId');
    const id = headers['apns-id'];
    if (id !== undefined && !UUID.test(String(id))) return fail(400, 'BadMessageId');
    const expiration = headers['apns-expiration'];
    if (expiration !== undefined && !/^\d+$/.test(String(expiration))) return fail(400, 'BadExpirationDate');
    if (body.length === 0) return fail(400, 'PayloadEmpty');
    if (Buffer.byteLength(body) > 4096) return fail(413, 'PayloadTooLarge');
    try {
      const payload = JSON.parse(body) as { aps?: unknown };
      if (payload.aps === null || typeof payload.aps !== 'object') return fail(400, 'BadPayload');
    } catch {
      return fail(400, 'BadPayload');
    }
    const registered = this.#topics.get(token);
    if (registered === undefined) return fail(400, 'BadDeviceToken');
    if (registered !== topic) return fail(400, 'DeviceTokenNotForTopic');
    const scripted = this.#scripts.get(token)?.shift();
    const respond = (): void => {
      if (scripted === undefined || scripted.status === 200) return this.#answer(stream, record, 200);
      if (scripted.status === 410)
        return fail(410, scripted.reason ?? 'Unregistered', { timestamp: Date.now() });
      return fail(
        scripted.status,
        scripted.reason ?? 'ServiceUnavailable',
        {},
        scripted.retryAfter === undefined ? {} : { 'retry-after': scripted.retryAfter },
      );
    };
    const delay = scripted?.delayMs ?? this.#o.latencyMs ?? 0;
    if (delay > 0) setTimeout(respond, delay);
    else respond();
  }

  #checkJwt(authorization: unknown, state: SessionState): { status: number; reason: string } | undefined {
    if (typeof authorization !== 'string' || !authorization.startsWith('bearer '))
      return { status: 403, reason: 'MissingProviderToken' };
    const jwt = authorization.slice(7);
    // the connection's current token was verified when first seen; only its age is checked again
    if (state.jwt?.value === jwt) {
      const iat = state.jwt.iat;
      return Date.now() / 1000 - iat > 3600 ? { status: 403, reason: 'ExpiredProviderToken' } : undefined;
    }
    const parts = jwt.split('.');
    if (parts.length !== 3) return { status: 403, reason: 'InvalidProviderToken' };
    let header: { alg?: string; kid?: string };
    let claims: { iss?: string; iat?: number };
    try {
      header = JSON.parse(Buffer.from(parts[0] as string, 'base64url').toString('utf8')) as typeof header;
      claims = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return { status: 403, reason: 'InvalidProviderToken' };
    }
    if (header.alg !== 'ES256') return { status: 403, reason: 'InvalidProviderToken' };
    const key = this.#o.keys.find((k) => k.keyId === header.kid && k.teamId === claims.iss);
    if (!key) return { status: 403, reason: 'InvalidProviderToken' };
    const ok = verify(
      'sha256',
      Buffer.from(`${parts[0]}.${parts[1]}`),
      { key: key.publicKey, dsaEncoding: 'ieee-p1363' },
      Buffer.from(parts[2] as string, 'base64url'),
    );
    if (!ok) return { status: 403, reason: 'InvalidProviderToken' };
    const now = Date.now();
    if (typeof claims.iat !== 'number' || now / 1000 - claims.iat > 3600)
      return { status: 403, reason: 'ExpiredProviderToken' };
    const last = state.jwt;
    if (last === undefined || last.value !== jwt) {
      if (last !== undefined && now - last.at < 20 * 60_000)
        return { status: 429, reason: 'TooManyProviderTokenUpdates' };
      state.jwt = { value: jwt, at: now, iat: claims.iat };
    }
    return undefined;
  }
}

/**
 * A local FCM HTTP v1 service (push-providers.md §2, §4) over HTTPS with the test CA: the OAuth2 token
 * endpoint (`POST /token`: jwt-bearer grant, RS256 assertion verified with the service account's public
 * key, `iss` / `aud` / `scope` / lifetime checked, short configurable `expires_in`, exchanges counted) and
 * `POST /v1/projects/<id>/messages:send` (bearer checked, one target, string-only `data`, 4096 bytes,
 * `android.priority`, `ttl`; scripted errors per token in FCM's canonical body, Retry-After in seconds or
 * HTTP-date forms, a non-JSON 502).
 */
import { randomBytes, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TestTls } from './push-credentials.ts';

export interface FcmScriptedAnswer {
  readonly status: number;
  /** FcmError errorCode (UNREGISTERED, UNAVAILABLE, QUOTA_EXCEEDED, INTERNAL…) or 'HTML' for a non-JSON page. */
  readonly errorCode?: string;
  readonly retryAfter?: string;
}

export interface FcmRecord {
  readonly token: string;
  readonly message: Record<string, unknown>;
  readonly status: number;
  readonly at: number;
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

export class FakeFcm {
  readonly server: https.Server;
  readonly requests: FcmRecord[] = [];
  readonly delivered = new Map<string, number>();
  tokenExchanges = 0;
  port = 0;
  expiresIn = 3600;
  projectId: string;
  clientEmail: string;
  publicKey: KeyObject | undefined;
  readonly #tokens = new Map<string, number>();
  readonly #scripts = new Map<string, FcmScriptedAnswer[]>();
  #messages = 0;

  constructor(tls: TestTls, account: { projectId: string; clientEmail: string; publicKey?: KeyObject }) {
    this.projectId = account.projectId;
    this.clientEmail = account.clientEmail;
    this.publicKey = account.publicKey;
    this.server = https.createServer({ key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2' }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.#route(req, res, Buffer.concat(chunks).toString('utf8')));
    });
  }

  get url(): string {
    return `https://localhost:${this.port}`;
  }

  get tokenUri(): string {
    return `${this.url}/token`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  script(token: string, answers: readonly FcmScriptedAnswer[]): void {
    this.#scripts.set(token, [...(this.#scripts.get(token) ?? []), ...answers]);
  }

  /** Forget every access token issued (the next sends get a bare 401). */
  revokeTokens(): void {
    this.#tokens.clear();
  }

  count(token: string): number {
    return this.delivered.get(token) ?? 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  #error(
    res: ServerResponse,
    status: number,
    errorCode?: string,
    headers: Record<string, string> = {},
    violations?: string[],
  ): void {
    const details: unknown[] = [];
    if (errorCode !== undefined)
      details.push({ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode });
    if (violations)
      details.push({
        '@type': 'type.googleapis.com/google.rpc.BadRequest',
        fieldViolations: violations.map((field) => ({ field, description: 'invalid' })),
      });
    this.#json(
      res,
      status,
      {
        error: {
          code: status,
          message: errorCode ?? STATUS_NAMES[status] ?? 'error',
          status: STATUS_NAMES[status] ?? 'UNKNOWN',
          details,
        },
      },
      headers,
    );
  }

  #route(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = req.url ?? '';
    if (req.method === 'POST' && url === '/token') return this.#token(res, body);
    const send = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(url);
    if (req.method === 'POST' && send)
      return this.#send(req, res, decodeURIComponent(send[1] as string), body);
    this.#error(res, 404);
  }

  #token(res: ServerResponse, body: string): void {
    const form = new URLSearchParams(body);
    const refuse = (description: string): void =>
      this.#json(res, 400, { error: 'invalid_grant', error_description: description });
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      this.#json(res, 400, { error: 'unsupported_grant_type' });
      return;
    }
    const parts = (form.get('assertion') ?? '').split('.');
    if (parts.length !== 3) return refuse('malformed assertion');
    let header: { alg?: string };
    let claims: { iss?: string; aud?: string; scope?: string; iat?: number; exp?: number };
    try {
      header = JSON.parse(Buffer.from(parts[0] as string, 'base64url').toString('utf8')) as typeof header;
      claims = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as typeof claims;
    } catch {
      return refuse('malformed assertion');
    }
    if (header.alg !== 'RS256' || this.publicKey === undefined) return refuse('bad algorithm');
    const ok = verify(
      'sha256',
      Buffer.from(`${parts[0]}.${parts[1]}`),
      this.publicKey,
      Buffer.from(parts[2] as string, 'base64url'),
    );
    if (!ok) return refuse('Invalid JWT Signature.');
    const now = Date.now() / 1000;
    if (claims.iss !== this.clientEmail) return refuse('bad iss');
    if (claims.aud !== this.tokenUri) return refuse('bad aud');
    if (
      !String(claims.scope ?? '')
        .split(' ')
        .includes('https://www.googleapis.com/auth/firebase.messaging')
    )
      return refuse('bad scope');
    if (typeof claims.iat !== 'number' || typeof claims.exp !== 'number') return refuse('no iat/exp');
    if (claims.exp - claims.iat > 3600 || claims.iat > now + 60 || claims.exp < now)
      return refuse(
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe',
      );
    this.tokenExchanges += 1;
    const token = `ya29.${randomBytes(24).toString('base64url')}`;
    this.#tokens.set(token, Date.now() + this.expiresIn * 1000);
    this.#json(res, 200, { access_token: token, expires_in: this.expiresIn, token_type: 'Bearer' });
  }

  #send(req: IncomingMessage, res: ServerResponse, project: string, body: string): void {
    const bearer = /^Bearer (.+)$/.exec(String(req.headers['authorization'] ?? ''))?.[1];
    const expires = bearer === undefined ? undefined : this.#tokens.get(bearer);
    if (expires === undefined || expires < Date.now()) return this.#error(res, 401);
    if (project !== this.projectId) return this.#error(res, 404);
    if (Buffer.byteLength(body) > 4096) return this.#error(res, 400, 'INVALID_ARGUMENT', {}, ['message']);
    let message: Record<string, unknown>;
    try {
      message = (JSON.parse(body) as { message: Record<string, unknown> }).message;
      if (message === null || typeof message !== 'object') throw new Error('no message');
    } catch {
      return this.#error(res, 400, 'INVALID_ARGUMENT', {}, ['message']);
    }
    const targets = ['token', 'topic', 'condition'].filter((k) => message[k] !== undefined);
    if (targets.length !== 1) return this.#error(res, 400, 'INVALID_ARGUMENT', {}, ['message']);
    const token = String(message['token'] ?? '');
    const data = message['data'];
    if (
      data !== undefined &&
      (data === null || typeof data !== 'object' || Object.values(data).some((v) => typeof v !== 'string'))
    )
      return this.#error(res, 400, 'INVALID_ARGUMENT', {}, ['message.data']);
    const android = (message['android'] ?? {}) as Record<string, unknown>;
    if (
      android['priority'] !== undefined &&
      !['NORMAL', 'HIGH', 'normal', 'high'].includes(String(android['priority']))
    )
      return this.#error(res, 400, 'INVALID_ARGUMENT', {}, ['message.android.priority']);
    if (android['ttl'] !== undefined && !/^\d+(\.\d+)?s$/.test(String(android['ttl'])))
      return this.#error(res, 400, 'INVALID_ARGUMENT', {}, ['message.android.ttl']);
    const scripted = this.#scripts.get(token)?.shift();
    const record = (status: number): void => {
      this.requests.push({ token, message, status, at: performance.now() });
    };
    if (scripted !== undefined && scripted.status !== 200) {
      record(scripted.status);
      const headers: Record<string, string> =
        scripted.retryAfter === undefined ? {} : { 'retry-after': scripted.retryAfter };
      if (scripted.errorCode === 'HTML') {
        res.writeHead(scripted.status, { 'content-type': 'text/html', ...headers });
        res.end('<html><body>Bad Gateway</body></html>');
        return;
      }
      return this.#error(res, scripted.status, scripted.errorCode, headers);
    }
    if (token.startsWith('bad-token')) {
      record(400);
      return this.#error(res, 400, 'INVALID_ARGUMENT', {}, ['message.token']);
    }
    record(200);
    this.delivered.set(token, (this.delivered.get(token) ?? 0) + 1);
    this.#json(res, 200, { name: `projects/${project}/messages/${++this.#messages}` });
  }
}

/**
 * The ops HTTP server of one station process (its own port, loopback unless configured):
 *   GET  /metrics            Prometheus text format (prom-client)
 *   GET  /healthz            200 while the process runs
 *   GET  /readyz             200 when ready (Redis reachable, roles running, not draining), else 503
 *   GET  /dashboard          the live queue dashboard (one static HTML page, no build step)
 *   GET  /dashboard/events   server-sent events: a StationStatus snapshot every second
 *   GET  /api/status         one StationStatus snapshot (JSON)
 * and the admin API, which needs `Authorization: Bearer <token>` (DIM_OPS_TOKEN; without a configured
 * token it answers 403):
 *   GET  /admin/status | /admin/streams | /admin/gateways | /admin/dead?count=N
 *   GET  /admin/pending?stream=S | /admin/dead/show?id=ID[&stream=S] | /admin/sessions?user=U | /admin/inbox?user=U
 *   POST /admin/dead/retry | /admin/dead/drop   {"id", "stream"?}
 *   POST /admin/kick {"user", "terminal"?}       POST /admin/drain
 * Errors are JSON `{ "error": CODE, "message": … }` with a fitting status code.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { PromMetrics } from './metrics.ts';
import type { ReadinessReport } from './readiness.ts';
import type { SessionInfo, StationInspector, StationStatus } from './station-inspector.ts';
import { InspectError } from './station-inspector.ts';

export interface OpsActions {
  /** Close a user's connections on this process's gateway; returns how many. */
  kick?(user: string, terminal: string | undefined): Promise<number>;
  /** Start the lame-duck drain of this process (it exits when done). */
  drain?(): { windowMs: number };
  /** Address and transport of a connection held here. */
  connectionInfo?(connId: string): { remote: string; transport: string } | undefined;
  /** This process's gateway ID, if it runs one. */
  readonly gatewayId?: string | undefined;
}

export interface OpsServerOptions {
  readonly host: string;
  readonly port: number;
  readonly token: string | undefined;
  readonly metrics: PromMetrics;
  readonly readiness: () => Promise<ReadinessReport>;
  readonly inspector: StationInspector | undefined;
  readonly actions: OpsActions;
  readonly logger: Logger;
  /** Period of the dashboard's snapshots (ms, default 1000). */
  readonly eventsIntervalMs?: number;
}

const DASHBOARD = readFileSync(new URL('./dashboard.html', import.meta.url), 'utf8');
const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, 'BODY_TOO_LARGE', 'request body too large');
    chunks.push(chunk);
  }
  if (size === 0) return {};
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (value !== null && typeof value === 'object' && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new HttpError(400, 'BAD_REQUEST', 'the body must be a JSON object');
}

function requiredString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new HttpError(400, 'BAD_REQUEST', `${name} is required`);
  return value;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

export class OpsServer {
  readonly #o: OpsServerOptions;
  readonly #log: Logger;
  readonly #server: Server;
  readonly #sse = new Set<ServerResponse>();
  #timer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  #address: { address: string; port: number } | undefined;

  constructor(options: OpsServerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ module: 'ops' });
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => this.#fail(res, err));
    });
    this.#server.keepAliveTimeout = 5000;
  }

  get address(): { address: string; port: number } | undefined {
    return this.#address;
  }

  listen(): Promise<{ address: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host: this.#o.host, port: this.#o.port }, () => {
        this.#server.off('error', reject);
        const bound = this.#server.address() as AddressInfo;
        this.#address = { address: bound.address, port: bound.port };
        this.#log.info({ code: 'OPS_LISTENING', ...this.#address }, 'ops server listening');
        resolve(this.#address);
      });
    });
  }

  /** Stop serving; open event streams end. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      clearInterval(this.#timer);
      for (const res of this.#sse) res.end();
      this.#sse.clear();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    return this.#closing;
  }

  #fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof HttpError) return sendJson(res, err.status, { error: err.code, message: err.message });
    if (err instanceof InspectError) {
      const status = err.code === 'NOT_FOUND' ? 404 : err.code === 'BAD_ARGUMENT' ? 400 : 503;
      return sendJson(res, status, { error: err.code, message: err.message });
    }
    const message = err instanceof Error ? err.message : String(err);
    this.#log.warn({ code: 'OPS_REQUEST_FAILED', err: message }, 'ops request failed');
    sendJson(res, 503, { error: 'UNAVAILABLE', message });
  }

  #inspector(): StationInspector {
    if (this.#o.inspector === undefined)
      throw new HttpError(503, 'UNAVAILABLE', 'this process has no station state to inspect');
    return this.#o.inspector;
  }

  #authorize(req: IncomingMessage): void {
    const token = this.#o.token;
    if (token === undefined)
      throw new HttpError(403, 'ADMIN_DISABLED', 'the admin API is disabled: set DIM_OPS_TOKEN');
    const header = req.headers.authorization ?? '';
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
    const expected = Buffer.from(token);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      this.#log.warn({ code: 'OPS_UNAUTHORIZED', url: req.url }, 'admin request without a valid token');
      throw new HttpError(401, 'UNAUTHORIZED', 'a valid bearer token is required');
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://ops.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const q = (name: string): string | undefined => url.searchParams.get(name) ?? undefined;
    if (method === 'GET') {
      switch (path) {
        case '/metrics': {
          const body = await this.#o.metrics.registry.metrics();
          res.writeHead(200, { 'Content-Type': this.#o.metrics.registry.contentType });
          res.end(body);
          return;
        }
        case '/healthz':
          return sendJson(res, 200, { status: 'ok' });
        case '/readyz': {
          const report = await this.#o.readiness();
          return sendJson(res, report.ready ? 200 : 503, report);
        }
        case '/':
        case '/dashboard':
          res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
          res.end(DASHBOARD);
          return;
        case '/dashboard/events':
          return this.#events(req, res);
        case '/api/status':
          return sendJson(res, 200, await this.#inspector().status());
      }
    }
    if (!path.startsWith('/admin/')) throw new HttpError(404, 'NOT_FOUND', `no route ${method} ${path}`);
    this.#authorize(req);
    const inspector = (): StationInspector => this.#inspector();
    const route = `${method} ${path}`;
    switch (route) {
      case 'GET /admin/status':
        return sendJson(res, 200, await inspector().status());
      case 'GET /admin/streams':
        return sendJson(res, 200, await inspector().streams());
      case 'GET /admin/gateways':
        return sendJson(res, 200, await inspector().gateways());
      case 'GET /admin/pending':
        return sendJson(
          res,
          200,
          await inspector().pending(requiredString(q('stream'), 'stream'), Number(q('count') ?? 50)),
        );
      case 'GET /admin/dead':
        return sendJson(res, 200, await inspector().deadLetters(Number(q('count') ?? 100)));
      case 'GET /admin/dead/show': {
        const record = await inspector().deadLetter(requiredString(q('id'), 'id'), q('stream'));
        if (record === undefined) throw new HttpError(404, 'NOT_FOUND', `no dead letter ${q('id')}`);
        return sendJson(res, 200, record);
      }
      case 'POST /admin/dead/retry': {
        const body = await readJson(req);
        const id = requiredString(body['id'], 'id');
        const result = await inspector().retryDeadLetter(id, optionalString(body['stream']));
        if (result === undefined) throw new HttpError(404, 'NOT_FOUND', `no dead letter ${id}`);
        this.#log.info({ code: 'DEAD_LETTER_RETRIED', id, to: result.stream }, 'dead letter re-driven');
        return sendJson(res, 200, result);
      }
      case 'POST /admin/dead/drop': {
        const body = await readJson(req);
        const id = requiredString(body['id'], 'id');
        if (!(await inspector().dropDeadLetter(id, optionalString(body['stream']))))
          throw new HttpError(404, 'NOT_FOUND', `no dead letter ${id}`);
        this.#log.info({ code: 'DEAD_LETTER_DROPPED', id }, 'dead letter dropped');
        return sendJson(res, 200, { dropped: id });
      }
      case 'GET /admin/sessions': {
        const sessions = await inspector().sessions(requiredString(q('user'), 'user'));
        return sendJson(
          res,
          200,
          sessions.map((s) => this.#withConnection(s)),
        );
      }
      case 'GET /admin/inbox':
        return sendJson(res, 200, await inspector().inbox(requiredString(q('user'), 'user')));
      case 'POST /admin/kick': {
        const body = await readJson(req);
        const kick = this.#o.actions.kick;
        if (kick === undefined) throw new HttpError(409, 'NOT_A_GATEWAY', 'this process runs no gateway');
        const user = requiredString(body['user'], 'user');
        const closed = await kick(user, optionalString(body['terminal']));
        return sendJson(res, 200, { gateway: this.#o.actions.gatewayId, closed });
      }
      case 'POST /admin/drain': {
        const drain = this.#o.actions.drain;
        if (drain === undefined) throw new HttpError(409, 'NO_DRAIN', 'this process cannot drain');
        return sendJson(res, 202, { draining: true, ...drain() });
      }
    }
    throw new HttpError(404, 'NOT_FOUND', `no route ${route}`);
  }

  #withConnection(session: SessionInfo): SessionInfo {
    if (session.gatewayId !== this.#o.actions.gatewayId) return session;
    const info = this.#o.actions.connectionInfo?.(session.connId);
    return info === undefined ? session : { ...session, ...info };
  }

  /** Server-sent events: one shared snapshot per tick for every open dashboard. */
  #events(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
    });
    res.write('retry: 2000\n\n');
    this.#sse.add(res);
    req.on('close', () => {
      this.#sse.delete(res);
      if (this.#sse.size === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    });
    void this.#tick();
    this.#timer ??= setInterval(() => void this.#tick(), this.#o.eventsIntervalMs ?? 1000);
    this.#timer.unref();
  }

  #ticking = false;

  async #tick(): Promise<void> {
    if (this.#ticking || this.#sse.size === 0) return;
    this.#ticking = true;
    let event: string;
    try {
      const [status, readiness] = await Promise.all([this.#inspector().status(), this.#o.readiness()]);
      event = `event: status\ndata: ${JSON.stringify({ ...status, self: readiness } satisfies StationStatus & { self: ReadinessReport })}\n\n`;
    } catch (err) {
      event = `event: failure\ndata: ${JSON.stringify({ message: err instanceof Error ? err.message : String(err) })}\n\n`;
    } finally {
      this.#ticking = false;
    }
    for (const res of this.#sse) res.write(event);
  }
}

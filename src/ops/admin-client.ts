/**
 * A client of a station process's admin API (ops-server.ts): a StationInspector over HTTP (dimctl on an
 * embedded station) plus the actions only the process itself can take (kick, drain). Failures are
 * AdminError with a stable code: UNAUTHORIZED (401/403), NOT_FOUND (404), BAD_ARGUMENT (400),
 * UNAVAILABLE (cannot connect, 5xx).
 */
import type {
  DeadLetterRecord,
  GatewayStatus,
  InboxInfo,
  PendingReport,
  SessionInfo,
  StationInspector,
  StationStatus,
  StreamStatus,
} from './station-inspector.ts';

export type AdminErrorCode = 'UNAUTHORIZED' | 'NOT_FOUND' | 'BAD_ARGUMENT' | 'UNAVAILABLE' | 'CONFLICT';

export class AdminError extends Error {
  readonly code: AdminErrorCode;
  constructor(code: AdminErrorCode, message: string) {
    super(message);
    this.name = 'AdminError';
    this.code = code;
  }
}

export interface AdminClientOptions {
  /** Base URL of the ops server, e.g. `http://127.0.0.1:9395`. */
  readonly url: string;
  readonly token: string | undefined;
  readonly timeoutMs?: number;
}

export class AdminClient implements StationInspector {
  readonly #base: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: AdminClientOptions) {
    this.#base = options.url.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  get url(): string {
    return this.#base;
  }

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        method,
        headers: {
          ...(this.#token === undefined ? {} : { Authorization: `Bearer ${this.#token}` }),
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new AdminError(
        'UNAVAILABLE',
        `cannot reach ${this.#base}: ${cause ?? (err instanceof Error ? err.message : String(err))}`,
      );
    }
    const text = await res.text();
    let value: unknown;
    try {
      value = text.length === 0 ? undefined : JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (res.ok) return value as T;
    const message =
      (value as { message?: string } | undefined)?.message ?? `${res.status} ${res.statusText} from ${path}`;
    const code: AdminErrorCode =
      res.status === 401 || res.status === 403
        ? 'UNAUTHORIZED'
        : res.status === 404
          ? 'NOT_FOUND'
          : res.status === 400
            ? 'BAD_ARGUMENT'
            : res.status === 409
              ? 'CONFLICT'
              : 'UNAVAILABLE';
    throw new AdminError(code, `${this.#base}: ${message}`);
  }

  #get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return this.request<T>('GET', qs.length > 0 ? `${path}?${qs}` : path);
  }

  resolveStream(name: string): string {
    return name; // resolved by the station
  }

  status(): Promise<StationStatus> {
    return this.#get('/admin/status');
  }

  streams(): Promise<StreamStatus[]> {
    return this.#get('/admin/streams');
  }

  pending(stream: string, count?: number): Promise<PendingReport> {
    return this.#get('/admin/pending', { stream, count });
  }

  deadLetters(count?: number): Promise<DeadLetterRecord[]> {
    return this.#get('/admin/dead', { count });
  }

  async deadLetter(id: string, stream?: string): Promise<DeadLetterRecord | undefined> {
    try {
      return await this.#get<DeadLetterRecord>('/admin/dead/show', { id, stream });
    } catch (err) {
      if (err instanceof AdminError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  async retryDeadLetter(id: string, stream?: string): Promise<{ stream: string; id: string } | undefined> {
    try {
      return await this.request('POST', '/admin/dead/retry', { id, stream });
    } catch (err) {
      if (err instanceof AdminError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  async dropDeadLetter(id: string, stream?: string): Promise<boolean> {
    try {
      await this.request('POST', '/admin/dead/drop', { id, stream });
      return true;
    } catch (err) {
      if (err instanceof AdminError && err.code === 'NOT_FOUND') return false;
      throw err;
    }
  }

  sessions(user: string): Promise<SessionInfo[]> {
    return this.#get('/admin/sessions', { user });
  }

  inbox(user: string): Promise<InboxInfo> {
    return this.#get('/admin/inbox', { user });
  }

  gateways(): Promise<GatewayStatus[]> {
    return this.#get('/admin/gateways');
  }

  /** Close a user's connections held by this process's gateway. */
  kick(user: string, terminal?: string): Promise<{ gateway: string | undefined; closed: number }> {
    return this.request('POST', '/admin/kick', { user, ...(terminal === undefined ? {} : { terminal }) });
  }

  /** Start this process's lame-duck drain (it exits when done). */
  drain(): Promise<{ draining: boolean; windowMs: number }> {
    return this.request('POST', '/admin/drain');
  }

  async close(): Promise<void> {}
}

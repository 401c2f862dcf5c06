/** A minimal HTTP/1.1 client over node:http(s) with keep-alive agents (FCM, OAuth token endpoint, webhooks). */
import http from 'node:http';
import https from 'node:https';

export interface HttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export interface HttpClientOptions {
  /** Extra CA certificates to trust (PEM), e.g. a private push gateway's or a test CA. */
  readonly ca?: string | Buffer | undefined;
  /** A request without a complete answer after this long fails (ms). */
  readonly timeoutMs?: number;
  readonly maxSockets?: number;
}

const MAX_BODY_BYTES = 1024 * 1024;

export class HttpClient {
  readonly #http: http.Agent;
  readonly #https: https.Agent;
  readonly #timeoutMs: number;

  constructor(options: HttpClientOptions = {}) {
    const maxSockets = options.maxSockets ?? 64;
    this.#http = new http.Agent({ keepAlive: true, maxSockets });
    this.#https = new https.Agent({
      keepAlive: true,
      maxSockets,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  request(
    url: string,
    init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
  ): Promise<HttpResponse> {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    if (!secure && target.protocol !== 'http:')
      return Promise.reject(new Error(`unsupported URL scheme ${target.protocol}`));
    const lib = secure ? https : http;
    const body = init.body === undefined ? undefined : Buffer.from(init.body);
    return new Promise((resolve, reject) => {
      const req = lib.request(
        target,
        {
          method: init.method ?? 'POST',
          agent: secure ? this.#https : this.#http,
          headers: { ...init.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
          timeout: this.#timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size <= MAX_BODY_BYTES) chunks.push(chunk);
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.#timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}

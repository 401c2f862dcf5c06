/**
 * A local webhook receiver (push-providers.md §3.3, §4): verifies Standard Webhooks signatures
 * (`webhook-id`, `webhook-timestamp` within 5 min, `webhook-signature: v1,<base64>`) in constant time,
 * refuses bad signatures, stale timestamps and replayed IDs with 401, and scripts 2xx / 410 / 429 / 5xx
 * answers with Retry-After per device token.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';

export interface WebhookRecord {
  readonly id: string;
  readonly body: Record<string, unknown>;
  readonly status: number;
}

export class FakeWebhook {
  readonly server: http.Server;
  readonly requests: WebhookRecord[] = [];
  readonly delivered = new Map<string, number>();
  rejectedSignatures = 0;
  replays = 0;
  port = 0;
  readonly #key: Buffer;
  readonly #seen = new Set<string>();
  readonly #scripts = new Map<string, { status: number; retryAfter?: string }[]>();

  constructor(secret: string) {
    this.#key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret);
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.#handle(req, res, Buffer.concat(chunks).toString('utf8')));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/push`;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  script(token: string, answers: readonly { status: number; retryAfter?: string }[]): void {
    this.#scripts.set(token, [...(this.#scripts.get(token) ?? []), ...answers]);
  }

  count(token: string): number {
    return this.delivered.get(token) ?? 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): void {
    const id = String(req.headers['webhook-id'] ?? '');
    const timestamp = Number(req.headers['webhook-timestamp']);
    const signatures = String(req.headers['webhook-signature'] ?? '').split(' ');
    const expected = createHmac('sha256', this.#key).update(`${id}.${timestamp}.${raw}`).digest();
    const valid = signatures.some((s) => {
      if (!s.startsWith('v1,')) return false;
      const given = Buffer.from(s.slice(3), 'base64');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
    const reply = (status: number, headers: Record<string, string> = {}): void => {
      res.writeHead(status, headers);
      res.end();
    };
    if (!valid || !Number.isFinite(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > 300) {
      this.rejectedSignatures += 1;
      return reply(401);
    }
    if (this.#seen.has(id)) {
      this.replays += 1;
      return reply(401);
    }
    const body = JSON.parse(raw) as Record<string, unknown>;
    const token = String((body['device'] as Record<string, unknown> | undefined)?.['token'] ?? '');
    const scripted = this.#scripts.get(token)?.shift();
    const status = scripted?.status ?? 200;
    this.requests.push({ id, body, status });
    if (status >= 200 && status < 300) {
      this.#seen.add(id);
      this.delivered.set(token, (this.delivered.get(token) ?? 0) + 1);
    }
    reply(status, scripted?.retryAfter === undefined ? {} : { 'retry-after': scripted.retryAfter });
  }
}

/**
 * Webhook delivery for operators who run their own push gateway (gorush, a UnifiedPush distributor…): a
 * JSON POST per device, signed as Standard Webhooks 1.0 (push-providers.md §3.3): `webhook-id` (stable per
 * job and device, so the receiver can dedup retries), `webhook-timestamp` (unix seconds) and
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. The secret is `whsec_<base64>` or
 * any other string (used as UTF-8 bytes). 2xx = delivered, 404/410 = the token is gone, 429 / 5xx retry
 * (Retry-After honoured), other statuses are rejected.
 */
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import { maskToken } from './device-token.ts';
import type { HttpClient } from './http-request.ts';
import type { PushMessage, PushProvider, SendResult } from './push-provider.ts';
import { parseRetryAfter } from './push-provider.ts';

export interface WebhookProviderOptions {
  readonly url: string;
  readonly secret: string;
  readonly http: HttpClient;
  readonly logger?: Logger;
  readonly now?: () => number;
}

/** The key bytes of a Standard Webhooks secret. */
export function webhookKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8');
}

/** `v1,<signature>` of a body, as sent in `webhook-signature`. */
export function webhookSignature(secret: string, id: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', webhookKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
  return `v1,${mac}`;
}

export class WebhookProvider implements PushProvider {
  readonly name = 'webhook' as const;
  readonly #o: WebhookProviderOptions;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(options: WebhookProviderOptions) {
    this.#o = options;
    this.#log = (options.logger ?? silentLogger).child({ module: 'webhook' });
    this.#now = options.now ?? Date.now;
  }

  async send(message: PushMessage): Promise<SendResult> {
    const { device, notification: n } = message;
    const body = JSON.stringify({
      type: 'dim.push',
      receiver: message.receiver,
      device: {
        platform: device.platform,
        channel: device.channel,
        token: device.token,
        ...(device.topic === undefined ? {} : { topic: device.topic }),
        ...(device.sandbox === undefined ? {} : { sandbox: device.sandbox }),
        ...(device.terminal === undefined ? {} : { terminal: device.terminal }),
      },
      notification: {
        title: n.title,
        body: n.body,
        badge: n.badge,
        count: n.count,
        conversation: n.conversation,
        sender: n.sender,
        ...(n.group === undefined ? {} : { group: n.group }),
        time: n.time,
      },
    });
    const id = `msg_${message.deliveryId}`;
    const timestamp = Math.floor(this.#now() / 1000);
    let res;
    try {
      res = await this.#o.http.request(this.#o.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': webhookSignature(this.#o.secret, id, timestamp, body),
        },
        body,
      });
    } catch (err) {
      return { kind: 'retry', reason: `Network(${(err as Error).message})` };
    }
    if (res.status >= 200 && res.status < 300) return { kind: 'sent', id };
    const reason = `HTTP${res.status}`;
    let result: SendResult;
    if (res.status === 404 || res.status === 410) result = { kind: 'unregistered', reason };
    else if (res.status === 429 || res.status >= 500)
      result = { kind: 'retry', reason, retryAfterMs: parseRetryAfter(res.headers['retry-after']) };
    else result = { kind: 'rejected', reason };
    this.#log.info(
      { code: 'WEBHOOK_NOT_SENT', token: maskToken(device.token), result: result.kind, reason },
      'the webhook did not take a notification',
    );
    return result;
  }

  async close(): Promise<void> {
    this.#o.http.close();
  }
}

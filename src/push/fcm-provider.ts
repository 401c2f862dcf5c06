/**
 * FCM HTTP v1 (push-providers.md §2): `POST {base}/v1/projects/{project}/messages:send` with a cached
 * OAuth2 token (GoogleAccessToken). Errors are read from `details[].errorCode`, falling back to `status`:
 * UNREGISTERED, SENDER_ID_MISMATCH and an INVALID_ARGUMENT naming `message.token` drop the token; 429 /
 * 5xx (and non-JSON 502 pages) retry honouring `Retry-After`; a bare 401 renews the token and retries once.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import { maskToken } from './device-token.ts';
import type { GoogleAccessToken } from './google-oauth.ts';
import { OAuthError } from './google-oauth.ts';
import type { HttpClient } from './http-request.ts';
import type { PushMessage, PushProvider, SendResult } from './push-provider.ts';
import { parseRetryAfter } from './push-provider.ts';

export const FCM_URL = 'https://fcm.googleapis.com';

export interface FcmProviderOptions {
  readonly projectId: string;
  readonly accessToken: GoogleAccessToken;
  readonly http: HttpClient;
  /** API base URL (default https://fcm.googleapis.com). */
  readonly url?: string;
  /** Android notification channel ID, if the app defines one. */
  readonly channelId?: string | undefined;
  readonly logger?: Logger;
}

interface FcmErrorBody {
  error?: {
    code?: number;
    status?: string;
    message?: string;
    details?: { '@type'?: string; errorCode?: string; fieldViolations?: { field?: string }[] }[];
  };
}

export class FcmProvider implements PushProvider {
  readonly name = 'fcm' as const;
  readonly #o: FcmProviderOptions;
  readonly #log: Logger;
  readonly #endpoint: string;

  constructor(options: FcmProviderOptions) {
    this.#o = options;
    this.#log = (options.logger ?? silentLogger).child({ module: 'fcm' });
    const base = (options.url ?? FCM_URL).replace(/\/+$/, '');
    this.#endpoint = `${base}/v1/projects/${encodeURIComponent(options.projectId)}/messages:send`;
  }

  async send(message: PushMessage): Promise<SendResult> {
    const body = JSON.stringify({ message: this.#message(message) });
    for (let attempt = 0; attempt < 2; attempt++) {
      let token: string;
      try {
        token = await this.#o.accessToken.get();
      } catch (err) {
        if (err instanceof OAuthError) {
          this.#log.error({ code: err.code, err: err.message }, 'no FCM access token');
          return err.retryable
            ? { kind: 'retry', reason: 'OAuthUnavailable' }
            : { kind: 'retry', reason: 'OAuthRefused', retryAfterMs: 60_000 };
        }
        throw err;
      }
      let res;
      try {
        res = await this.#o.http.request(this.#endpoint, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body,
        });
      } catch (err) {
        return { kind: 'retry', reason: `Network(${(err as Error).message})` };
      }
      if (res.status === 200) {
        let name: string | undefined;
        try {
          name = (JSON.parse(res.body) as { name?: string }).name;
        } catch {
          name = undefined;
        }
        return { kind: 'sent', id: name };
      }
      let parsed: FcmErrorBody = {};
      try {
        parsed = JSON.parse(res.body) as FcmErrorBody;
      } catch {
        parsed = {};
      }
      const details = parsed.error?.details ?? [];
      const errorCode =
        details.find((d) => typeof d.errorCode === 'string')?.errorCode ?? parsed.error?.status;
      if (
        res.status === 401 &&
        (errorCode === undefined || errorCode === 'UNAUTHENTICATED') &&
        attempt === 0
      ) {
        this.#o.accessToken.invalidate(token);
        continue;
      }
      const result = this.#classify(res.status, errorCode, details, res.headers['retry-after']);
      if (result.kind !== 'sent')
        this.#log.info(
          {
            code: 'FCM_NOT_SENT',
            token: maskToken(message.device.token),
            result: result.kind,
            reason: result.reason,
          },
          'FCM did not take a notification',
        );
      return result;
    }
    return { kind: 'retry', reason: 'Unauthenticated' };
  }

  #classify(
    status: number,
    errorCode: string | undefined,
    details: NonNullable<NonNullable<FcmErrorBody['error']>['details']>,
    retryAfter: string | string[] | undefined,
  ): SendResult {
    const reason = errorCode ?? `HTTP${status}`;
    if (errorCode === 'UNREGISTERED' || errorCode === 'SENDER_ID_MISMATCH')
      return { kind: 'unregistered', reason };
    if (errorCode === 'INVALID_ARGUMENT' || status === 400) {
      const namesToken = details.some((d) => d.fieldViolations?.some((f) => f.field === 'message.token'));
      return namesToken ? { kind: 'unregistered', reason } : { kind: 'rejected', reason };
    }
    if (status === 429 || status >= 500 || errorCode === 'UNAVAILABLE' || errorCode === 'INTERNAL')
      return { kind: 'retry', reason, retryAfterMs: parseRetryAfter(retryAfter) };
    if (
      errorCode === 'THIRD_PARTY_AUTH_ERROR' ||
      errorCode === 'APNS_AUTH_ERROR' ||
      status === 401 ||
      status === 403
    )
      this.#log.error({ code: 'FCM_AUTH_REJECTED', reason }, 'FCM refused the credentials');
    return { kind: 'rejected', reason };
  }

  #message(message: PushMessage): Record<string, unknown> {
    const n = message.notification;
    const tag = `dim-${createHash('sha256').update(n.conversation).digest('hex').slice(0, 24)}`;
    const data: Record<string, string> = {
      sender: n.sender,
      count: String(n.count),
      badge: String(n.badge),
      time: String(Math.floor(n.time / 1000)),
    };
    if (n.group !== undefined) data['group'] = n.group;
    return {
      token: message.device.token,
      notification: { title: n.title, body: n.body, ...(n.image === undefined ? {} : { image: n.image }) },
      data,
      android: {
        priority: 'HIGH',
        collapse_key: tag,
        ttl: '86400s',
        notification: {
          tag,
          notification_count: n.badge,
          ...(this.#o.channelId === undefined ? {} : { channel_id: this.#o.channelId }),
        },
      },
    };
  }

  async close(): Promise<void> {
    this.#o.http.close();
  }
}

/**
 * OAuth2 access tokens for a Google service account (push-providers.md §2.1): a JWT signed RS256 with the
 * account's key (`iss` = client_email, `scope`, `aud` = token_uri, `exp` = iat + 1 h) exchanged at the token
 * endpoint for an access token, cached until 5 min before it expires (or half its life when shorter); one
 * exchange at a time however many sends wait for it.
 */
import { createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { HttpClient } from './http-request.ts';
import { signJwt } from './jwt.ts';

export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
export const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';

export interface ServiceAccount {
  readonly projectId: string;
  readonly clientEmail: string;
  readonly privateKey: KeyObject;
  readonly privateKeyId: string | undefined;
  readonly tokenUri: string;
}

export class ServiceAccountError extends Error {
  readonly code = 'FCM_SERVICE_ACCOUNT_INVALID';
}

/** Parse a service-account JSON file's text (never logged: it holds the private key). */
export function parseServiceAccount(text: string): ServiceAccount {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new ServiceAccountError('the service account file is not JSON');
  }
  const str = (name: string): string => {
    const value = v[name];
    if (typeof value !== 'string' || value.length === 0)
      throw new ServiceAccountError(`the service account has no ${name}`);
    return value;
  };
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(str('private_key'));
  } catch (cause) {
    if (cause instanceof ServiceAccountError) throw cause;
    throw new ServiceAccountError('the service account private_key is not a PEM key');
  }
  if (privateKey.asymmetricKeyType !== 'rsa') throw new ServiceAccountError('private_key must be an RSA key');
  return {
    projectId: str('project_id'),
    clientEmail: str('client_email'),
    privateKey,
    privateKeyId: typeof v['private_key_id'] === 'string' ? v['private_key_id'] : undefined,
    tokenUri: typeof v['token_uri'] === 'string' ? v['token_uri'] : GOOGLE_TOKEN_URI,
  };
}

export class OAuthError extends Error {
  readonly code = 'FCM_OAUTH_FAILED';
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean) {
    super(message);
    this.retryable = retryable;
  }
}

export class GoogleAccessToken {
  readonly #account: ServiceAccount;
  readonly #http: HttpClient;
  readonly #tokenUri: string;
  readonly #now: () => number;
  #token: string | undefined;
  #refreshAt = 0;
  #pending: Promise<string> | undefined;
  /** Token exchanges made (tests check the caching). */
  exchanges = 0;

  constructor(
    account: ServiceAccount,
    http: HttpClient,
    options: { tokenUri?: string; now?: () => number } = {},
  ) {
    this.#account = account;
    this.#http = http;
    this.#tokenUri = options.tokenUri ?? account.tokenUri;
    this.#now = options.now ?? Date.now;
  }

  async get(): Promise<string> {
    if (this.#token !== undefined && this.#now() < this.#refreshAt) return this.#token;
    this.#pending ??= this.#exchange().finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  /** Forget `token` (the API answered 401): the next get() exchanges again. */
  invalidate(token: string): void {
    if (this.#token === token) this.#token = undefined;
  }

  async #exchange(): Promise<string> {
    const now = this.#now();
    const iat = Math.floor(now / 1000);
    const a = this.#account;
    const assertion = signJwt(
      'RS256',
      a.privateKey,
      { typ: 'JWT', ...(a.privateKeyId === undefined ? {} : { kid: a.privateKeyId }) },
      { iss: a.clientEmail, scope: FCM_SCOPE, aud: a.tokenUri, iat, exp: iat + 3600 },
    );
    this.exchanges += 1;
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion,
    }).toString();
    let res;
    try {
      res = await this.#http.request(this.#tokenUri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
      });
    } catch (err) {
      throw new OAuthError(`token endpoint unreachable: ${(err as Error).message}`, true);
    }
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(res.body) as Record<string, unknown>;
    } catch {
      // not JSON: the status decides
    }
    if (res.status !== 200 || typeof body['access_token'] !== 'string') {
      const error = typeof body['error'] === 'string' ? body['error'] : `HTTP ${res.status}`;
      throw new OAuthError(`token endpoint refused: ${error}`, res.status === 429 || res.status >= 500);
    }
    const expiresIn = typeof body['expires_in'] === 'number' ? body['expires_in'] * 1000 : 3600_000;
    const margin = Math.min(5 * 60_000, expiresIn / 2);
    this.#token = body['access_token'];
    this.#refreshAt = now + expiresIn - margin;
    return this.#token;
  }
}

/**
 * APNs provider tokens (push-providers.md §1.4): a JWT `{alg: ES256, kid}` / `{iss: teamId, iat}` signed
 * with the `.p8` key, shared by every connection, renewed at 50 min (APNs refuses tokens older than 60 min)
 * and after `ExpiredProviderToken` only if at least 20 min old (more often is 429
 * `TooManyProviderTokenUpdates`).
 */
import { createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { signJwt } from './jwt.ts';

export const APNS_TOKEN_RENEW_MS = 50 * 60_000;
export const APNS_TOKEN_MIN_AGE_MS = 20 * 60_000;

export class ApnsTokenError extends Error {
  readonly code = 'APNS_KEY_INVALID';
}

export class ApnsProviderToken {
  readonly #key: KeyObject;
  readonly #keyId: string;
  readonly #teamId: string;
  readonly #now: () => number;
  #token: string | undefined;
  #issuedAt = 0;

  constructor(p8: string, keyId: string, teamId: string, now: () => number = Date.now) {
    try {
      this.#key = createPrivateKey(p8);
    } catch (cause) {
      throw new ApnsTokenError('the APNs key is not a PEM private key', { cause });
    }
    if (this.#key.asymmetricKeyType !== 'ec' || this.#key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      throw new ApnsTokenError('the APNs key must be an EC P-256 key (.p8)');
    if (!/^[A-Z0-9]{10}$/.test(keyId)) throw new ApnsTokenError('the APNs key ID must be 10 characters');
    if (!/^[A-Z0-9]{10}$/.test(teamId)) throw new ApnsTokenError('the APNs team ID must be 10 characters');
    this.#keyId = keyId;
    this.#teamId = teamId;
    this.#now = now;
  }

  /** The current token, renewed when it is 50 min old. */
  get(): string {
    const now = this.#now();
    if (this.#token === undefined || now - this.#issuedAt >= APNS_TOKEN_RENEW_MS) {
      this.#issuedAt = now;
      this.#token = signJwt(
        'ES256',
        this.#key,
        { kid: this.#keyId },
        { iss: this.#teamId, iat: Math.floor(now / 1000) },
      );
    }
    return this.#token;
  }

  /** APNs said `ExpiredProviderToken` for `token`: renew if allowed. Returns whether it was renewed. */
  expired(token: string): boolean {
    if (token !== this.#token) return true; // renewed already
    if (this.#now() - this.#issuedAt < APNS_TOKEN_MIN_AGE_MS) return false;
    this.#token = undefined;
    return true;
  }
}

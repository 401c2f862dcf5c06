/**
 * Compact JWS signing for provider authentication: ES256 (APNs token auth; raw r‖s, IEEE P1363) and RS256
 * (Google service accounts). node:crypto does the signing.
 */
import { sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

export function signJwt(
  alg: 'ES256' | 'RS256',
  key: KeyObject,
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
): string {
  const input = `${b64url(JSON.stringify({ alg, ...header }))}.${b64url(JSON.stringify(claims))}`;
  const signature =
    alg === 'ES256'
      ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : sign('sha256', Buffer.from(input), key);
  return `${input}.${b64url(signature)}`;
}

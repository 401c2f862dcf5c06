/**
 * Factories from wire dictionaries to key objects. Public keys are cached by their dictionary content so
 * that PEM/DER parsing never happens on the hot path (a user's meta and visa keys are seen on every
 * message they send).
 */
import { ProtocolError } from '../protocol-error.ts';
import type { PrivateKey, PublicKey } from './asymmetric-key.ts';
import { EccPrivateKey, EccPublicKey } from './ecc.ts';
import { asKeyDict, canonicalAlgorithm } from './key-dict.ts';
import { RsaPrivateKey, RsaPublicKey } from './rsa.ts';

const CACHE_LIMIT = 8192;
/** Longest public key `data` (a 4096-bit RSA SPKI PEM is ~800 characters). Bounds the cache's memory. */
const MAX_PUBLIC_KEY_DATA = 4096;
const publicKeyCache = new Map<string, PublicKey>();

function cacheKey(algorithm: string, data: string, compressed: boolean): string {
  return `${algorithm}|${compressed ? 'c' : 'u'}|${data}`;
}

/** Parse a public key dictionary (RSA or ECC, any accepted encoding). Throws BAD_KEY / UNSUPPORTED_KEY. */
export function parsePublicKey(value: unknown): PublicKey {
  const dict = asKeyDict(value, MAX_PUBLIC_KEY_DATA);
  const algorithm = canonicalAlgorithm(dict.algorithm);
  const data = dict.data ?? '';
  const key = cacheKey(algorithm ?? dict.algorithm, data, dict['compressed'] === true);
  const cached = publicKeyCache.get(key);
  if (cached) {
    // refresh recency: Map iteration order is insertion order
    publicKeyCache.delete(key);
    publicKeyCache.set(key, cached);
    return cached;
  }
  let parsed: PublicKey;
  if (algorithm === 'RSA') parsed = RsaPublicKey.fromDict(dict);
  else if (algorithm === 'ECC') parsed = EccPublicKey.fromDict(dict);
  else throw new ProtocolError('UNSUPPORTED_KEY', `unsupported public key algorithm "${dict.algorithm}"`);
  if (publicKeyCache.size >= CACHE_LIMIT) {
    const oldest = publicKeyCache.keys().next().value;
    if (oldest !== undefined) publicKeyCache.delete(oldest);
  }
  publicKeyCache.set(key, parsed);
  return parsed;
}

/** Parse a private key dictionary (RSA PKCS#1/PKCS#8 PEM; ECC hex, PKCS#8 or SEC1). Not cached. */
export function parsePrivateKey(value: unknown): PrivateKey {
  const dict = asKeyDict(value);
  switch (canonicalAlgorithm(dict.algorithm)) {
    case 'RSA':
      return RsaPrivateKey.fromDict(dict);
    case 'ECC':
      return EccPrivateKey.fromDict(dict);
    default:
      throw new ProtocolError('UNSUPPORTED_KEY', `unsupported private key algorithm "${dict.algorithm}"`);
  }
}

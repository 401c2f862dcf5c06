/**
 * Remembers signatures that verified, so that the same (key, data, signature) is checked once: a visa or
 * meta arrives with every handshake message and every reconnect, is checked when attached and again when
 * stored, and a secp256k1 verification costs ~0.25 ms. Only successes are remembered (failures are rare
 * and must not let junk evict good entries). Entries are keyed by SHA-256 over the key's data, the signature
 * and the signed bytes, so a hit means exactly that triple verified before.
 */
import { createHash } from 'node:crypto';
import type { PublicKey } from './asymmetric-key.ts';

export class SignatureCache {
  readonly limit: number;
  readonly #verified = new Set<string>();
  hits = 0;
  misses = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** `key.verify(data, signature)`, answered from the cache when that triple verified before. */
  verify(key: PublicKey, data: Uint8Array, signature: Uint8Array): boolean {
    if (this.limit <= 0) return key.verify(data, signature);
    const keyData = key.dict['data'];
    const id = createHash('sha256')
      .update(typeof keyData === 'string' ? keyData : JSON.stringify(key.dict))
      .update('\0')
      .update(signature)
      .update('\0')
      .update(data)
      .digest('base64');
    if (this.#verified.has(id)) {
      // refresh: most recently verified last
      this.#verified.delete(id);
      this.#verified.add(id);
      this.hits++;
      return true;
    }
    this.misses++;
    if (!key.verify(data, signature)) return false;
    if (this.#verified.size >= this.limit) {
      const oldest = this.#verified.values().next().value;
      if (oldest !== undefined) this.#verified.delete(oldest);
    }
    this.#verified.add(id);
    return true;
  }

  clear(): void {
    this.#verified.clear();
  }
}

/** The process-wide cache for identity signatures (meta fingerprints, documents). */
export const identitySignatures = new SignatureCache(20_000);

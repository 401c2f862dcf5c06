/** The `{algorithm, data, …}` dictionaries that carry keys on the wire, and algorithm-name aliases. */
import { ProtocolError } from '../protocol-error.ts';

export interface KeyDict {
  algorithm: string;
  data?: string;
  [extra: string]: unknown;
}

export type AsymmetricAlgorithm = 'RSA' | 'ECC';
export type SymmetricAlgorithm = 'AES' | 'PLAIN';

const ALIASES: Record<string, AsymmetricAlgorithm | SymmetricAlgorithm> = {
  RSA: 'RSA',
  SHA256withRSA: 'RSA',
  'RSA/ECB/PKCS1Padding': 'RSA',
  ECC: 'ECC',
  SHA256withECDSA: 'ECC',
  AES: 'AES',
  'AES/CBC/PKCS7Padding': 'AES',
  PLAIN: 'PLAIN',
};

/** Map an algorithm name (or alias) to its canonical name, or undefined when unknown. */
export function canonicalAlgorithm(name: string): AsymmetricAlgorithm | SymmetricAlgorithm | undefined {
  return Object.hasOwn(ALIASES, name) ? ALIASES[name] : undefined;
}

/** Validate the outer shape of a key dictionary. */
export function asKeyDict(value: unknown, maxDataLength = 16384): KeyDict {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtocolError('BAD_KEY', 'key is not a dictionary');
  }
  const dict = value as Record<string, unknown>;
  if (typeof dict['algorithm'] !== 'string') throw new ProtocolError('BAD_KEY', 'key without an algorithm');
  const data = dict['data'];
  if (data !== undefined && typeof data !== 'string')
    throw new ProtocolError('BAD_KEY', 'key data is not a string');
  if (typeof data === 'string' && data.length > maxDataLength) {
    throw new ProtocolError('FIELD_TOO_LARGE', 'key data too long');
  }
  return dict as KeyDict;
}

/**
 * Metas: the immutable public record that generates an ID. Types 1 (MKM: seed + fingerprint, BTC-style
 * address over the fingerprint bytes), 2 (BTC: address over the key data) and 4 (ETH); string aliases
 * and the legacy `version` field are accepted. Output is the compatible form: integer `type` and `version`.
 */
import { identitySignatures } from '../crypto/signature-cache.ts';
import { ProtocolError } from '../protocol-error.ts';
import type { PrivateKey, PublicKey } from '../crypto/asymmetric-key.ts';
import { EccPublicKey } from '../crypto/ecc.ts';
import { base64Encode, decodeTed, utf8Encode } from '../crypto/encoding.ts';
import { parsePublicKey } from '../crypto/keys.ts';
import { btcAddress, ethAddress } from './address.ts';
import type { Address } from './address.ts';
import type { ID } from './identifier.ts';
import { EntityType } from './entity-type.ts';

export const MetaType = { MKM: 1, BTC: 2, ETH: 4 } as const;
export type MetaTypeValue = (typeof MetaType)[keyof typeof MetaType];

const TYPE_ALIASES: Record<string, MetaTypeValue> = {
  '1': 1,
  mkm: 1,
  MKM: 1,
  '2': 2,
  btc: 2,
  BTC: 2,
  '4': 4,
  eth: 4,
  ETH: 4,
};

export const MAX_SEED_LENGTH = 64;
export const MAX_FINGERPRINT_LENGTH = 2048;

function metaType(value: unknown): MetaTypeValue {
  const key = typeof value === 'number' ? String(value) : typeof value === 'string' ? value : '';
  const type = Object.hasOwn(TYPE_ALIASES, key) ? TYPE_ALIASES[key] : undefined;
  if (type === undefined)
    throw new ProtocolError('BAD_META', `unsupported meta type ${JSON.stringify(value)}`);
  return type;
}

export class Meta {
  readonly type: MetaTypeValue;
  readonly key: PublicKey;
  readonly seed: string | undefined;
  readonly fingerprint: Uint8Array | undefined;
  /** The dictionary as received (kept for relaying byte-compatible data). */
  readonly dict: Readonly<Record<string, unknown>>;
  #valid: boolean | undefined;

  constructor(
    type: MetaTypeValue,
    key: PublicKey,
    seed: string | undefined,
    fingerprint: Uint8Array | undefined,
    dict: Record<string, unknown>,
  ) {
    this.type = type;
    this.key = key;
    this.seed = seed;
    this.fingerprint = fingerprint;
    this.dict = dict;
  }

  get hasSeed(): boolean {
    return this.type === MetaType.MKM;
  }

  /** Validity (dimp-protocol.md §2.3): MKM fingerprint verifies over UTF-8(seed); seedless types have neither. */
  isValid(): boolean {
    if (this.#valid === undefined) {
      if (this.hasSeed) {
        this.#valid =
          this.seed !== undefined &&
          this.seed.length > 0 &&
          this.fingerprint !== undefined &&
          this.fingerprint.length > 0 &&
          identitySignatures.verify(this.key, utf8Encode(this.seed), this.fingerprint);
      } else {
        this.#valid = this.seed === undefined && this.fingerprint === undefined;
        if (this.type === MetaType.ETH && !(this.key instanceof EccPublicKey)) this.#valid = false;
      }
    }
    return this.#valid;
  }

  /** Generate the address for a network byte (raw, legacy bytes included). */
  generateAddress(network: number): Address {
    switch (this.type) {
      case MetaType.MKM:
        if (!this.fingerprint) throw new ProtocolError('BAD_META', 'MKM meta without fingerprint');
        return btcAddress(this.fingerprint, network);
      case MetaType.BTC:
        if (!(this.key instanceof EccPublicKey)) {
          throw new ProtocolError('BAD_META', 'BTC metas with RSA keys are ambiguous across platforms');
        }
        return btcAddress(this.key.data, network);
      case MetaType.ETH:
        if (!(this.key instanceof EccPublicKey))
          throw new ProtocolError('BAD_META', 'ETH meta needs an ECC key');
        if (network !== EntityType.USER)
          throw new ProtocolError('BAD_META', 'ETH addresses are for users only');
        return ethAddress(this.key.point);
    }
  }

  /** Whether this meta generates `id` (valid, seed equals name, address regenerated with the ID's network byte). */
  matches(id: ID): boolean {
    if (!this.isValid()) return false;
    if (id.name !== this.seed) return false;
    if (id.address.kind === 'broadcast' || id.address.kind === 'unknown') return false;
    try {
      return this.generateAddress(id.address.network).text === id.address.text;
    } catch {
      return false;
    }
  }

  /** The compatible wire form: integer `type` and `version`. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { type: this.type, version: this.type, key: this.key.dict };
    if (this.seed !== undefined) out['seed'] = this.seed;
    if (this.fingerprint !== undefined)
      out['fingerprint'] = this.dict['fingerprint'] ?? base64Encode(this.fingerprint);
    return out;
  }
}

/** Parse a meta dictionary. Throws BAD_META / BAD_KEY (does not check validity: call isValid()). */
export function parseMeta(value: unknown): Meta {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtocolError('BAD_META', 'meta is not a dictionary');
  }
  const dict = value as Record<string, unknown>;
  const type = metaType(dict['type'] ?? dict['version']);
  if (dict['key'] === undefined) throw new ProtocolError('BAD_META', 'meta without key');
  const key = parsePublicKey(dict['key']);
  const seed = dict['seed'];
  const fingerprint = dict['fingerprint'];
  const hasSeed = seed !== undefined && seed !== null && seed !== '';
  const hasFingerprint = fingerprint !== undefined && fingerprint !== null && fingerprint !== '';
  if (hasSeed !== hasFingerprint)
    throw new ProtocolError('BAD_META', 'meta has only one of seed and fingerprint');
  if (!hasSeed) return new Meta(type, key, undefined, undefined, dict);
  if (typeof seed !== 'string' || seed.length > MAX_SEED_LENGTH)
    throw new ProtocolError('BAD_META', 'bad meta seed');
  if (typeof fingerprint !== 'string' || fingerprint.length > MAX_FINGERPRINT_LENGTH) {
    throw new ProtocolError('BAD_META', 'bad meta fingerprint');
  }
  let fingerprintBytes: Uint8Array;
  try {
    fingerprintBytes = decodeTed(fingerprint);
  } catch (cause) {
    throw new ProtocolError('BAD_META', 'meta fingerprint is not decodable', { cause });
  }
  return new Meta(type, key, seed, fingerprintBytes, dict);
}

/** Create a meta for a new identity. MKM metas sign UTF-8(seed) with the identity key. */
export function createMeta(type: MetaTypeValue, privateKey: PrivateKey, seed?: string): Meta {
  const key = privateKey.publicKey;
  if (type === MetaType.MKM) {
    if (!seed) throw new ProtocolError('BAD_META', 'MKM meta needs a seed');
    const fingerprint = privateKey.sign(utf8Encode(seed));
    const dict = { type, version: type, key: key.dict, seed, fingerprint: base64Encode(fingerprint) };
    return new Meta(type, key, seed, fingerprint, dict);
  }
  return new Meta(type, key, undefined, undefined, { type, version: type, key: key.dict });
}

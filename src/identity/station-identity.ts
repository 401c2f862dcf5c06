/**
 * The station's own identity: an ECC (secp256k1) identity key with an MKM meta on the STATION network,
 * and an RSA visa key (clients encrypt to it; ECC keys cannot encrypt), published in a signed visa.
 */
import { ProtocolError } from '../protocol/protocol-error.ts';
import type { PrivateKey } from '../protocol/crypto/asymmetric-key.ts';
import { EccPrivateKey } from '../protocol/crypto/ecc.ts';
import { parsePrivateKey } from '../protocol/crypto/keys.ts';
import { RsaPrivateKey } from '../protocol/crypto/rsa.ts';
import { EntityType } from '../protocol/mkm/entity-type.ts';
import { ID, parseId } from '../protocol/mkm/identifier.ts';
import { createMeta, MetaType, parseMeta } from '../protocol/mkm/meta.ts';
import type { Meta } from '../protocol/mkm/meta.ts';
import { parseDocument, signDocument } from '../protocol/mkm/document.ts';
import type { Document } from '../protocol/mkm/document.ts';

export interface StationIdentity {
  readonly id: ID;
  readonly meta: Meta;
  readonly visa: Document;
  /** Signs messages and documents (the meta key). */
  readonly identityKey: PrivateKey;
  /** Decrypt messages addressed to the station (visa keys, newest first). */
  readonly decryptKeys: readonly PrivateKey[];
}

export interface CreateIdentityOptions {
  /** The ID name (meta seed), default `station`. */
  readonly name?: string;
  /** Public host and port written into the visa (what clients connect to). */
  readonly host?: string;
  readonly port?: number;
  /** Display name in the visa. */
  readonly title?: string;
  /** RSA modulus size of the visa key; 2048 by default (clients accept any size). */
  readonly rsaBits?: number;
  /** Seconds since the epoch. */
  readonly now: number;
}

export function createStationIdentity(options: CreateIdentityOptions): StationIdentity {
  const name = options.name ?? 'station';
  const identityKey = EccPrivateKey.generate();
  const meta = createMeta(MetaType.MKM, identityKey, name);
  const id = new ID(name, meta.generateAddress(EntityType.STATION));
  const visaKey = RsaPrivateKey.generate(options.rsaBits ?? 2048);
  const properties: Record<string, unknown> = { name: options.title ?? name, key: visaKey.publicKey.dict };
  if (options.host !== undefined) properties['host'] = options.host;
  if (options.port !== undefined) properties['port'] = options.port;
  const visa = signDocument('visa', id, properties, identityKey, options.now);
  return { id: parseId(id.string), meta, visa, identityKey, decryptKeys: [visaKey] };
}

/** The host and port the station's visa publishes (what clients connect to), if any. */
export function visaEndpoint(identity: StationIdentity): {
  host: string | undefined;
  port: number | undefined;
} {
  const { host, port } = identity.visa.properties;
  return {
    host: typeof host === 'string' && host.length > 0 ? host : undefined,
    port: typeof port === 'number' ? port : undefined,
  };
}

/**
 * The same identity with its visa re-signed (new time) to publish another host and/or port; every other
 * visa property (name, key…) is kept. `null` removes the property.
 */
export function withVisaEndpoint(
  identity: StationIdentity,
  changes: { host?: string | null; port?: number | null; title?: string },
  now: number,
): StationIdentity {
  const properties: Record<string, unknown> = { ...identity.visa.properties };
  delete properties['type'];
  delete properties['time'];
  if (changes.host === null) delete properties['host'];
  else if (changes.host !== undefined) properties['host'] = changes.host;
  if (changes.port === null) delete properties['port'];
  else if (changes.port !== undefined) properties['port'] = changes.port;
  if (changes.title !== undefined) properties['name'] = changes.title;
  const visa = signDocument(
    'visa',
    identity.id,
    properties,
    identity.identityKey,
    Math.max(now, identity.visa.time + 1e-3),
  );
  return { ...identity, visa };
}

/** The key-file form (JSON). Private keys are inside: store with mode 0600, never log. */
export function identityToKeyFile(identity: StationIdentity): Record<string, unknown> {
  return {
    format: 'dim-station-identity/1',
    id: identity.id.string,
    meta: identity.meta.toJSON(),
    visa: identity.visa.toJSON(),
    identity_key: identity.identityKey.toDict(),
    decrypt_keys: identity.decryptKeys.map((k) => k.toDict()),
  };
}

/** Load and check a key file: the meta generates the ID, the visa verifies, the private keys match. */
export function identityFromKeyFile(value: unknown): StationIdentity {
  if (value === null || typeof value !== 'object')
    throw new ProtocolError('BAD_KEY', 'key file is not a JSON object');
  const file = value as Record<string, unknown>;
  const id = parseId(file['id']);
  const meta = parseMeta(file['meta']);
  if (!meta.matches(id)) throw new ProtocolError('META_MISMATCH', 'key file meta does not generate its ID');
  const visa = parseDocument(file['visa']);
  if (!visa.id.isSameAs(id) || !visa.verify(meta.key)) {
    throw new ProtocolError('BAD_DOCUMENT', 'key file visa does not verify with the meta key');
  }
  const identityKey = parsePrivateKey(file['identity_key']);
  if (!identityKey.publicKey.equals(meta.key))
    throw new ProtocolError('BAD_KEY', 'identity key does not match the meta');
  const rawDecrypt = file['decrypt_keys'];
  if (!Array.isArray(rawDecrypt)) throw new ProtocolError('BAD_KEY', 'key file without decrypt_keys');
  const decryptKeys = rawDecrypt.map((k) => parsePrivateKey(k));
  const visaKey = visa.visaKey;
  if (!visaKey || !decryptKeys.some((k) => k.publicKey.equals(visaKey))) {
    throw new ProtocolError('BAD_KEY', 'no private key for the visa key');
  }
  if (meta.key.canEncrypt && !decryptKeys.some((k) => k.publicKey.equals(meta.key)))
    decryptKeys.push(identityKey);
  return { id, meta, visa, identityKey, decryptKeys };
}

/**
 * Identities of simulated DIM users, as real clients create them (dimp-protocol.md §3.7):
 * - `mkm-ecc`: secp256k1 identity key, MKM meta (seed = name) on the USER network (0x00), RSA-1024 visa key
 *   (the Python client of the captured traces);
 * - `eth`: secp256k1 identity key, ETH meta, bare EIP-55 address as the ID, RSA-1024 visa key (Tarsier);
 * - `mkm-rsa`: RSA-1024 identity key (it can also encrypt), MKM meta, the same key in the visa (old clients).
 * Visas are signed with the meta key. The JSON form keeps private keys: it is for caching identity pools of
 * test users on disk, never for real accounts.
 */
import type { PrivateKey } from '../protocol/crypto/asymmetric-key.ts';
import { EccPrivateKey } from '../protocol/crypto/ecc.ts';
import { parsePrivateKey } from '../protocol/crypto/keys.ts';
import { RsaPrivateKey } from '../protocol/crypto/rsa.ts';
import { parseDocument, signDocument } from '../protocol/mkm/document.ts';
import type { Document } from '../protocol/mkm/document.ts';
import { EntityType } from '../protocol/mkm/entity-type.ts';
import { ID, parseId } from '../protocol/mkm/identifier.ts';
import { createMeta, MetaType, parseMeta } from '../protocol/mkm/meta.ts';
import type { Meta } from '../protocol/mkm/meta.ts';
import { ClientError } from './client-error.ts';

export type UserIdentityKind = 'mkm-ecc' | 'eth' | 'mkm-rsa';

export const USER_IDENTITY_KINDS: readonly UserIdentityKind[] = ['mkm-ecc', 'eth', 'mkm-rsa'];

export interface UserIdentity {
  readonly kind: UserIdentityKind;
  /** The user's ID (without terminal). */
  readonly id: ID;
  readonly meta: Meta;
  readonly visa: Document;
  /** The meta (identity) private key: signs messages and the visa. */
  readonly signKey: PrivateKey;
  /** Keys that decrypt messages to this user (the visa key; for `mkm-rsa` the meta key, which is the same). */
  readonly decryptKeys: readonly PrivateKey[];
  /** The device tag written in the visa (outer `terminal`), if any. */
  readonly terminal: string | undefined;
}

export interface CreateUserIdentityOptions {
  readonly kind: UserIdentityKind;
  /** ID name and meta seed for MKM kinds (default `user`); the visa's display name for every kind. */
  readonly name?: string;
  /** Device tag published in the visa. */
  readonly terminal?: string;
  /** Visa time, seconds since the epoch. */
  readonly now: number;
  /** RSA modulus size (visa key, or meta key for `mkm-rsa`); 1024 as every real client. */
  readonly rsaBits?: number;
}

const DEFAULT_NAME = 'user';

export function createUserIdentity(options: CreateUserIdentityOptions): UserIdentity {
  const { kind, terminal, now } = options;
  const name = options.name ?? DEFAULT_NAME;
  const rsaBits = options.rsaBits ?? 1024;
  let signKey: PrivateKey;
  let visaKey: PrivateKey;
  let meta: Meta;
  let id: ID;
  switch (kind) {
    case 'mkm-ecc':
      signKey = EccPrivateKey.generate();
      visaKey = RsaPrivateKey.generate(rsaBits);
      meta = createMeta(MetaType.MKM, signKey, name);
      id = new ID(name, meta.generateAddress(EntityType.USER));
      break;
    case 'eth':
      signKey = EccPrivateKey.generate();
      visaKey = RsaPrivateKey.generate(rsaBits);
      meta = createMeta(MetaType.ETH, signKey);
      id = new ID(undefined, meta.generateAddress(EntityType.USER));
      break;
    case 'mkm-rsa':
      signKey = RsaPrivateKey.generate(rsaBits);
      visaKey = signKey;
      meta = createMeta(MetaType.MKM, signKey, name);
      id = new ID(name, meta.generateAddress(EntityType.USER));
      break;
    default:
      throw new ClientError('BAD_IDENTITY', `unknown identity kind ${String(kind)}`);
  }
  id = parseId(id.string);
  const properties = { name, key: visaKey.publicKey.dict };
  const visa = signDocument('visa', id, properties, signKey, now, terminal);
  return { kind, id, meta, visa, signKey, decryptKeys: [visaKey], terminal };
}

/** The cacheable JSON form (private keys included). */
export function userIdentityToJSON(identity: UserIdentity): Record<string, unknown> {
  const out: Record<string, unknown> = {
    format: 'dim-user-identity/1',
    kind: identity.kind,
    id: identity.id.string,
    meta: identity.meta.toJSON(),
    visa: identity.visa.toJSON(),
    sign_key: identity.signKey.toDict(),
    decrypt_keys: identity.decryptKeys.map((k) => k.toDict()),
  };
  if (identity.terminal !== undefined) out['terminal'] = identity.terminal;
  return out;
}

function bad(message: string, cause?: unknown): ClientError {
  return new ClientError('BAD_IDENTITY', message, cause === undefined ? undefined : { cause });
}

/** Load and check a cached identity: the meta generates the ID, the visa verifies, the keys match. */
export function userIdentityFromJSON(value: unknown): UserIdentity {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw bad('identity is not a JSON object');
  }
  const dict = value as Record<string, unknown>;
  try {
    const id = parseId(dict['id']);
    const meta = parseMeta(dict['meta']);
    if (!meta.matches(id)) throw bad('the meta does not generate the ID');
    const visa = parseDocument(dict['visa']);
    if (!visa.id.isSameAs(id) || !visa.verify(meta.key)) throw bad('the visa does not verify');
    const signKey = parsePrivateKey(dict['sign_key']);
    if (!signKey.publicKey.equals(meta.key)) throw bad('the sign key does not match the meta');
    const rawDecrypt = dict['decrypt_keys'];
    if (!Array.isArray(rawDecrypt)) throw bad('identity without decrypt_keys');
    const decryptKeys = rawDecrypt.map((k) => {
      const key = parsePrivateKey(k);
      return key.publicKey.equals(signKey.publicKey) ? signKey : key;
    });
    const visaKey = visa.visaKey;
    if (visaKey === undefined || !decryptKeys.some((k) => k.publicKey.equals(visaKey))) {
      throw bad('no private key for the visa key');
    }
    const kindValue = dict['kind'];
    const kind: UserIdentityKind = USER_IDENTITY_KINDS.includes(kindValue as UserIdentityKind)
      ? (kindValue as UserIdentityKind)
      : meta.type === MetaType.ETH
        ? 'eth'
        : signKey.algorithm === 'RSA'
          ? 'mkm-rsa'
          : 'mkm-ecc';
    const terminalValue = dict['terminal'] ?? visa.terminal;
    const terminal =
      typeof terminalValue === 'string' && terminalValue.length > 0 ? terminalValue : undefined;
    return { kind, id, meta, visa, signKey, decryptKeys, terminal };
  } catch (err) {
    if (err instanceof ClientError) throw err;
    throw bad('identity does not parse', err);
  }
}

/**
 * Checks of the `meta` / `visa` a sender attaches (first handshake, first contact): the meta must be
 * valid and generate the sender's ID; the visa must belong to the sender and verify with the meta key.
 * No identity is trusted for its entity type alone.
 */
import { ProtocolError } from '../protocol-error.ts';
import type { PublicKey } from '../crypto/asymmetric-key.ts';
import { parseDocument } from '../mkm/document.ts';
import type { Document } from '../mkm/document.ts';
import { parseMeta } from '../mkm/meta.ts';
import type { Meta } from '../mkm/meta.ts';
import type { ReliableMessage } from './reliable-message.ts';

/** The attached meta, checked against the sender; undefined when none is attached. */
export function attachedMeta(message: ReliableMessage): Meta | undefined {
  const value = message.meta;
  if (value === undefined || value === null) return undefined;
  const meta = parseMeta(value);
  if (!meta.isValid()) throw new ProtocolError('BAD_META', 'attached meta is not valid');
  if (!meta.matches(message.sender.naked())) {
    throw new ProtocolError('META_MISMATCH', 'attached meta does not generate the sender ID');
  }
  return meta;
}

/** The attached visa, checked against the sender and its meta; undefined when none is attached. */
export function attachedVisa(message: ReliableMessage, meta: Meta): Document | undefined {
  const value = message.visa;
  if (value === undefined || value === null) return undefined;
  const visa = parseDocument(value);
  if (!visa.id.isSameAs(message.sender))
    throw new ProtocolError('BAD_DOCUMENT', 'attached visa belongs to another ID');
  if (!visa.verify(meta.key))
    throw new ProtocolError('BAD_DOCUMENT', 'attached visa does not verify with the meta key');
  return visa;
}

/** Keys a sender's signature may verify with: every visa key that can verify, then the meta key. */
export function senderVerifyKeys(meta: Meta, visas: readonly Document[]): PublicKey[] {
  const keys: PublicKey[] = [];
  for (const visa of visas) {
    const key = visa.visaKey;
    if (key && !keys.some((k) => k.equals(key))) keys.push(key);
  }
  if (!keys.some((k) => k.equals(meta.key))) keys.push(meta.key);
  return keys;
}

/**
 * Identity lookups and the acceptance rules for metas and documents (dimples archivist):
 *  - a meta is accepted only if valid and generating the ID; it is never replaced;
 *  - a document must verify with the stored meta key, must not be more than 30 min in the future, and is
 *    "not changed" unless newer than the stored one of the same type and terminal.
 * Sender verification keys and receiver encryption keys are derived from what is stored.
 */
import type { PublicKey } from '../protocol/crypto/asymmetric-key.ts';
import { MAX_FUTURE_SKEW_SECONDS } from '../protocol/mkm/document.ts';
import type { Document } from '../protocol/mkm/document.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import type { Meta } from '../protocol/mkm/meta.ts';
import { senderVerifyKeys } from '../protocol/dkd/attachments.ts';
import type { ReceiverKey } from '../protocol/dkd/message-packer.ts';
import type { IdentityStore } from './identity-store.ts';

export type MetaVerdict = 'saved' | 'exists' | 'invalid' | 'mismatch';
export type DocumentVerdict =
  'saved' | 'not-changed' | 'meta-not-found' | 'not-verified' | 'future' | 'id-mismatch';

export class IdentityDirectory {
  readonly store: IdentityStore;

  constructor(store: IdentityStore) {
    this.store = store;
  }

  meta(id: ID): Promise<Meta | undefined> {
    return this.store.getMeta(id);
  }

  documents(id: ID): Promise<Document[]> {
    return this.store.getDocuments(id);
  }

  async visas(id: ID): Promise<Document[]> {
    return (await this.store.getDocuments(id)).filter((d) => d.type === 'visa');
  }

  async acceptMeta(id: ID, meta: Meta): Promise<MetaVerdict> {
    if (!meta.isValid()) return 'invalid';
    if (!meta.matches(id.naked())) return 'mismatch';
    return (await this.store.putMetaIfAbsent(id, meta)) ? 'saved' : 'exists';
  }

  /** Accept a document for `owner` (its ID must be the same entity). `now` in seconds. */
  async acceptDocument(doc: Document, now: number, owner: ID = doc.id): Promise<DocumentVerdict> {
    if (!doc.id.isSameAs(owner)) return 'id-mismatch';
    const meta = await this.store.getMeta(doc.id);
    if (!meta) return 'meta-not-found';
    if (doc.time > now + MAX_FUTURE_SKEW_SECONDS) return 'future';
    if (!doc.verify(meta.key)) return 'not-verified';
    return (await this.store.putDocumentIfNewer(doc)) ? 'saved' : 'not-changed';
  }

  /** Keys a message from `id` may be signed with (visa keys, then the meta key); [] when unknown. */
  async verifyKeys(id: ID): Promise<PublicKey[]> {
    const meta = await this.store.getMeta(id);
    if (!meta) return [];
    return senderVerifyKeys(meta, await this.visas(id));
  }

  /**
   * Keys to encrypt a message key for `id`: one per visa terminal (newest visa first for the bare-ID entry),
   * else the meta key if it can encrypt; [] when none is known.
   */
  async encryptKeys(id: ID): Promise<ReceiverKey[]> {
    const visas = (await this.visas(id)).sort((a, b) => b.time - a.time);
    const keys: ReceiverKey[] = [];
    for (const visa of visas) {
      const key = visa.visaKey;
      if (key?.canEncrypt) keys.push({ key, terminal: visa.terminal });
    }
    if (keys.length > 0) {
      const newest = keys[0] as ReceiverKey;
      if (newest.terminal !== undefined) keys.unshift({ key: newest.key, terminal: undefined });
      return keys;
    }
    const meta = await this.store.getMeta(id);
    return meta?.key.canEncrypt ? [{ key: meta.key, terminal: undefined }] : [];
  }
}

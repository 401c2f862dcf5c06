/**
 * Persistence of public identity records: metas (immutable, one per ID) and documents (visas per
 * terminal, bulletins, profiles). Implementations store what they are given; the acceptance rules live in
 * identity-directory.ts so that every engine applies the same ones.
 */
import type { Document } from '../protocol/mkm/document.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import type { Meta } from '../protocol/mkm/meta.ts';

export interface IdentityStore {
  getMeta(id: ID): Promise<Meta | undefined>;
  /** Store a meta unless one exists (metas never change). Returns false when one existed. */
  putMetaIfAbsent(id: ID, meta: Meta): Promise<boolean>;
  /** The stored documents of an entity (naked ID): the newest per (type, terminal). */
  getDocuments(id: ID): Promise<Document[]>;
  /** Store `doc` as the newest of its (type, terminal) slot unless the stored one is as new or newer. */
  putDocumentIfNewer(doc: Document): Promise<boolean>;
  close(): Promise<void>;
}

/** The slot a document occupies: one per type and terminal. */
export function documentSlot(doc: Document): string {
  return `${doc.type}/${doc.terminal ?? ''}`;
}

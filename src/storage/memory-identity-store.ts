/** In-memory IdentityStore for the embedded single-process engine and tests. Keeps nothing across restarts. */
import type { Document } from '../protocol/mkm/document.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import type { Meta } from '../protocol/mkm/meta.ts';
import { documentSlot } from './identity-store.ts';
import type { IdentityStore } from './identity-store.ts';

export class MemoryIdentityStore implements IdentityStore {
  readonly #metas = new Map<string, Meta>();
  readonly #documents = new Map<string, Map<string, Document>>();

  async getMeta(id: ID): Promise<Meta | undefined> {
    return this.#metas.get(id.naked().string);
  }

  async putMetaIfAbsent(id: ID, meta: Meta): Promise<boolean> {
    const key = id.naked().string;
    if (this.#metas.has(key)) return false;
    this.#metas.set(key, meta);
    return true;
  }

  async getDocuments(id: ID): Promise<Document[]> {
    return [...(this.#documents.get(id.naked().string)?.values() ?? [])];
  }

  async putDocumentIfNewer(doc: Document): Promise<boolean> {
    const key = doc.id.naked().string;
    let slots = this.#documents.get(key);
    if (!slots) {
      slots = new Map();
      this.#documents.set(key, slots);
    }
    const slot = documentSlot(doc);
    const existing = slots.get(slot);
    if (existing && existing.time >= doc.time) return false;
    slots.set(slot, doc);
    return true;
  }

  async close(): Promise<void> {
    // nothing to release
  }
}

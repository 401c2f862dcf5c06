/**
 * What a client knows about other entities (users, stations): their metas and visas, checked before they
 * are stored (the meta must generate the ID, a visa must verify with the meta key). It answers the two
 * questions of the message pipelines: which keys may have signed a message from X (visa keys, then the meta
 * key), and which keys encrypt for X (one visa key per terminal, else the meta key when it can encrypt).
 * A directory can be shared by many clients (a load generator's user pool).
 */
import type { PublicKey } from '../protocol/crypto/asymmetric-key.ts';
import { senderVerifyKeys } from '../protocol/dkd/attachments.ts';
import type { ReceiverKey } from '../protocol/dkd/message-packer.ts';
import { Document, parseDocument } from '../protocol/mkm/document.ts';
import { parseId } from '../protocol/mkm/identifier.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import { Meta, parseMeta } from '../protocol/mkm/meta.ts';
import { ClientError } from './client-error.ts';

/** A contact as callers hand it over: an identity, or parsed / wire-form meta and visa. */
export interface ContactInput {
  readonly id: ID | string;
  readonly meta: Meta | Record<string, unknown>;
  readonly visa?: Document | Record<string, unknown> | undefined;
}

interface Entry {
  readonly id: ID;
  readonly meta: Meta;
  /** Newest visa per terminal (`''` for a visa without terminal). */
  readonly visas: Map<string, Document>;
}

export class KeyDirectory {
  readonly #entries = new Map<string, Entry>();

  /** Number of entities known. */
  get size(): number {
    return this.#entries.size;
  }

  /** Add a contact; throws BAD_IDENTITY when the meta does not generate the ID or the visa does not verify. */
  add(contact: ContactInput): void {
    let id: ID;
    let meta: Meta;
    try {
      id = typeof contact.id === 'string' ? parseId(contact.id) : contact.id;
      meta = contact.meta instanceof Meta ? contact.meta : parseMeta(contact.meta);
    } catch (cause) {
      throw new ClientError('BAD_IDENTITY', 'contact ID or meta does not parse', { cause });
    }
    if (!this.addMeta(id, meta)) throw new ClientError('BAD_IDENTITY', `meta does not generate ${id.string}`);
    if (contact.visa === undefined) return;
    let visa: Document;
    try {
      visa = contact.visa instanceof Document ? contact.visa : parseDocument(contact.visa);
    } catch (cause) {
      throw new ClientError('BAD_IDENTITY', 'contact visa does not parse', { cause });
    }
    if (!this.addVisa(visa)) throw new ClientError('BAD_IDENTITY', `visa of ${id.string} does not verify`);
  }

  /** Store a meta if it is valid and generates `id` (an existing meta is kept: metas never change). */
  addMeta(id: ID, meta: Meta): boolean {
    const key = id.naked().string;
    const existing = this.#entries.get(key);
    if (existing !== undefined) return existing.meta.key.equals(meta.key);
    if (!meta.matches(id.naked())) return false;
    this.#entries.set(key, { id: id.naked(), meta, visas: new Map() });
    return true;
  }

  /** Store a visa if its owner's meta is known and it verifies; keeps the newest per terminal. */
  addVisa(visa: Document): boolean {
    const entry = this.#entries.get(visa.id.naked().string);
    if (entry === undefined || !visa.verify(entry.meta.key)) return false;
    const terminal = visa.terminal ?? '';
    const current = entry.visas.get(terminal);
    if (current === undefined || current.time <= visa.time) entry.visas.set(terminal, visa);
    return true;
  }

  has(id: ID): boolean {
    return this.#entries.has(id.naked().string);
  }

  meta(id: ID): Meta | undefined {
    return this.#entries.get(id.naked().string)?.meta;
  }

  /** The newest visa of each terminal. */
  visas(id: ID): Document[] {
    const entry = this.#entries.get(id.naked().string);
    return entry === undefined ? [] : [...entry.visas.values()];
  }

  /** Keys that may have signed a message from `id` (visa keys first, then the meta key); [] when unknown. */
  verifyKeys(id: ID): PublicKey[] {
    const entry = this.#entries.get(id.naked().string);
    if (entry === undefined) return [];
    return senderVerifyKeys(entry.meta, [...entry.visas.values()]);
  }

  /**
   * Keys to encrypt a message key for `id`: the visa key of each terminal (the wildcard entry for a visa
   * without terminal), else the meta key if it can encrypt; [] when none is known.
   */
  encryptKeys(id: ID): ReceiverKey[] {
    const entry = this.#entries.get(id.naked().string);
    if (entry === undefined) return [];
    const out: ReceiverKey[] = [];
    // the wildcard (terminal-less) visa first: packMessage uses the first key for the bare-ID entry
    const visas = [...entry.visas.values()].sort(
      (a, b) => Number(a.terminal !== undefined) - Number(b.terminal !== undefined),
    );
    for (const visa of visas) {
      const key = visa.visaKey;
      if (key !== undefined && key.canEncrypt) out.push({ key, terminal: visa.terminal });
    }
    if (out.length === 0 && entry.meta.key.canEncrypt) out.push({ key: entry.meta.key });
    return out;
  }

  delete(id: ID): void {
    this.#entries.delete(id.naked().string);
  }
}

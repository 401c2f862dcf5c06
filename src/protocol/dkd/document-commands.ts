/**
 * `meta` and `documents` commands, with the legacy forms real clients still send: `document` with a
 * single `document` object, older `profile` (a JSON string plus top-level `signature`, or an object), and
 * `ID` instead of `did`. Responses use the compatible form (`documents` list plus `document` = newest,
 * both `did` and `ID`).
 */
import { ProtocolError } from '../protocol-error.ts';
import { tryParseId } from '../mkm/identifier.ts';
import type { ID } from '../mkm/identifier.ts';
import type { Meta } from '../mkm/meta.ts';
import type { Document } from '../mkm/document.ts';
import type { Content } from './content.ts';
import { newCommand } from './content.ts';

/** At most this many documents in one `documents` command (one visa per terminal, plus a bulletin). */
export const MAX_DOCUMENTS_PER_COMMAND = 32;

export interface MetaCommand {
  readonly id: ID;
  /** Raw meta dictionary when the command saves one; undefined for a query. */
  readonly meta: unknown;
}

export interface DocumentsCommand {
  readonly id: ID;
  readonly meta: unknown;
  /** Raw document dictionaries when saving; undefined for a query. */
  readonly documents: readonly unknown[] | undefined;
  /** For queries: answer "Document not updated." unless something is newer than this (seconds). */
  readonly lastTime: number | undefined;
}

function commandId(content: Content): ID {
  const id = tryParseId(content.dict['did'] ?? content.dict['ID']);
  if (!id) throw new ProtocolError('BAD_CONTENT', `${content.command ?? 'command'} without a valid did`);
  return id;
}

function present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

export function parseMetaCommand(content: Content): MetaCommand | undefined {
  if (content.command !== 'meta') return undefined;
  const meta = content.dict['meta'];
  return { id: commandId(content), meta: present(meta) ? meta : undefined };
}

export function parseDocumentsCommand(content: Content): DocumentsCommand | undefined {
  const name = content.command;
  if (name !== 'documents' && name !== 'document' && name !== 'profile') return undefined;
  const dict = content.dict;
  const id = commandId(content);
  let documents: unknown[] | undefined;
  if (Array.isArray(dict['documents'])) {
    documents = dict['documents'];
  } else if (present(dict['document'])) {
    documents = [dict['document']];
  } else if (typeof dict['profile'] === 'string') {
    // oldest form: the profile's data text, with the signature at the command's top level
    documents = [{ did: id.string, data: dict['profile'], signature: dict['signature'] }];
  } else if (present(dict['profile'])) {
    documents = [dict['profile']];
  }
  if (documents !== undefined && documents.length > MAX_DOCUMENTS_PER_COMMAND) {
    throw new ProtocolError('FIELD_TOO_LARGE', 'too many documents in one command');
  }
  const lastTime = dict['last_time'];
  const meta = dict['meta'];
  return {
    id,
    meta: present(meta) ? meta : undefined,
    documents,
    lastTime: typeof lastTime === 'number' && Number.isFinite(lastTime) ? lastTime : undefined,
  };
}

export function buildMetaResponse(id: ID, meta: Meta, now: number): Record<string, unknown> {
  return newCommand('meta', now, { did: id.string, meta: meta.toJSON() });
}

export function buildDocumentsResponse(
  id: ID,
  meta: Meta | undefined,
  documents: readonly Document[],
  now: number,
): Record<string, unknown> {
  const docs = documents.map((d) => d.toJSON());
  const fields: Record<string, unknown> = { did: id.string, documents: docs };
  if (meta) fields['meta'] = meta.toJSON();
  const newest = docs[docs.length - 1];
  if (newest !== undefined) fields['document'] = newest;
  return newCommand('documents', now, fields);
}

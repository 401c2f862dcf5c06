/**
 * Receipts (core-py dimp/protocol/receipt.py plus the compat layer): `text`, `origin` = the original
 * envelope without `data`/`key`/`keys`/`meta`/`visa`, the same as v1 `envelope`, and `sender`, `receiver`,
 * `sn`, `signature` copied to the top level for old clients. Station receipts add `template` +
 * `replacements` for client-side localization.
 */
import type { Content } from './content.ts';
import { newCommand } from './content.ts';
import type { ReliableMessage } from './reliable-message.ts';

const STRIPPED = new Set(['data', 'key', 'keys', 'meta', 'visa']);

export interface ReceiptOptions {
  readonly template?: string;
  readonly replacements?: Record<string, unknown>;
  /** Extra fields such as `recipient` (delivered to) or `neighbor` (redirected to). */
  readonly extra?: Record<string, unknown>;
  /** The processed content, when the station decrypted it: its `sn` and `type` go into `origin`. */
  readonly content?: Content;
}

/** The envelope of `message` as receipts carry it. */
export function receiptOrigin(message: ReliableMessage, content?: Content): Record<string, unknown> {
  const origin: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(message.dict)) if (!STRIPPED.has(k)) origin[k] = v;
  if (content?.sn !== undefined) origin['sn'] = content.sn;
  if (content !== undefined) origin['type'] = content.type;
  else if (message.type !== undefined) origin['type'] = message.type;
  return origin;
}

export function buildReceipt(
  text: string,
  message: ReliableMessage,
  now: number,
  options: ReceiptOptions = {},
): Record<string, unknown> {
  const origin = receiptOrigin(message, options.content);
  const fields: Record<string, unknown> = {
    text,
    origin,
    envelope: origin,
    sender: origin['sender'],
    receiver: origin['receiver'],
  };
  if (origin['signature'] !== undefined) fields['signature'] = origin['signature'];
  if (options.template !== undefined) fields['template'] = options.template;
  if (options.replacements !== undefined) fields['replacements'] = options.replacements;
  if (options.extra) Object.assign(fields, options.extra);
  return newCommand('receipt', now, fields);
}

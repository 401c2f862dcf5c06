/**
 * Refusals of a client session: the coded Rejection a check throws, and the receipts that tell a
 * logged-in client which of its messages was refused and why (`error.code` from the error catalogue).
 * A refusal receipt never echoes the refused message back: its `origin` keeps only short, well-typed
 * envelope fields (a poison message must not come back as a poison receipt).
 */
import { newCommand } from '../protocol/dkd/content.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import type { ProtocolErrorCode } from '../protocol/protocol-error.ts';

/** Why a message was refused; logged with this code and, where possible, told to the sender. */
export type RejectCode =
  | 'RATE_LIMITED'
  | 'SIGNATURE_INVALID'
  | 'VERIFY_KEY_NOT_FOUND'
  | 'SENDER_MISMATCH'
  | 'HELD_QUEUE_FULL'
  | 'IDENTITY_CONFLICT'
  | 'WRONG_STATION'
  | 'FORGED_RELAY'
  | ProtocolErrorCode;

export class Rejection extends Error {
  readonly code: RejectCode;
  /** Whether the client should get an `OK` (the message is settled) or resend later. */
  readonly settle: boolean;
  constructor(code: RejectCode, message: string, settle: boolean) {
    super(message);
    this.code = code;
    this.settle = settle;
  }
}

/** The text of a refusal receipt for a protocol error code. */
export function refusalText(code: RejectCode, detail?: string): string {
  return detail === undefined ? `Message rejected: ${code}.` : `Message rejected: ${code} (${detail}).`;
}

const MAX_ORIGIN_STRING = 2048;

const shortString = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= MAX_ORIGIN_STRING;

/** The refused message's identifying envelope fields (sender, receiver, group, time, type, signature). */
export function refusalOrigin(message: ReliableMessage | undefined, line?: string): Record<string, unknown> {
  const origin: Record<string, unknown> = {};
  if (message !== undefined) {
    const dict = message.dict;
    origin['sender'] = message.sender.string;
    origin['receiver'] = message.receiver.string;
    if (message.group !== undefined) origin['group'] = message.group.string;
    if (typeof dict['time'] === 'number' && Number.isFinite(dict['time'])) origin['time'] = dict['time'];
    if (message.type !== undefined) origin['type'] = message.type;
    if (shortString(dict['signature'])) origin['signature'] = dict['signature'];
    return origin;
  }
  if (line !== undefined) {
    const signature = signatureHint(line);
    if (signature !== undefined) origin['signature'] = signature;
  }
  return origin;
}

/**
 * The `signature` string cut out of a text that did not parse (as WebSocket ACKs find it: the first
 * `"signature"` key, up to the closing quote), so the client can tell which of its messages was refused.
 */
export function signatureHint(text: string): string | undefined {
  const at = text.indexOf('"signature"');
  if (at < 0) return undefined;
  const match = /^"signature"\s*:\s*"([A-Za-z0-9+/=_-]{1,2048})"/.exec(text.slice(at, at + 2100));
  return match?.[1];
}

/** A receipt refusing a message: `text`, `error: {code, message}`, the origin envelope and its top-level copies. */
export function buildRefusalReceipt(
  code: RejectCode,
  text: string,
  origin: Record<string, unknown>,
  now: number,
): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    text,
    template: text,
    replacements: { code },
    error: { code },
    origin,
    envelope: origin,
  };
  for (const key of ['sender', 'receiver', 'signature'] as const) {
    if (origin[key] !== undefined) fields[key] = origin[key];
  }
  return newCommand('receipt', now, fields);
}

/**
 * Structured logging: pino JSON on stdout, one child logger per module (`module`) and per connection
 * (`conn`). Message bodies and private keys are never logged; redaction is a second line of defence, at
 * any depth: a field named like a secret or a message body is replaced wherever it is nested (a station
 * key file's `identity_key` inside an error's details, a message's `data` inside an entry…).
 */
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { LogLevel } from '../config/station-config.ts';

export type { Logger };

export const REDACTED = '[redacted]';

/** Field names whose values are never logged, at any depth (compared case-insensitively). */
const SECRET_FIELDS = new Set(
  [
    'data',
    'key',
    'keys',
    'signature',
    'body',
    'identity_key',
    'identityKey',
    'decrypt_keys',
    'decryptKeys',
    'private_key',
    'privateKey',
    'secret',
    'password',
    'passphrase',
    'token',
    'pushToken',
    'push_token',
    'authorization',
  ].map((name) => name.toLowerCase()),
);

/** Nesting levels walked; deeper values are replaced whole (they are never needed in a log line). */
const MAX_DEPTH = 12;

function redactValue(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return value; // pino's err serializer: message, stack, code
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[too deep]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1, seen));
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return REDACTED;
  const out: Record<string, unknown> = {};
  for (const [name, item] of Object.entries(value as Record<string, unknown>)) {
    out[name] = SECRET_FIELDS.has(name.toLowerCase()) ? REDACTED : redactValue(item, depth + 1, seen);
  }
  return out;
}

/** A copy of a log record's fields with every secret field replaced, at any depth. */
export function redactDeep(fields: Record<string, unknown>): Record<string, unknown> {
  const seen = new WeakSet<object>();
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    // top-level `body` / `key` of a record are the same secrets; `msg`, `code`, `err` pass through
    out[name] = SECRET_FIELDS.has(name.toLowerCase()) ? REDACTED : redactValue(value, 1, seen);
  }
  return out;
}

export function createLogger(
  level: LogLevel,
  name = 'dim-station',
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    base: { pid: process.pid },
    formatters: { log: (fields) => redactDeep(fields) },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

/** A logger that drops everything (tests, library defaults). */
export const silentLogger: Logger = pino({ level: 'silent' });

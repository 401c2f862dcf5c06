/**
 * Structured logging: pino JSON on stdout, one child logger per module (`module`) and per connection
 * (`conn`). Message bodies and private keys are never logged; redaction is a second line of defence.
 */
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { LogLevel } from '../config/station-config.ts';

export type { Logger };

export function createLogger(level: LogLevel, name = 'dim-station'): Logger {
  return pino({
    name,
    level,
    base: { pid: process.pid },
    redact: {
      paths: ['*.data', '*.key', '*.keys', '*.signature', 'body', '*.body', 'identity_key', 'decrypt_keys'],
      censor: '[redacted]',
    },
  });
}

/** A logger that drops everything (tests, library defaults). */
export const silentLogger: Logger = pino({ level: 'silent' });

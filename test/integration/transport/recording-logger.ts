/** A pino-compatible logger that records every line (level, fields, message), children included. */
import type { TransportLogger } from '../../../src/transport/transport-logger.ts';

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: Record<string, unknown>;
  readonly msg: string | undefined;
}

export function recordingLogger(
  lines: LogLine[] = [],
  bindings: Record<string, unknown> = {},
): TransportLogger & {
  lines: LogLine[];
} {
  const at =
    (level: LogLine['level']) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, fields: { ...bindings, ...(obj as Record<string, unknown>) }, msg });
    };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => recordingLogger(lines, { ...bindings, ...more }),
  };
}

/** The lines carrying `code`. */
export function withCode(lines: readonly LogLine[], code: string): LogLine[] {
  return lines.filter((line) => line.fields.code === code);
}

/**
 * The logger the transport layer writes to: the subset of a pino logger it uses (a pino `Logger` fits as
 * is). Every line carries a stable `code` field. Defaults to {@link noopTransportLogger}.
 */
export interface TransportLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): TransportLogger;
}

function ignore(): void {}

/** A logger that drops everything. */
export const noopTransportLogger: TransportLogger = {
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
  child: () => noopTransportLogger,
};

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

/**
 * A logger that adds `bindings` to every line it writes through `parent`, without creating a child
 * logger up front: per connection it costs one small object instead of a pino child (its own object,
 * serialized bindings and prototype chain). The line is the same as the child's would be.
 */
export class BoundLogger implements TransportLogger {
  readonly #parent: TransportLogger;
  readonly #bindings: Readonly<Record<string, unknown>>;

  constructor(parent: TransportLogger, bindings: Readonly<Record<string, unknown>>) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  debug(obj: object, msg?: string): void {
    this.#parent.debug({ ...this.#bindings, ...obj }, msg);
  }

  info(obj: object, msg?: string): void {
    this.#parent.info({ ...this.#bindings, ...obj }, msg);
  }

  warn(obj: object, msg?: string): void {
    this.#parent.warn({ ...this.#bindings, ...obj }, msg);
  }

  error(obj: object, msg?: string): void {
    this.#parent.error({ ...this.#bindings, ...obj }, msg);
  }

  child(bindings: Record<string, unknown>): TransportLogger {
    return new BoundLogger(this.#parent, { ...this.#bindings, ...bindings });
  }
}

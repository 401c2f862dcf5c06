/**
 * Errors raised by the message bus, with stable codes:
 * - `BUS_UNAVAILABLE`: the backing store (Redis) cannot be reached, or did not answer in time;
 * - `BUS_CLOSED`: the bus (or consumer) was closed;
 * - `BUS_REJECTED`: the store refused the command (wrong key type, bad argument…): retrying will not help;
 * - `BUS_NO_GROUP`: the consumer group vanished (Redis restarted without persistence); consumers recreate it;
 * - `BUS_BAD_ARGUMENT`: invalid options.
 *
 * Log lines use further codes that are never thrown: `BUS_HANDLER_FAILED`, `BUS_DEAD_LETTER`,
 * `BUS_DEAD_LETTER_FAILED`, `BUS_ACK_FAILED`, `BUS_ENTRY_TRIMMED`, `BUS_OWNERSHIP_LOST`,
 * `BUS_GROUP_CREATED`, `BUS_RECOVERED`.
 */
export type BusErrorCode =
  'BUS_UNAVAILABLE' | 'BUS_CLOSED' | 'BUS_REJECTED' | 'BUS_NO_GROUP' | 'BUS_BAD_ARGUMENT';

export class BusError extends Error {
  readonly code: BusErrorCode;

  constructor(code: BusErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BusError';
    this.code = code;
  }
}

/** True when `err` is a BusError (with the given code, if one is given). */
export function isBusError(err: unknown, code?: BusErrorCode): err is BusError {
  return err instanceof BusError && (code === undefined || err.code === code);
}

/**
 * Errors raised by the DIM client library. Every error carries a stable `code` so that tests and the load
 * generator can count outcomes (timeouts, closed connections, failed handshakes) without parsing messages.
 */
export type ClientErrorCode =
  /** The transport (or the client) is closed; pending operations are rejected with this code. */
  | 'CLOSED'
  /** Connecting to the station failed or timed out. */
  | 'CONNECT_FAILED'
  /** MTP: no `OK` Message Response for a sent message within the timeout. */
  | 'ACK_TIMEOUT'
  /** No `PONG` within the timeout. */
  | 'PING_TIMEOUT'
  /** No `DIM!` within the timeout. */
  | 'HANDSHAKE_TIMEOUT'
  /** The station's handshake reply did not verify, or came from an unexpected station. */
  | 'HANDSHAKE_FAILED'
  /** An operation that needs the station's ID and keys was called before a handshake. */
  | 'NOT_HANDSHAKEN'
  /** No visa or meta key is known to encrypt for the receiver. */
  | 'NO_KEY_FOR_RECEIVER'
  /** `waitFor` ran out of time. */
  | 'TIMEOUT'
  /** A contact (meta / visa) or an identity file does not check out. */
  | 'BAD_IDENTITY';

export class ClientError extends Error {
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientError';
    this.code = code;
  }
}

export function isClientError(err: unknown, code?: ClientErrorCode): err is ClientError {
  return err instanceof ClientError && (code === undefined || err.code === code);
}

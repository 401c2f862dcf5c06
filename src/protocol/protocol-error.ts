/**
 * Errors raised by the protocol core. Every error carries a stable `code` so that callers can map it
 * to a receipt, a close reason or a log line without parsing messages.
 */
export type ProtocolErrorCode =
  | 'BAD_BASE64'
  | 'BAD_BASE58'
  | 'BAD_HEX'
  | 'BAD_TED'
  | 'BAD_PEM'
  | 'BAD_KEY'
  | 'UNSUPPORTED_KEY'
  | 'KEY_CANNOT_ENCRYPT'
  | 'DECRYPT_FAILED'
  | 'BAD_SYMMETRIC_KEY'
  | 'BAD_ADDRESS'
  | 'BAD_ID'
  | 'BAD_META'
  | 'META_MISMATCH'
  | 'BAD_DOCUMENT'
  | 'BAD_JSON'
  | 'BAD_MESSAGE'
  | 'BAD_ENVELOPE'
  | 'BAD_TIME'
  | 'NESTING_TOO_DEEP'
  | 'BAD_CONTENT'
  | 'FIELD_TOO_LARGE'
  | 'SIGNATURE_INVALID'
  | 'VERIFY_KEY_NOT_FOUND'
  | 'NO_KEY_FOR_RECEIVER';

export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

export function isProtocolError(err: unknown, code?: ProtocolErrorCode): err is ProtocolError {
  return err instanceof ProtocolError && (code === undefined || err.code === code);
}

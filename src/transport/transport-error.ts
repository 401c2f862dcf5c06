/**
 * Errors raised by the transport layer (framing codecs, connections). Every error carries a stable `code`
 * so that callers can map it to a close reason or a log line without parsing messages.
 *
 * Codes used by the MTP codec:
 * - `MTP_BAD_HEADER`: not a valid MTP header (magic, header-length nibble, data type, pages/index);
 * - `MTP_HEADER_TRUNCATED`: fewer bytes than the header announces;
 * - `MTP_NO_BODY_LENGTH`: a valid header without a body length (4/12/20 bytes, UDP only) found on a stream;
 * - `MTP_FRAME_TOO_LARGE`: a header announces a body larger than allowed (fatal for the connection);
 * - `MTP_BAD_ARGUMENT`: invalid input to an encoder (sn size, pages/index, type).
 * Decoder events (reported, not thrown) use `MTP_GARBAGE_SKIPPED` and `MTP_GARBAGE_OVERFLOW`.
 */
export class TransportError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransportError';
    this.code = code;
  }
}

/** True when `err` is a TransportError (with the given code, if one is given). */
export function isTransportError(err: unknown, code?: string): err is TransportError {
  return err instanceof TransportError && (code === undefined || err.code === code);
}

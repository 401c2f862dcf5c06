/**
 * What a gateway session sees of a client connection, whatever its framing (MTP over TCP or WebSocket).
 * Heartbeats (MTP `PING`/`PONG` commands, WebSocket text `PING`/`PONG`/`NOOP`), frame limits, idle timeouts
 * and write backpressure are handled below this interface; a session only sees message packages.
 */

export type ChannelKind = 'mtp' | 'websocket';

/** Stable close reasons (logged, sent to WebSocket clients in the close frame, to MTP clients in a `BYE`). */
export type CloseCode =
  | 'FRAME_TOO_LARGE'
  | 'GARBAGE'
  | 'IDLE_TIMEOUT'
  | 'TOO_SLOW'
  | 'WRONG_STATION'
  | 'PROXY_UNTRUSTED'
  | 'TLS_ERROR'
  | 'MTP_FRAGMENT_REFUSED'
  | 'HANDSHAKE_TIMEOUT'
  | 'SLOW_CONSUMER'
  | 'RATE_LIMITED'
  | 'PROTOCOL_ERROR'
  | 'UNKNOWN_PROTOCOL'
  | 'PROXY_ERROR'
  | 'TOO_MANY_CONNECTIONS'
  | 'IDENTITY_CONFLICT'
  | 'SHUTDOWN'
  | 'PEER_CLOSED'
  | 'SOCKET_ERROR';

export interface CloseInfo {
  readonly code: CloseCode;
  readonly reason: string;
  /** True when the station decided to close (false when the peer went away). */
  readonly local: boolean;
}

/** How a pushed message ended. */
export type DeliveryResult =
  /** The client confirmed it (MTP Message Response `OK`, WebSocket `ACK:`). */
  | 'acked'
  /** Written to a WebSocket client that has not (yet) shown it sends ACKs: counted as sent. */
  | 'written'
  /** No confirmation after the configured tries / expiry. */
  | 'expired'
  /** The connection closed first. */
  | 'closed';

export interface RemoteAddress {
  /** The client address: from the PROXY header when enabled, else the socket peer. */
  readonly address: string;
  readonly port: number;
}

export interface ChannelHandler {
  /**
   * One message package (a reliable-message JSON text, or several separated by newlines). `ack()` sends
   * the MTP Message Response `OK` for the frame (a no-op on WebSocket); call it only once the package is
   * durably accepted, exactly once (later calls are ignored).
   */
  onPackage(body: Buffer, ack: () => void): void;
  /** Called once, when the channel is closed for any reason. */
  onClose(info: CloseInfo): void;
}

export interface ClientChannel {
  /** Unique within the process, e.g. `m17` / `w18`. */
  readonly id: string;
  readonly kind: ChannelKind;
  readonly remote: RemoteAddress;
  /** Bytes queued for writing and not yet flushed to the socket. */
  readonly bufferedBytes: number;
  readonly closed: boolean;
  /** Install the handler; packages arriving before this are buffered (bounded). */
  setHandler(handler: ChannelHandler): void;
  /**
   * Push a message (one reliable-message JSON text, no raw newlines). MTP: a Message package with a fresh
   * sn, retried until the `OK` arrives (tries and expiry configurable, 3 × 120 s by default). WebSocket:
   * one text frame; confirmed by `ACK:{"time","signature"}` once the client has shown it sends ACKs.
   * `signature` / `time` are the message's, for ACK matching.
   */
  push(body: string, ackKey?: { signature?: string; time?: string }): Promise<DeliveryResult>;
  /** Close with a reason; idempotent. Pending pushes resolve `closed`. */
  close(code: CloseCode, reason: string): void;
}

/**
 * What a DIM client needs from a connection to a station: send one reliable-message text, receive the
 * station's message texts, application-level heartbeats, and close. Framing details (MTP transaction IDs and
 * `OK` responses, WebSocket `ACK:` frames, `PING`/`PONG`) stay inside the implementations:
 * mtp-client-transport.ts and ws-client-transport.ts.
 */

/** Why and how a transport closed. */
export interface TransportCloseInfo {
  /** WebSocket close status (1000, 1006…); undefined for MTP. */
  readonly code: number | undefined;
  /** WebSocket close reason, or a description (`closed by client`, `socket closed`, an error message). */
  readonly reason: string;
  /** Whether the client closed the connection itself (close() called). */
  readonly byClient: boolean;
  /** The socket error that closed the connection, if any. */
  readonly error: Error | undefined;
}

export interface ClientTransport {
  readonly kind: 'mtp' | 'ws';
  /** Whether the connection is closed (or closing). */
  readonly closed: boolean;
  /** The station's address as this socket sees it. */
  readonly remoteHost: string | undefined;
  readonly remotePort: number | undefined;
  /**
   * Send one message text. MTP: resolves when the station's `OK` Message Response for that frame arrives
   * (rejects with ACK_TIMEOUT); WebSocket: resolves when the frame is written. Rejects with CLOSED.
   */
  send(body: string): Promise<void>;
  /** Receive the station's message texts (control frames and heartbeats excluded). Returns an unsubscribe. */
  onMessage(listener: (body: string) => void): () => void;
  /** Called once when the connection closes. Returns an unsubscribe. */
  onClose(listener: (info: TransportCloseInfo) => void): () => void;
  /** Application-level heartbeat: `PING`, resolves with the round-trip time in ms on `PONG`. */
  ping(timeoutMs?: number): Promise<number>;
  /** Close the connection; idempotent; resolves once the socket is closed. */
  close(): Promise<void>;
}

/**
 * The one catalogue of coded errors: every code a client can be told (receipt `error.code`, WebSocket
 * close reason, MTP `BYE`) or an operator can find in the log at warn level or above, with what it means,
 * what the client sees and the level it is logged at. The README's "Error codes" table is rendered from
 * it (test/unit/errors/error-catalogue.test.ts keeps the two in step); add a code here first.
 */

export type LogLevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug';

/** What reaches the client. */
export type ClientSees =
  /** A receipt (`command: "receipt"`) whose `error.code` is the code; the frame is acknowledged. */
  | 'receipt'
  /** The connection is closed with the code (WebSocket close reason, MTP `BYE` body). */
  | 'close'
  /** No `OK` for the frame (the client resends it later). */
  | 'no-ok'
  /** A handshake reply (`DIM?`). */
  | 'handshake'
  /** Nothing (an operator-only condition). */
  | 'nothing';

export interface CatalogueEntry {
  readonly code: string;
  readonly meaning: string;
  readonly client: ClientSees;
  readonly level: LogLevelName;
}

const entries = [
  // ---- message refusals (a receipt to a logged-in sender; from an unproven sender a log line) ----
  { code: 'BAD_JSON', meaning: 'A message is not JSON.', client: 'receipt', level: 'warn' },
  {
    code: 'BAD_MESSAGE',
    meaning: 'A message lacks sender, data or signature, or a field is not decodable.',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'BAD_ENVELOPE',
    meaning:
      'An envelope field has the wrong type or encoding (time, type, IV, key/keys, data, signature, SDT/GDT, traces, recipients, group).',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'BAD_TIME',
    meaning: 'The message `time` is missing, negative, not a number or more than a day ahead.',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'NESTING_TOO_DEEP',
    meaning: 'A message nests arrays or objects deeper than the parser allows (64 levels).',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'FIELD_TOO_LARGE',
    meaning: 'A message field is longer than its limit (data, signature, key, keys, traces, IDs).',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'BAD_CONTENT',
    meaning: 'A broadcast to the station does not carry a JSON content.',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'BAD_META',
    meaning: 'The attached meta is not valid.',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'META_MISMATCH',
    meaning: 'The attached meta does not generate the sender ID.',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'BAD_DOCUMENT',
    meaning: 'The attached visa does not parse, belongs to another ID or does not verify.',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'SIGNATURE_INVALID',
    meaning: 'The message signature does not verify with the sender keys.',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'VERIFY_KEY_NOT_FOUND',
    meaning: 'The sender meta/visa is unknown to the station (attach them, or send the meta first).',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'FORGED_RELAY',
    meaning: 'A station relayed a message whose signature does not verify against the original sender keys.',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'SENDER_MISMATCH',
    meaning: 'The sender is not the user logged in on this connection.',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'RATE_LIMITED',
    meaning: 'The connection sent more messages than its rate allows (persistent excess closes it).',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'HELD_QUEUE_FULL',
    meaning: 'Too many messages arrived before the handshake; the frame is not acknowledged.',
    client: 'no-ok',
    level: 'warn',
  },
  {
    code: 'WRONG_STATION',
    meaning: 'A handshake was addressed to another station.',
    client: 'receipt',
    level: 'warn',
  },
  {
    code: 'MTP_FRAGMENT_REFUSED',
    meaning: 'An MTP fragment could not be reassembled (bad index/pages, too many pages or bytes).',
    client: 'close',
    level: 'warn',
  },
  {
    code: 'NOT_ACCEPTED',
    meaning: 'A message could not be stored durably (Redis unreachable); no OK is sent.',
    client: 'no-ok',
    level: 'error',
  },
  // ---- connection closes ----
  {
    code: 'FRAME_TOO_LARGE',
    meaning: 'A frame exceeds the maximum frame size.',
    client: 'close',
    level: 'warn',
  },
  {
    code: 'GARBAGE',
    meaning: 'Bytes that are no MTP/WebSocket/TLS framing.',
    client: 'close',
    level: 'warn',
  },
  { code: 'IDLE_TIMEOUT', meaning: 'No bytes for the idle timeout.', client: 'close', level: 'info' },
  {
    code: 'TOO_SLOW',
    meaning:
      'A frame still incomplete after the frame timeout arrives slower than the minimum byte rate (slowloris).',
    client: 'close',
    level: 'warn',
  },
  {
    code: 'HANDSHAKE_TIMEOUT',
    meaning: 'No completed handshake within the handshake timeout.',
    client: 'close',
    level: 'info',
  },
  {
    code: 'SLOW_CONSUMER',
    meaning: 'The client reads too slowly; its outgoing queue exceeded the limit.',
    client: 'close',
    level: 'warn',
  },
  {
    code: 'PROTOCOL_ERROR',
    meaning: 'Too many refused or unparseable messages on one connection.',
    client: 'close',
    level: 'warn',
  },
  {
    code: 'UNKNOWN_PROTOCOL',
    meaning: 'The first bytes are neither MTP, WebSocket nor TLS.',
    client: 'close',
    level: 'info',
  },
  {
    code: 'PROXY_ERROR',
    meaning: 'A PROXY header is missing, malformed or carries an invalid address.',
    client: 'close',
    level: 'warn',
  },
  {
    code: 'PROXY_UNTRUSTED',
    meaning: 'A connection did not come from a trusted proxy address.',
    client: 'close',
    level: 'warn',
  },
  {
    code: 'TOO_MANY_CONNECTIONS',
    meaning: 'The station or the client address has too many connections.',
    client: 'close',
    level: 'warn',
  },
  {
    code: 'IDENTITY_CONFLICT',
    meaning: 'A handshake for another user on an already logged-in connection.',
    client: 'receipt',
    level: 'warn',
  },
  { code: 'TLS_ERROR', meaning: 'The TLS handshake failed.', client: 'close', level: 'info' },
  { code: 'SHUTDOWN', meaning: 'The gateway is shutting down.', client: 'close', level: 'info' },
  { code: 'PEER_CLOSED', meaning: 'The client closed the connection.', client: 'nothing', level: 'info' },
  { code: 'SOCKET_ERROR', meaning: 'The socket failed.', client: 'close', level: 'info' },
  // ---- operator-only ----
  {
    code: 'CONFIG_INVALID',
    meaning: 'A configuration value, file key or DIM_* variable is invalid or unknown.',
    client: 'nothing',
    level: 'fatal',
  },
  {
    code: 'FATAL',
    meaning: 'The process failed to start or crashed; the JSON line carries the error.',
    client: 'nothing',
    level: 'fatal',
  },
  {
    code: 'NO_PUBLIC_HOST',
    meaning: 'The station visa names no public host: clients cannot find the station.',
    client: 'nothing',
    level: 'warn',
  },
  {
    code: 'TLS_RELOAD_FAILED',
    meaning: 'New certificate files could not be loaded on SIGHUP; the old ones stay in use.',
    client: 'nothing',
    level: 'error',
  },
  {
    code: 'REGISTRY_ERROR',
    meaning: 'The session registry (Redis) failed to bind or unbind a session.',
    client: 'nothing',
    level: 'error',
  },
  {
    code: 'BACKLOG_REQUEST_FAILED',
    meaning: 'The stored backlog of a session could not be requested.',
    client: 'nothing',
    level: 'error',
  },
  {
    code: 'BACKLOG_HOLD_TIMEOUT',
    meaning:
      'No backlog page reached a connection within DIM_BACKLOG_HOLD_MS (storage worker down or slow): its live messages went out without waiting, possibly ahead of older stored ones.',
    client: 'nothing',
    level: 'warn',
  },
  {
    code: 'BUS_TAIL_HANDLER_FAILED',
    meaning:
      'A bus tail handler failed (a gateway delivering an entry of its delivery stream, e.g. its delivered marks not recorded): the entry is not retried; its messages stay in the inbox for the next backlog drain.',
    client: 'nothing',
    level: 'warn',
  },
  // ---- federation (neighbour stations) ----
  {
    code: 'RELAY_SENDER_UNKNOWN',
    meaning:
      'A neighbour relayed a message of a sender whose keys are unknown here (no meta/visa attached); dropped.',
    client: 'nothing',
    level: 'warn',
  },
  {
    code: 'FEDERATION_QUEUE_FULL',
    meaning:
      "A neighbour's queue is full (DIM_FEDERATION_QUEUE_LIMIT): messages for it are stored here instead.",
    client: 'nothing',
    level: 'warn',
  },
  {
    code: 'ROAM_QUEUE_FULL',
    meaning:
      "Roaming a user's stored messages stopped: the neighbour's queue is full (the rest stay stored).",
    client: 'nothing',
    level: 'warn',
  },
  {
    code: 'LINK_PING_TIMEOUT',
    meaning: 'A neighbour did not answer PING on its link; the link reconnects.',
    client: 'nothing',
    level: 'warn',
  },
  {
    code: 'LINK_OWNERSHIP_LOST',
    meaning: 'Another bridge process took over a neighbour link (its owner key expired).',
    client: 'nothing',
    level: 'warn',
  },
  {
    code: 'LINK_OWNERSHIP_FAILED',
    meaning: 'A bridge could not renew its neighbour-link ownership (Redis unreachable).',
    client: 'nothing',
    level: 'error',
  },
  {
    code: 'NO_LINK',
    meaning: 'A reply for a neighbour link this bridge does not hold was dropped.',
    client: 'nothing',
    level: 'warn',
  },
  {
    code: 'RELAY_NOT_ACCEPTED',
    meaning: 'A message a neighbour pushed over our link could not be published to the inbound streams.',
    client: 'nothing',
    level: 'error',
  },
  {
    code: 'LINK_KEYS_NOT_SAVED',
    meaning: "A neighbour's meta/visa learnt in the link handshake could not be stored.",
    client: 'nothing',
    level: 'warn',
  },
  {
    code: 'CHANGE_SIGNAL_FAILED',
    meaning:
      "A change of a user's sessions or block list was stored but not signalled: dispatchers may use the old value until their cache expires (DIM_LOOKUP_CACHE_MS).",
    client: 'nothing',
    level: 'warn',
  },
] as const satisfies readonly CatalogueEntry[];

export type CatalogueCode = (typeof entries)[number]['code'];

export const ERROR_CATALOGUE: readonly CatalogueEntry[] = entries;

const byCode = new Map<string, CatalogueEntry>(entries.map((e) => [e.code, e]));

export function catalogueEntry(code: string): CatalogueEntry | undefined {
  return byCode.get(code);
}

const CLIENT_TEXT: Readonly<Record<ClientSees, string>> = {
  receipt: 'receipt with `error.code`',
  close: 'connection closed with the code',
  'no-ok': 'no `OK` (resend)',
  handshake: 'handshake reply',
  nothing: '—',
};

/** The README table (Markdown), one row per code in catalogue order. */
export function renderErrorTable(): string {
  const rows = ['| code | meaning | the client sees | log level |', '|---|---|---|---|'];
  for (const e of entries) {
    rows.push(
      `| \`${e.code}\` | ${e.meaning.replaceAll('|', '\\|')} | ${CLIENT_TEXT[e.client]} | ${e.level} |`,
    );
  }
  return rows.join('\n');
}

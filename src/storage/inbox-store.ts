/**
 * The offline inbox: every message for a user is stored before it is delivered, keyed by signature
 * (dedup), with per-terminal delivery state — one device's acknowledgement never deletes another
 * device's copy. An entry is removed when every terminal the user is known to use has it, or on expiry.
 */

export interface InboxMessage {
  /** The message signature (dedup key). */
  readonly sig: string;
  /** Message time (ms) — the order of the backlog. */
  readonly time: number;
  /** When it was stored (ms); drains requested at bind time exclude messages stored later (delivered live). */
  readonly storedAt: number;
  /** Only this terminal wants it (message addressed to `ID/terminal`); undefined = every terminal. */
  readonly terminal: string | undefined;
  /** The reliable message JSON text. */
  readonly json: string;
}

export interface InboxPage {
  readonly entries: readonly InboxMessage[];
  /** Cursor for the next page; undefined when this was the last one. */
  readonly next: string | undefined;
}

/** What InboxStore.putChecked did. */
export interface PutChecked {
  /** Stored (false: a message with this signature was stored before). */
  readonly stored: boolean;
  /** The user's sessions epoch was no longer the expected one when the put ran. */
  readonly rebound: boolean;
}

export interface InboxStore {
  /** Store unless a message with the same signature is stored for the user. Returns whether stored. */
  put(user: string, message: InboxMessage): Promise<boolean>;
  /**
   * `put`, and in the same atomic step whether the user's sessions epoch (SessionRegistry.snapshotOf) is
   * still `epoch`. When it is not (`rebound`), a session was bound or became active after the caller read
   * the sessions it routed the message on, and that session's backlog drain may have passed this message's
   * place before it was stored: the caller pushes the message to it. When it is, every session bound later
   * drains this message (its drain starts after its bind, and so after this put).
   */
  putChecked(user: string, message: InboxMessage, epoch: string): Promise<PutChecked>;
  /** Record that `terminal` is one of the user's devices (its deliveries are then awaited). */
  addTerminal(user: string, terminal: string): Promise<void>;
  /**
   * Messages not yet delivered to `terminal`, oldest first, stored at or before `until` (ms), after `cursor`.
   * Expired entries are removed on the way.
   */
  page(
    user: string,
    terminal: string,
    options: { limit: number; until: number; cursor?: string },
  ): Promise<InboxPage>;
  /** Mark delivered to `terminal`; the entry is deleted once every known terminal has it. */
  markDelivered(user: string, terminal: string, sig: string): Promise<void>;
  /**
   * `markDelivered` for a batch of signatures (one round trip on Redis, however many acknowledgements);
   * unknown signatures are skipped.
   */
  markDeliveredMany(user: string, terminal: string, sigs: readonly string[]): Promise<void>;
  /** Stored messages of a user (inspection, tests). */
  count(user: string): Promise<number>;
  close(): Promise<void>;
}

/** Default expiry of stored messages: 7 days. */
export const INBOX_TTL_MS = 7 * 24 * 3600 * 1000;
/** The terminal name used for clients that send none. */
export const DEFAULT_TERMINAL = '*';

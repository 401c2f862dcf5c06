/**
 * Per-user records a station keeps besides identities: the latest login (command + the message carrying
 * it, per terminal) and the user's block / mute lists.
 */
import type { ID } from '../protocol/mkm/identifier.ts';

export interface LoginRecord {
  /** The login command's time (seconds); older records never replace newer ones. */
  readonly time: number;
  readonly terminal: string | undefined;
  /** The station the user said it is connected to (naked ID string), if any. */
  readonly station: string | undefined;
  /** The reliable message that carried the login (JSON dict), relayed to document queriers. */
  readonly message: Record<string, unknown>;
}

export interface AccountStore {
  /** Store a login unless a newer one for the same terminal exists. Returns whether it was stored. */
  putLogin(user: ID, record: LoginRecord): Promise<boolean>;
  /** Every terminal's latest login, newest first. */
  getLogins(user: ID): Promise<LoginRecord[]>;
  /** Replace the user's list; returns false when unchanged. */
  putList(user: ID, name: 'block' | 'mute', list: readonly string[]): Promise<boolean>;
  getList(user: ID, name: 'block' | 'mute'): Promise<string[] | undefined>;
  close(): Promise<void>;
}

/** In-memory InboxStore (embedded engine, tests): same semantics as the Redis one. */
import { INBOX_TTL_MS } from './inbox-store.ts';
import type { InboxMessage, InboxPage, InboxStore, PutChecked } from './inbox-store.ts';

interface UserInbox {
  readonly messages: Map<string, InboxMessage>;
  readonly delivered: Map<string, Set<string>>;
  readonly terminals: Set<string>;
}

export class MemoryInboxStore implements InboxStore {
  readonly #users = new Map<string, UserInbox>();
  readonly #ttl: number;
  readonly #now: () => number;
  readonly #sessionsEpoch: (user: string) => string;

  constructor(
    options: {
      ttlMs?: number;
      now?: () => number;
      /** The user's sessions epoch (MemorySessionRegistry.epochOf) for putChecked; default ''. */
      sessionsEpoch?: (user: string) => string;
    } = {},
  ) {
    this.#ttl = options.ttlMs ?? INBOX_TTL_MS;
    this.#now = options.now ?? Date.now;
    this.#sessionsEpoch = options.sessionsEpoch ?? (() => '');
  }

  #inbox(user: string): UserInbox {
    let inbox = this.#users.get(user);
    if (!inbox) {
      inbox = { messages: new Map(), delivered: new Map(), terminals: new Set() };
      this.#users.set(user, inbox);
    }
    return inbox;
  }

  async put(user: string, message: InboxMessage): Promise<boolean> {
    const inbox = this.#inbox(user);
    if (inbox.messages.has(message.sig)) return false;
    inbox.messages.set(message.sig, message);
    return true;
  }

  async putChecked(user: string, message: InboxMessage, epoch: string): Promise<PutChecked> {
    // one synchronous step: nothing runs between the comparison and the put
    const rebound = this.#sessionsEpoch(user) !== epoch;
    return { stored: await this.put(user, message), rebound };
  }

  async addTerminal(user: string, terminal: string): Promise<void> {
    this.#inbox(user).terminals.add(terminal);
  }

  async page(
    user: string,
    terminal: string,
    options: { limit: number; until: number; cursor?: string },
  ): Promise<InboxPage> {
    const inbox = this.#users.get(user);
    if (!inbox) return { entries: [], next: undefined };
    const expiredBefore = this.#now() - this.#ttl;
    for (const [sig, m] of inbox.messages) {
      if (m.storedAt < expiredBefore) {
        inbox.messages.delete(sig);
        inbox.delivered.delete(sig);
      }
    }
    const sorted = [...inbox.messages.values()]
      .filter((m) => m.storedAt <= options.until)
      .filter((m) => m.terminal === undefined || m.terminal === terminal)
      .filter((m) => !inbox.delivered.get(m.sig)?.has(terminal))
      .sort((a, b) => a.time - b.time || a.storedAt - b.storedAt || (a.sig < b.sig ? -1 : 1));
    const start = options.cursor === undefined ? 0 : sorted.findIndex((m) => cursorOf(m) > options.cursor!);
    const from = start < 0 ? sorted.length : start;
    const entries = sorted.slice(from, from + options.limit);
    const last = entries[entries.length - 1];
    return { entries, next: from + options.limit < sorted.length && last ? cursorOf(last) : undefined };
  }

  async markDelivered(user: string, terminal: string, sig: string): Promise<void> {
    const inbox = this.#users.get(user);
    const message = inbox?.messages.get(sig);
    if (!inbox || !message) return;
    let set = inbox.delivered.get(sig);
    if (!set) inbox.delivered.set(sig, (set = new Set()));
    set.add(terminal);
    const wanted = message.terminal === undefined ? [...inbox.terminals, terminal] : [message.terminal];
    if (wanted.every((t) => set.has(t))) {
      inbox.messages.delete(sig);
      inbox.delivered.delete(sig);
    }
  }

  async markDeliveredMany(user: string, terminal: string, sigs: readonly string[]): Promise<void> {
    for (const sig of sigs) await this.markDelivered(user, terminal, sig);
  }

  async count(user: string): Promise<number> {
    return this.#users.get(user)?.messages.size ?? 0;
  }

  async close(): Promise<void> {
    this.#users.clear();
  }
}

/** Backlog order key: message time, then store time, then signature (zero-padded to sort as strings). */
export function cursorOf(m: InboxMessage): string {
  return `${String(Math.max(0, Math.floor(m.time))).padStart(15, '0')}:${String(m.storedAt).padStart(15, '0')}:${m.sig}`;
}

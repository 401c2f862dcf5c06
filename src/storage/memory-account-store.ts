/** In-memory AccountStore (embedded engine, tests). */
import type { ID } from '../protocol/mkm/identifier.ts';
import type { AccountStore, LoginRecord } from './account-store.ts';

export class MemoryAccountStore implements AccountStore {
  readonly #logins = new Map<string, Map<string, LoginRecord>>();
  readonly #lists = new Map<string, string[]>();

  async putLogin(user: ID, record: LoginRecord): Promise<boolean> {
    const key = user.naked().string;
    let byTerminal = this.#logins.get(key);
    if (!byTerminal) this.#logins.set(key, (byTerminal = new Map()));
    const slot = record.terminal ?? '';
    const existing = byTerminal.get(slot);
    if (existing && existing.time >= record.time) return false;
    byTerminal.set(slot, record);
    return true;
  }

  async getLogins(user: ID): Promise<LoginRecord[]> {
    return [...(this.#logins.get(user.naked().string)?.values() ?? [])].sort((a, b) => b.time - a.time);
  }

  async putList(user: ID, name: 'block' | 'mute', list: readonly string[]): Promise<boolean> {
    const key = `${name}:${user.naked().string}`;
    const existing = this.#lists.get(key);
    if (existing && existing.length === list.length && existing.every((v, i) => v === list[i])) return false;
    this.#lists.set(key, [...list]);
    return true;
  }

  async getList(user: ID, name: 'block' | 'mute'): Promise<string[] | undefined> {
    const list = this.#lists.get(`${name}:${user.naked().string}`);
    return list === undefined ? undefined : [...list];
  }

  async close(): Promise<void> {
    this.#logins.clear();
    this.#lists.clear();
  }
}

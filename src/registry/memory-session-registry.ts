/** In-memory SessionRegistry (embedded engine, tests). */
import type { SessionRecord, SessionRegistry, SessionsSnapshot } from './session-registry.ts';

export class MemorySessionRegistry implements SessionRegistry {
  readonly #byConn = new Map<string, SessionRecord>();
  readonly #byUser = new Map<string, Set<string>>();
  /** Users with sessions → their epoch (from one counter: an epoch is never given twice). */
  readonly #epochs = new Map<string, string>();
  #epochCounter = 0;

  async bind(record: SessionRecord): Promise<void> {
    const key = `${record.gatewayId}/${record.connId}`;
    await this.unbind(record.gatewayId, record.connId);
    this.#byConn.set(key, record);
    let conns = this.#byUser.get(record.user);
    if (!conns) this.#byUser.set(record.user, (conns = new Set()));
    conns.add(key);
    this.#epochs.set(record.user, String(++this.#epochCounter));
  }

  async setActive(gatewayId: string, connId: string, active: boolean): Promise<void> {
    const key = `${gatewayId}/${connId}`;
    const record = this.#byConn.get(key);
    if (!record) return;
    this.#byConn.set(key, { ...record, active });
    if (active) this.#epochs.set(record.user, String(++this.#epochCounter));
  }

  /** The user's sessions epoch now ('' once the user has no session: nothing could be pushed to). */
  epochOf(user: string): string {
    return this.#epochs.get(user) ?? '';
  }

  async snapshotOf(user: string): Promise<SessionsSnapshot> {
    return { records: await this.sessionsOf(user), epoch: this.epochOf(user) };
  }

  async unbind(gatewayId: string, connId: string): Promise<void> {
    const key = `${gatewayId}/${connId}`;
    const record = this.#byConn.get(key);
    if (!record) return;
    this.#byConn.delete(key);
    const conns = this.#byUser.get(record.user);
    conns?.delete(key);
    if (conns?.size === 0) {
      this.#byUser.delete(record.user);
      this.#epochs.delete(record.user);
    }
  }

  async sessionsOf(user: string, terminal?: string): Promise<SessionRecord[]> {
    const out: SessionRecord[] = [];
    for (const key of this.#byUser.get(user) ?? []) {
      const record = this.#byConn.get(key);
      if (record && (terminal === undefined || record.terminal === terminal)) out.push(record);
    }
    return out;
  }

  async dropGateway(gatewayId: string): Promise<number> {
    const mine = [...this.#byConn.values()].filter((r) => r.gatewayId === gatewayId);
    for (const record of mine) await this.unbind(gatewayId, record.connId);
    return mine.length;
  }

  async close(): Promise<void> {
    this.#byConn.clear();
    this.#byUser.clear();
    this.#epochs.clear();
  }
}

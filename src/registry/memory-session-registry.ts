/** In-memory SessionRegistry (embedded engine, tests). */
import type { SessionRecord, SessionRegistry } from './session-registry.ts';

export class MemorySessionRegistry implements SessionRegistry {
  readonly #byConn = new Map<string, SessionRecord>();
  readonly #byUser = new Map<string, Set<string>>();

  async bind(record: SessionRecord): Promise<void> {
    const key = `${record.gatewayId}/${record.connId}`;
    await this.unbind(record.gatewayId, record.connId);
    this.#byConn.set(key, record);
    let conns = this.#byUser.get(record.user);
    if (!conns) this.#byUser.set(record.user, (conns = new Set()));
    conns.add(key);
  }

  async setActive(gatewayId: string, connId: string, active: boolean): Promise<void> {
    const key = `${gatewayId}/${connId}`;
    const record = this.#byConn.get(key);
    if (record) this.#byConn.set(key, { ...record, active });
  }

  async unbind(gatewayId: string, connId: string): Promise<void> {
    const key = `${gatewayId}/${connId}`;
    const record = this.#byConn.get(key);
    if (!record) return;
    this.#byConn.delete(key);
    const conns = this.#byUser.get(record.user);
    conns?.delete(key);
    if (conns?.size === 0) this.#byUser.delete(record.user);
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
  }
}

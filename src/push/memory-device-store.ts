/** In-memory DeviceStore (embedded engine, tests). */
import type { DevicePutResult, DeviceStore } from './device-store.ts';
import { mergeDevice } from './device-token.ts';
import type { DeviceToken } from './device-token.ts';

export class MemoryDeviceStore implements DeviceStore {
  readonly #devices = new Map<string, DeviceToken[]>();

  async put(user: string, device: DeviceToken): Promise<DevicePutResult> {
    const merged = mergeDevice(this.#devices.get(user) ?? [], device);
    if (merged === undefined) return 'older';
    this.#devices.set(user, merged);
    return 'saved';
  }

  async list(user: string): Promise<DeviceToken[]> {
    return [...(this.#devices.get(user) ?? [])];
  }

  async remove(user: string, token: string, unlessNewerThan?: number): Promise<boolean> {
    const list = this.#devices.get(user) ?? [];
    const rest = list.filter(
      (d) => d.token !== token || (unlessNewerThan !== undefined && d.time > unlessNewerThan),
    );
    if (rest.length === list.length) return false;
    if (rest.length === 0) this.#devices.delete(user);
    else this.#devices.set(user, rest);
    return true;
  }

  async close(): Promise<void> {
    this.#devices.clear();
  }
}

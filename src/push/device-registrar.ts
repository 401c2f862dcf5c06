/**
 * What the station's command handler needs from push: store a device-token report (`report` titled `apns`
 * / `c2dm`) for the sending user, and reset the user's badge when the user logs in or reports online.
 */
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import type { Content } from '../protocol/dkd/content.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import type { DevicePutResult, DeviceStore } from './device-store.ts';
import { maskToken, parseDeviceReport } from './device-token.ts';
import type { PushState } from './push-state.ts';

export class DeviceRegistrar {
  readonly #devices: DeviceStore;
  readonly #state: PushState;
  readonly #log: Logger;

  constructor(devices: DeviceStore, state: PushState, logger: Logger = silentLogger) {
    this.#devices = devices;
    this.#state = state;
    this.#log = logger.child({ module: 'push-devices' });
  }

  /** Store the device a report describes (`now` in ms). Throws DeviceTokenError for a malformed report. */
  async registerDevice(user: ID, content: Content, now: number): Promise<DevicePutResult> {
    const device = parseDeviceReport(content, now);
    const withTerminal =
      device.terminal === undefined && user.terminal !== undefined
        ? { ...device, terminal: user.terminal }
        : device;
    const result = await this.#devices.put(user.naked().string, withTerminal);
    this.#log.info(
      {
        code: 'PUSH_TOKEN_REPORTED',
        user: user.naked().string,
        platform: device.platform,
        channel: device.channel,
        terminal: withTerminal.terminal,
        token: maskToken(device.token),
        result,
      },
      'device token reported',
    );
    return result;
  }

  resetBadge(user: ID): Promise<void> {
    return this.#state.resetBadge(user.naked().string);
  }
}

/**
 * Decides, when the dispatcher has stored a message for a user, whether and where it is pushed, and
 * enqueues the job. Cheap filters first (push-filter.ts), then one round trip for the receiver's mute list
 * and devices; devices whose terminal has an active session are skipped (a session without a terminal
 * covers every device). The message is noted once in the receiver's coalescing window (PushState); the
 * window's job is named after its first message and the receiver and added with the window as delay —
 * adding it again (a dispatcher retry, or a crash between note and add) is a no-op.
 */
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import type { AccountStore } from '../storage/account-store.ts';
import type { DeviceStore } from './device-store.ts';
import { isExpired } from './device-token.ts';
import type { DeviceToken } from './device-token.ts';
import { mutedBy, pushSkipReason } from './push-filter.ts';
import { deviceKey, messageDigest, pushJobId } from './push-queue.ts';
import type { PushQueue } from './push-queue.ts';
import type { PushState } from './push-state.ts';

/** A session of the receiver that is active (as the dispatcher sees it). */
export interface ActiveSession {
  readonly terminal: string | undefined;
}

/** What the dispatcher calls once a message for `receiver` is stored. */
export interface PushHook {
  messageStored(
    message: ReliableMessage,
    receiver: ID,
    activeSessions: readonly ActiveSession[],
  ): Promise<void>;
}

export interface PushTriggerOptions {
  readonly devices: DeviceStore;
  readonly state: PushState;
  readonly queue: PushQueue;
  readonly accounts: AccountStore;
  /** Coalescing window (ms). */
  readonly coalesceMs: number;
  readonly logger?: Logger;
  readonly now?: () => number;
}

/** Whether an active session leaves `device` without a push (the user is there on that terminal). */
export function isCovered(device: DeviceToken, sessions: readonly ActiveSession[]): boolean {
  return sessions.some(
    (s) =>
      s.terminal === undefined ||
      s.terminal === '*' ||
      device.terminal === undefined ||
      s.terminal === device.terminal,
  );
}

export class PushTrigger implements PushHook {
  readonly #o: PushTriggerOptions;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(options: PushTriggerOptions) {
    this.#o = options;
    this.#log = (options.logger ?? silentLogger).child({ module: 'push-trigger' });
    this.#now = options.now ?? Date.now;
  }

  async messageStored(
    message: ReliableMessage,
    receiver: ID,
    sessions: readonly ActiveSession[],
  ): Promise<void> {
    const now = this.#now();
    const skip = pushSkipReason(message, receiver, now);
    if (skip !== undefined) {
      this.#log.debug({ code: 'PUSH_SKIPPED', reason: skip }, 'no push');
      return;
    }
    // a session without a terminal covers every device: nothing to read (the common online case)
    if (sessions.some((s) => s.terminal === undefined || s.terminal === '*')) return;
    const user = receiver.naked().string;
    const [mute, devices] = await Promise.all([
      this.#o.accounts.getList(receiver, 'mute'),
      this.#o.devices.list(user),
    ]);
    const muted = mutedBy(mute, message);
    if (muted !== undefined) {
      this.#log.debug({ code: 'PUSH_SKIPPED', reason: muted }, 'no push');
      return;
    }
    const eligible = devices.filter(
      (d) =>
        !isExpired(d, now) &&
        (receiver.terminal === undefined || d.terminal === undefined || d.terminal === receiver.terminal) &&
        !isCovered(d, sessions),
    );
    if (eligible.length === 0) return;
    const id = messageDigest(message.signatureText);
    const time = message.time === undefined ? now : Math.round(message.time * 1000);
    const noted = await this.#o.state.note(user, {
      id,
      sender: message.sender.naked().string,
      group: message.group?.string,
      type: message.type,
      time,
      devices: eligible.map((d) => deviceKey(d.token)),
    });
    const first = noted.first;
    // a fresh message joining a window: the job of the window's first message is queued already
    if (first === undefined || (noted.fresh && noted.pending > 1)) return;
    await this.#o.queue.add(pushJobId(user, first.id), { user }, this.#o.coalesceMs);
  }
}

/**
 * Fires once when nothing was received for `timeout` ms. `touch()` (called for every inbound chunk) only
 * stores a timestamp; the entry sits in a shared {@link TimerWheel} and re-schedules itself for the
 * remaining time when its slot comes, so busy connections cost no timer churn and idle ones no Node timer
 * of their own. It fires up to the wheel's resolution late (never early). A timeout of 0 disables it.
 */
import { TimerWheel, type WheelEntry } from './timer-wheel.ts';

/** Slot width for an idle timeout: 1/32 of it, between 1 ms and 1 s. */
export function idleWheelResolution(timeout: number): number {
  return Math.min(1000, Math.max(1, Math.floor(timeout / 32)));
}

const defaultWheels = new Map<number, TimerWheel>();

/** The process-wide wheel for a timeout (for channels built without one, e.g. outside a listener). */
export function defaultIdleWheel(timeout: number): TimerWheel {
  const resolution = idleWheelResolution(timeout);
  let wheel = defaultWheels.get(resolution);
  if (wheel === undefined) {
    wheel = new TimerWheel({ resolution });
    defaultWheels.set(resolution, wheel);
  }
  return wheel;
}

export class IdleTimer implements WheelEntry {
  readonly timeout: number;
  wheelSlot = -1;
  readonly #wheel: TimerWheel;
  readonly #onIdle: () => void;
  /** Whole ms (rounded up, so never early): stays a small integer instead of a boxed double. */
  #last: number;
  #stopped = false;

  constructor(timeout: number, onIdle: () => void, wheel: TimerWheel = defaultIdleWheel(timeout)) {
    this.timeout = timeout;
    this.#wheel = wheel;
    this.#onIdle = onIdle;
    this.#last = Math.ceil(wheel.now());
    if (timeout > 0) wheel.schedule(this, timeout);
    else this.#stopped = true;
  }

  /** Something arrived. */
  touch(): void {
    this.#last = Math.ceil(this.#wheel.now());
  }

  /** Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#wheel.cancel(this);
  }

  onWheelDue(now: number): number | undefined {
    if (this.#stopped) return undefined;
    const idle = now - this.#last;
    if (idle < this.timeout) return this.timeout - idle;
    this.#stopped = true;
    this.#onIdle();
    return undefined;
  }
}

/**
 * One coarse timer for many deadlines (idle timeouts of every connection of a listener): entries are kept
 * in slots of `resolution` ms, and a single (unref'd) Node timer is armed for the earliest slot. Compared
 * with a `setTimeout` per connection this saves a Timeout object, its closure and a timer list per
 * connection; the cost is that an entry fires up to `resolution` ms late (never early).
 *
 * Entries are plain objects implementing {@link WheelEntry}; the wheel stores its bookkeeping in the
 * entry's `wheelSlot` field, so scheduling allocates nothing per entry beyond its slot's Set membership.
 * Time comes from a {@link WheelClock} (a fake one in tests).
 */

export interface WheelEntry {
  /** Owned by the wheel: the slot the entry is in, or -1 (initialise it to -1). */
  wheelSlot: number;
  /**
   * The entry is due (at least its delay elapsed). Return a delay in ms to be scheduled again, or
   * `undefined` (or ≤ 0) to leave the wheel. Must not throw.
   */
  onWheelDue(now: number): number | undefined;
}

export interface WheelClock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Arm a one-shot timer (unref'd: it must not keep the process alive); returns its handle. */
  arm(callback: () => void, ms: number): unknown;
  disarm(handle: unknown): void;
}

export const systemWheelClock: WheelClock = {
  now: () => performance.now(),
  arm: (callback, ms) => {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return timer;
  },
  disarm: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface TimerWheelOptions {
  /** Slot width in ms: entries fire at most this much late. Default 1000. */
  readonly resolution?: number;
  readonly clock?: WheelClock;
}

export class TimerWheel {
  readonly resolution: number;
  readonly #clock: WheelClock;
  readonly #origin: number;
  /** Slot index → its entries. A slot `s` is due at `origin + s * resolution`. */
  readonly #slots = new Map<number, Set<WheelEntry>>();
  /** Occupied slot indices, ascending. */
  readonly #order: number[] = [];
  #size = 0;
  #armedSlot = -1;
  #handle: unknown;
  #firing = false;
  #closed = false;

  constructor(options: TimerWheelOptions = {}) {
    const resolution = options.resolution ?? 1000;
    if (!(resolution > 0)) throw new RangeError('resolution must be positive');
    this.resolution = resolution;
    this.#clock = options.clock ?? systemWheelClock;
    this.#origin = this.#clock.now();
  }

  /** Scheduled entries. */
  get size(): number {
    return this.#size;
  }

  /** The clock's current time (ms), for entries that compare against it. */
  now(): number {
    return this.#clock.now();
  }

  /** (Re)schedule `entry` to be due in `delay` ms (rounded up to the next slot boundary). */
  schedule(entry: WheelEntry, delay: number): void {
    if (this.#closed) return;
    this.cancel(entry);
    const due = this.#clock.now() - this.#origin + Math.max(0, delay);
    const slot = Math.ceil(due / this.resolution);
    let set = this.#slots.get(slot);
    if (set === undefined) {
      set = new Set();
      this.#slots.set(slot, set);
      this.#insertOrder(slot);
    }
    set.add(entry);
    entry.wheelSlot = slot;
    this.#size += 1;
    if (!this.#firing && (this.#armedSlot < 0 || slot < this.#armedSlot)) this.#arm();
  }

  /** Remove `entry` if scheduled. */
  cancel(entry: WheelEntry): void {
    const slot = entry.wheelSlot;
    if (slot < 0) return;
    entry.wheelSlot = -1;
    const set = this.#slots.get(slot);
    if (set === undefined || !set.delete(entry)) return;
    this.#size -= 1;
    if (set.size === 0) {
      this.#slots.delete(slot);
      this.#removeOrder(slot);
      // the armed timer may now fire for nothing; it re-arms for what is left
    }
  }

  /** Stop the timer and forget every entry (they are not called). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const set of this.#slots.values()) for (const entry of set) entry.wheelSlot = -1;
    this.#slots.clear();
    this.#order.length = 0;
    this.#size = 0;
    this.#disarm();
  }

  #arm(): void {
    this.#disarm();
    const first = this.#order[0];
    if (first === undefined || this.#closed) return;
    this.#armedSlot = first;
    const wait = this.#origin + first * this.resolution - this.#clock.now();
    this.#handle = this.#clock.arm(() => this.#fire(), Math.max(1, Math.ceil(wait)));
  }

  #disarm(): void {
    if (this.#armedSlot < 0) return;
    this.#clock.disarm(this.#handle);
    this.#handle = undefined;
    this.#armedSlot = -1;
  }

  #fire(): void {
    this.#armedSlot = -1;
    this.#handle = undefined;
    const now = this.#clock.now();
    const current = Math.floor((now - this.#origin) / this.resolution);
    this.#firing = true;
    try {
      while (!this.#closed) {
        const slot = this.#order[0];
        if (slot === undefined || slot > current) break;
        const set = this.#slots.get(slot)!;
        this.#slots.delete(slot);
        this.#order.shift();
        this.#size -= set.size;
        for (const entry of set) {
          if (entry.wheelSlot !== slot) continue; // cancelled by an earlier entry's callback
          entry.wheelSlot = -1;
          const again = entry.onWheelDue(now);
          if (again !== undefined && again > 0 && entry.wheelSlot < 0) this.schedule(entry, again);
        }
      }
    } finally {
      this.#firing = false;
      this.#arm();
    }
  }

  /** Index of the first slot in the sorted order that is not below `slot`. */
  #lowerBound(slot: number): number {
    const order = this.#order;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order[mid]! < slot) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #insertOrder(slot: number): void {
    this.#order.splice(this.#lowerBound(slot), 0, slot);
  }

  #removeOrder(slot: number): void {
    const at = this.#lowerBound(slot);
    if (this.#order[at] === slot) this.#order.splice(at, 1);
  }
}

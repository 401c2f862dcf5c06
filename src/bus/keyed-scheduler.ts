/**
 * Runs queued items with bounded concurrency, one at a time per `orderKey`: an item waits until every
 * earlier item with the same key has finished; items without a key, or with different keys, overlap. Items
 * start in queue order whenever they may.
 */
export interface Keyed {
  readonly orderKey: string | undefined;
}

export class KeyedScheduler<T extends Keyed> {
  readonly #concurrency: number;
  readonly #run: (item: T) => Promise<void>;
  #queue: T[] = [];
  readonly #activeKeys = new Set<string>();
  #running = 0;
  #idleWaiters: (() => void)[] = [];

  /** `run` should not throw; a rejection is swallowed. */
  constructor(concurrency: number, run: (item: T) => Promise<void>) {
    this.#concurrency = concurrency;
    this.#run = run;
  }

  /** Items running now. */
  get running(): number {
    return this.#running;
  }

  /** Items waiting to start. */
  get queued(): number {
    return this.#queue.length;
  }

  push(item: T): void {
    this.#queue.push(item);
    this.#pump();
  }

  /** Removes and returns the items that have not started. */
  takeQueued(): T[] {
    const taken = this.#queue;
    this.#queue = [];
    return taken;
  }

  /** Resolves once nothing is running (queued items may remain). */
  whenIdle(): Promise<void> {
    if (this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #pump(): void {
    if (this.#running >= this.#concurrency || this.#queue.length === 0) return;
    const blocked = new Set<string>();
    let i = 0;
    while (i < this.#queue.length && this.#running < this.#concurrency) {
      const item = this.#queue[i]!;
      const key = item.orderKey;
      if (key !== undefined && (this.#activeKeys.has(key) || blocked.has(key))) {
        blocked.add(key);
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      this.#start(item);
    }
  }

  #start(item: T): void {
    const key = item.orderKey;
    this.#running++;
    if (key !== undefined) this.#activeKeys.add(key);
    void (async () => {
      try {
        await this.#run(item);
      } catch {
        // run() handles its own errors
      } finally {
        this.#running--;
        if (key !== undefined) this.#activeKeys.delete(key);
        this.#pump();
        if (this.#running === 0) {
          const waiters = this.#idleWaiters;
          this.#idleWaiters = [];
          for (const resolve of waiters) resolve();
        }
      }
    })();
  }
}

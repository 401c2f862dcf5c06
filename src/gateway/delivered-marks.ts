/**
 * Batches a gateway's delivered marks and records them in the inbox itself: the confirmations of one
 * terminal within `delayMs` of the first (e.g. a client confirming a backlog page one message at a time)
 * are one inbox call (one script call on Redis). `add` resolves once the mark's batch is recorded (or
 * rejects with the store's error), so a delivery's handler ends after its mark (a failed mark is logged by
 * the gateway's delivery tail; the message stays in the inbox). A gateway dying holds back at most
 * `delayMs` of marks: those messages are delivered again (exact copies).
 *
 * A mark can never overtake its message's put: the dispatcher stores a message before it publishes any
 * delivery of it, and a mark exists only after a delivery was confirmed.
 */

/** Records a batch of one terminal's confirmations (InboxStore.markDeliveredMany). */
export type MarkRecorder = (user: string, terminal: string, sigs: readonly string[]) => Promise<void>;

interface Batch {
  readonly user: string;
  readonly terminal: string;
  readonly sigs: string[];
  readonly waiters: { resolve: () => void; reject: (err: unknown) => void }[];
}

/** Most signatures per bus entry. */
export const DELIVERED_MARKS_MAX_BATCH = 256;
/** How long the first mark of a batch waits for more (ms). */
export const DELIVERED_MARKS_DELAY_MS = 20;

export class DeliveredMarks {
  readonly #record: MarkRecorder;
  readonly #maxBatch: number;
  readonly #delayMs: number;
  readonly #open = new Map<string, Batch>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(record: MarkRecorder, options: { readonly maxBatch?: number; readonly delayMs?: number } = {}) {
    this.#record = record;
    this.#maxBatch = Math.max(1, Math.floor(options.maxBatch ?? DELIVERED_MARKS_MAX_BATCH));
    this.#delayMs = Math.max(0, options.delayMs ?? DELIVERED_MARKS_DELAY_MS);
  }

  /** Record that `terminal` of `user` confirmed `sig`; resolves once the batch holding it is recorded. */
  add(user: string, terminal: string, sig: string): Promise<void> {
    const key = `${user}\n${terminal}`;
    let batch = this.#open.get(key);
    if (!batch) {
      batch = { user, terminal, sigs: [], waiters: [] };
      this.#open.set(key, batch);
    }
    batch.sigs.push(sig);
    const done = new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
    if (batch.sigs.length >= this.#maxBatch) {
      this.#open.delete(key);
      this.#publish(batch);
    } else {
      this.#timer ??= setTimeout(() => this.flush(), this.#delayMs);
    }
    return done;
  }

  /** Publish every open batch now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batches = [...this.#open.values()];
    this.#open.clear();
    for (const batch of batches) this.#publish(batch);
  }

  #publish(batch: Batch): void {
    this.#record(batch.user, batch.terminal, batch.sigs).then(
      () => {
        for (const w of batch.waiters) w.resolve();
      },
      (err: unknown) => {
        for (const w of batch.waiters) w.reject(err);
      },
    );
  }
}

/**
 * Batches a gateway's delivered marks: the confirmations of one terminal within `delayMs` of the first
 * (e.g. a client confirming a backlog page one message at a time) leave as one bus entry, and the storage
 * worker records them with one Redis call. `add` resolves once the mark's batch is durable on the bus (or
 * rejects with the bus's error), so a delivery is only acknowledged on its stream after its mark is. A
 * gateway dying holds back at most `delayMs` of marks: those messages are delivered again (exact copies).
 */
import type { InboundSink } from '../streams/inbound-sink.ts';

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
  readonly #sink: InboundSink;
  readonly #maxBatch: number;
  readonly #delayMs: number;
  readonly #open = new Map<string, Batch>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(sink: InboundSink, options: { readonly maxBatch?: number; readonly delayMs?: number } = {}) {
    this.#sink = sink;
    this.#maxBatch = Math.max(1, Math.floor(options.maxBatch ?? DELIVERED_MARKS_MAX_BATCH));
    this.#delayMs = Math.max(0, options.delayMs ?? DELIVERED_MARKS_DELAY_MS);
  }

  /** Record that `terminal` of `user` confirmed `sig`; resolves once the batch holding it is published. */
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
    this.#sink.markDeliveredMany({ user: batch.user, terminal: batch.terminal, sigs: batch.sigs }).then(
      () => {
        for (const w of batch.waiters) w.resolve();
      },
      (err: unknown) => {
        for (const w of batch.waiters) w.reject(err);
      },
    );
  }
}

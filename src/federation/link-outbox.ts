/**
 * The ordered, pipelined sender of one neighbour link. Messages are written in the order they were
 * pushed without waiting for the previous `OK` (MTP over one TCP connection keeps them in order, and the
 * neighbour's gateway accepts a connection's frames in order), so throughput is not bound to one round
 * trip per message. Each push resolves when its `OK` arrives. When a send fails (the link dropped, or no
 * `OK` in time), everything not yet acknowledged is written again, in the original order, once the link is
 * up again: at-least-once (the neighbour dedups by signature), never reordered, never dropped.
 */

/** What the outbox needs of a link (OutboxLink). */
export interface OutboxLink {
  readonly isUp: boolean;
  readonly closed: boolean;
  /** Resolves on the neighbour's OK. */
  send(json: string): Promise<void>;
  /** Resolves when the link is up or closed. */
  whenUp(): Promise<void>;
}

interface Item {
  readonly json: string;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  /** Write attempt of this item currently on the wire (0 = not written since the last failure). */
  epoch: number;
  settled: boolean;
}

export class OutboxClosedError extends Error {
  readonly code = 'OUTBOX_CLOSED';
}

export class LinkOutbox {
  readonly #link: OutboxLink;
  readonly #retryPauseMs: number;
  #items: Item[] = [];
  /** Bumped on every failure: sends of an older epoch no longer count as "on the wire". */
  #epoch = 1;
  #waiting = false;
  #closed = false;

  constructor(link: OutboxLink, retryPauseMs = 1000) {
    this.#link = link;
    this.#retryPauseMs = retryPauseMs;
  }

  /** Messages pushed and not yet acknowledged. */
  get pending(): number {
    return this.#items.length;
  }

  push(json: string): Promise<void> {
    if (this.#closed) return Promise.reject(new OutboxClosedError('outbox closed'));
    return new Promise<void>((resolve, reject) => {
      this.#items.push({ json, resolve, reject, epoch: 0, settled: false });
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#closed || this.#waiting) return;
    if (!this.#link.isUp) {
      this.#waitForLink(0);
      return;
    }
    for (const item of this.#items) {
      if (item.epoch === this.#epoch) continue;
      item.epoch = this.#epoch;
      const epoch = this.#epoch;
      this.#link.send(item.json).then(
        () => this.#acked(item),
        () => this.#failed(epoch),
      );
    }
  }

  #acked(item: Item): void {
    if (item.settled) return;
    item.settled = true;
    const at = this.#items.indexOf(item);
    if (at >= 0) this.#items.splice(at, 1);
    item.resolve();
  }

  #failed(epoch: number): void {
    if (epoch !== this.#epoch || this.#closed) return; // this failure was already handled
    this.#epoch += 1;
    this.#waitForLink(this.#retryPauseMs);
  }

  #waitForLink(pauseMs: number): void {
    if (this.#waiting) return;
    this.#waiting = true;
    void (async () => {
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs).unref());
      await this.#link.whenUp();
      this.#waiting = false;
      if (this.#link.closed) {
        this.close();
        return;
      }
      this.#pump();
    })();
  }

  /** Reject everything not acknowledged (it stays queued upstream); idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const items = this.#items;
    this.#items = [];
    for (const item of items) {
      if (item.settled) continue;
      item.settled = true;
      item.reject(new OutboxClosedError('outbox closed'));
    }
  }
}

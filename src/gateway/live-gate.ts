/**
 * Keeps a connection's live pushes behind its stored backlog, so that a conversation arrives in order on
 * a reconnected client. Messages stored while the client was away come in backlog pages (storage worker);
 * messages routed after its new session was bound come live (dispatcher). Without a gate a live push can
 * overtake the page that holds older messages of the same conversation (seen as 1,2,7,4,5,6,8).
 *
 * The session holds the gate from the moment the dispatcher may route to it live (bind, or becoming
 * active again) until the last page of the backlog it requested has been written to the socket (storage
 * answers an empty last page when nothing is stored), or until `holdMs` passes without a page (storage
 * down or slow: the live pushes then go out, the order is given up rather than the messages held). Live
 * pushes waiting at the gate go out in arrival order. Responses (receipts, command replies) never wait.
 */
export class LiveGate {
  readonly #holdMs: number;
  readonly #onTimeout: () => void;
  #timer: NodeJS.Timeout | undefined;
  #waiting: (() => void)[] = [];
  #closed = false;

  /** `onTimeout`: the hold ran out without the backlog's last page (for a log line). */
  constructor(holdMs: number, onTimeout: () => void) {
    this.#holdMs = Math.max(0, holdMs);
    this.#onTimeout = onTimeout;
  }

  /** Whether live pushes wait now. */
  get holding(): boolean {
    return this.#timer !== undefined;
  }

  /** How many live pushes wait. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Hold live pushes (again) for at most `extraMs` + `holdMs` from now. */
  hold(extraMs = 0): void {
    if (this.#closed || this.#holdMs === 0) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#onTimeout();
      this.open();
    }, extraMs + this.#holdMs);
    this.#timer.unref();
  }

  /** A backlog page arrived but more follow: storage is working, give it another `holdMs`. */
  progress(): void {
    if (this.holding) this.hold();
  }

  /** Let live pushes through (the backlog's last page was written); the waiting ones go out in order. */
  open(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const go of waiting) go();
  }

  /** Resolves when a live push may go out: undefined (go now) while the gate is open. */
  pass(): Promise<void> | undefined {
    if (!this.holding) return undefined;
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** The connection closed: release the waiting pushes (they find no session and stay stored). Idempotent. */
  close(): void {
    this.#closed = true;
    this.open();
  }
}

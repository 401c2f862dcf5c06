/**
 * Messages a connection sent before its handshake completed (an unknown sender, or a message to a user
 * before `DIM!`): held in arrival order, bounded, and replayed through the session once it is bound.
 * Each held message's settlement resolves when its replay was accepted (or refused), so the frame that
 * carried it is acknowledged only then; on close they reject (no OK: the client resends).
 */
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';

export interface HeldMessage {
  readonly message: ReliableMessage;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

export class HeldMessages {
  readonly #limit: number;
  #held: HeldMessage[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#held.length;
  }

  get full(): boolean {
    return this.#held.length >= this.#limit;
  }

  /** Hold a message; `onFirst` runs when it is the first one held (to ask for the handshake). */
  hold(message: ReliableMessage, onFirst: () => void): Promise<void> {
    const first = this.#held.length === 0;
    return new Promise<void>((resolve, reject) => {
      this.#held.push({ message, resolve, reject });
      if (first) onFirst();
    });
  }

  /** Take every held message (in order) for replay. */
  take(): HeldMessage[] {
    const held = this.#held;
    this.#held = [];
    return held;
  }

  /** Reject every held message (the connection closed). */
  rejectAll(reason: Error): void {
    for (const held of this.take()) held.reject(reason);
  }
}

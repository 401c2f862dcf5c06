/**
 * Hands a channel's events (packages, then exactly one close) to its ChannelHandler in arrival order.
 * Until the handler is installed, packages are held (at most `maxHeld`) together with an early close;
 * once installed, the held events are delivered from a microtask (never from inside `setHandler`, so a
 * handler installed from a constructor sees a fully built owner), later events synchronously.
 */
import type { ChannelHandler, CloseInfo } from './client-channel.ts';
import type { TransportLogger } from './transport-logger.ts';
import { TransportError } from './transport-error.ts';

type ChannelEvent =
  | { readonly kind: 'package'; readonly body: Buffer; readonly ack: () => void }
  | { readonly kind: 'close'; readonly info: CloseInfo };

export class HandlerQueue {
  readonly #maxHeld: number;
  readonly #log: TransportLogger;
  #handler: ChannelHandler | undefined;
  #queue: ChannelEvent[] = [];
  #flushPending = false;
  #held = 0;
  #closed = false;

  constructor(maxHeld: number, log: TransportLogger) {
    this.#maxHeld = maxHeld;
    this.#log = log;
  }

  get hasHandler(): boolean {
    return this.#handler !== undefined;
  }

  /** Install the handler (once; a second call throws `HANDLER_ALREADY_SET`). */
  setHandler(handler: ChannelHandler): void {
    if (this.#handler !== undefined) {
      throw new TransportError('HANDLER_ALREADY_SET', 'the channel already has a handler');
    }
    this.#handler = handler;
    if (this.#queue.length > 0) {
      this.#flushPending = true;
      queueMicrotask(() => this.#flush());
    }
  }

  /** A package; false when it cannot be held (too many before the handler was installed). */
  package(body: Buffer, ack: () => void): boolean {
    if (this.#closed) return true;
    if (this.#handler === undefined) {
      if (this.#held >= this.#maxHeld) return false;
      this.#held += 1;
    }
    this.#emit({ kind: 'package', body, ack });
    return true;
  }

  /** The close (only the first call counts). */
  close(info: CloseInfo): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#emit({ kind: 'close', info });
  }

  /** Forget packages not yet delivered (after a local close: they were never acknowledged). */
  dropPackages(): void {
    this.#queue = this.#queue.filter((event) => event.kind !== 'package');
  }

  #emit(event: ChannelEvent): void {
    if (this.#handler !== undefined && !this.#flushPending) this.#deliver(this.#handler, event);
    else this.#queue.push(event);
  }

  #flush(): void {
    const handler = this.#handler;
    if (handler === undefined) return;
    for (let event = this.#queue.shift(); event !== undefined; event = this.#queue.shift()) {
      this.#deliver(handler, event);
    }
    this.#flushPending = false;
  }

  #deliver(handler: ChannelHandler, event: ChannelEvent): void {
    try {
      if (event.kind === 'package') handler.onPackage(event.body, event.ack);
      else handler.onClose(event.info);
    } catch (err) {
      this.#log.error({ err, code: 'HANDLER_ERROR', event: event.kind }, 'channel handler threw');
    }
  }
}

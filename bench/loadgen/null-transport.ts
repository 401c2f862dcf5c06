/** A client transport that goes nowhere, for packing and unpacking without a connection (self-check). */
import type { ClientTransport, TransportCloseInfo } from '../../src/client/client-transport.ts';

/** A transport that goes nowhere: bodies are fed in by hand (`deliver`). */
export class NullTransport implements ClientTransport {
  readonly kind = 'mtp' as const;
  readonly closed = false;
  readonly remoteHost = undefined;
  readonly remotePort = undefined;
  #listener: ((body: string) => void) | undefined;
  send(): Promise<void> {
    return Promise.resolve();
  }
  onMessage(listener: (body: string) => void): () => void {
    this.#listener = listener;
    return () => {
      this.#listener = undefined;
    };
  }
  onClose(_listener: (info: TransportCloseInfo) => void): () => void {
    return () => {};
  }
  ping(): Promise<number> {
    return Promise.resolve(0);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  deliver(body: string): void {
    this.#listener?.(body);
  }
}

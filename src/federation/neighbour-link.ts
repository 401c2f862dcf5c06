/**
 * One outgoing MTP link to a neighbour station, on which this station handshakes AS ITSELF (its own ID and
 * keys, as the reference's octopus does), reports `online`, keeps the connection alive with MTP `PING`s and
 * reconnects with exponential backoff (with jitter) whenever it drops.
 *
 *   idle ─start()─▶ connecting ─▶ handshaking ─▶ up ─(drop / ping timeout)─▶ backoff ─▶ connecting …
 *                       └──────────(error)──────────▶ backoff                       close() ─▶ closed
 *
 * `send(json)` resolves when the neighbour acknowledged the frame (its gateway's `OK`: the message is
 * durable there) and rejects when the link is down or the `OK` does not come in time. Every message the
 * neighbour pushes to us is handed to `onMessage` (after the transport acknowledged it).
 */
import type { Logger } from 'pino';
import { DimClient } from '../client/dim-client.ts';
import { MtpClientTransport } from '../client/mtp-client-transport.ts';
import type { UserIdentity } from '../client/user-identity.ts';
import type { StationIdentity } from '../identity/station-identity.ts';
import type { Document } from '../protocol/mkm/document.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import { parseId } from '../protocol/mkm/identifier.ts';
import type { Meta } from '../protocol/mkm/meta.ts';
import type { NeighbourSpec } from './neighbour-list.ts';

export type LinkState = 'idle' | 'connecting' | 'handshaking' | 'up' | 'backoff' | 'closed';

export interface LinkSnapshot {
  readonly neighbour: string;
  readonly host: string;
  readonly port: number;
  readonly state: LinkState;
  readonly since: number;
  /** Connection attempts since the link was last up. */
  readonly attempts: number;
  readonly lastError: string | undefined;
  readonly sent: number;
  readonly received: number;
}

export interface NeighbourLinkOptions {
  readonly neighbour: NeighbourSpec;
  readonly identity: StationIdentity;
  readonly logger: Logger;
  /** A message text the neighbour pushed to us. */
  readonly onMessage: (text: string) => void;
  /** The neighbour's meta and visa, learnt (and verified) in the handshake. */
  readonly onIdentity?: (id: ID, meta: Meta | undefined, visa: Document | undefined) => void;
  /** Every state change. */
  readonly onState?: (snapshot: LinkSnapshot) => void;
  /** First reconnect pause (ms, default 500) and the longest (default 30,000). */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** MTP PING period on an idle link (ms, default 20,000; the neighbour closes after ~128 s of silence). */
  readonly keepAliveMs?: number;
  /** How long a message waits for the neighbour's OK (ms, default 15,000). */
  readonly sendTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly now?: () => number;
}

/** The station identity in the shape the DIM client uses. */
export function stationAsClientIdentity(identity: StationIdentity): UserIdentity {
  return {
    kind: 'mkm-ecc',
    id: identity.id,
    meta: identity.meta,
    visa: identity.visa,
    signKey: identity.identityKey,
    decryptKeys: identity.decryptKeys,
    terminal: undefined,
  };
}

export class LinkDownError extends Error {
  readonly code = 'NEIGHBOUR_DOWN';
}

export class NeighbourLink {
  readonly neighbour: NeighbourSpec;
  readonly #o: NeighbourLinkOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #expected: ID;
  #state: LinkState = 'idle';
  #since: number;
  #attempts = 0;
  #lastError: string | undefined;
  #sent = 0;
  #received = 0;
  #client: DimClient | undefined;
  #timer: NodeJS.Timeout | undefined;
  #keepAlive: NodeJS.Timeout | undefined;
  #upWaiters: Array<() => void> = [];
  #closing: Promise<void> | undefined;

  constructor(options: NeighbourLinkOptions) {
    this.#o = options;
    this.neighbour = options.neighbour;
    this.#now = options.now ?? Date.now;
    this.#since = this.#now();
    this.#expected = parseId(options.neighbour.id);
    this.#log = options.logger.child({
      module: 'neighbour-link',
      neighbour: options.neighbour.id,
      remote: `${options.neighbour.host}:${options.neighbour.port}`,
    });
  }

  get state(): LinkState {
    return this.#state;
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  get isUp(): boolean {
    return this.#state === 'up';
  }

  snapshot(): LinkSnapshot {
    return {
      neighbour: this.neighbour.id,
      host: this.neighbour.host,
      port: this.neighbour.port,
      state: this.#state,
      since: this.#since,
      attempts: this.#attempts,
      lastError: this.#lastError,
      sent: this.#sent,
      received: this.#received,
    };
  }

  start(): void {
    if (this.#state !== 'idle') return;
    void this.#connect();
  }

  /** Resolves when the link is up or closed (check `state`). */
  whenUp(): Promise<void> {
    if (this.#state === 'up' || this.#state === 'closed') return Promise.resolve();
    return new Promise((resolve) => this.#upWaiters.push(resolve));
  }

  /** Send one reliable message text; resolves on the neighbour's OK. */
  async send(json: string): Promise<void> {
    const client = this.#client;
    if (this.#state !== 'up' || client === undefined) throw new LinkDownError('link not up');
    await client.transport.send(json);
    this.#sent += 1;
  }

  #setState(state: LinkState, error?: string): void {
    if (this.#state === 'closed') return;
    this.#state = state;
    this.#since = this.#now();
    if (error !== undefined) this.#lastError = error;
    const level = state === 'up' || state === 'backoff' ? 'info' : 'debug';
    this.#log[level](
      { code: `LINK_${state.toUpperCase()}`, attempts: this.#attempts, err: error },
      `neighbour link ${state}`,
    );
    this.#o.onState?.(this.snapshot());
    if (state === 'up') {
      const waiters = this.#upWaiters;
      this.#upWaiters = [];
      for (const w of waiters) w();
    }
  }

  async #connect(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#attempts += 1;
    this.#setState('connecting');
    const { host, port } = this.neighbour;
    let client: DimClient | undefined;
    try {
      const transport = await MtpClientTransport.connect({
        host,
        port,
        connectTimeoutMs: this.#o.connectTimeoutMs ?? 10_000,
        sendTimeoutMs: this.#o.sendTimeoutMs ?? 15_000,
      });
      if (this.closed) {
        await transport.close();
        return;
      }
      client = new DimClient({
        transport,
        identity: stationAsClientIdentity(this.#o.identity),
        handshakeTimeoutMs: 15_000,
        receiptTimeoutMs: 5_000,
        historyLimit: 16,
      });
      this.#client = client;
      transport.onMessage((text) => {
        this.#received += 1;
        this.#o.onMessage(text);
      });
      transport.onClose((info) => this.#dropped(client as DimClient, info.reason));
      this.#setState('handshaking');
      await client.handshake({ stationId: this.#expected });
      this.#o.onIdentity?.(this.#expected, client.stationMeta, client.stationVisa);
      // A station-as-client keeps its session active with `report online` (reference-station.md §3.3).
      await client.report('online', { receiptTimeoutMs: 0 });
      if (this.#client !== client || this.closed) return;
      this.#attempts = 0;
      this.#setState('up');
      this.#startKeepAlive(client);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (client !== undefined) await client.close().catch(() => undefined);
      this.#dropped(client, reason);
    }
  }

  #startKeepAlive(client: DimClient): void {
    clearInterval(this.#keepAlive);
    this.#keepAlive = setInterval(() => {
      client.transport.ping(10_000).catch((err: unknown) => {
        this.#log.warn({ code: 'LINK_PING_TIMEOUT', err: String(err) }, 'neighbour did not answer PING');
        void client.close();
      });
    }, this.#o.keepAliveMs ?? 20_000);
    this.#keepAlive.unref();
  }

  /** The current connection ended (or never came up): back off, then reconnect. */
  #dropped(client: DimClient | undefined, reason: string): void {
    if (this.#state === 'closed' || this.#state === 'backoff') return;
    if (client !== undefined && this.#client !== undefined && this.#client !== client) return;
    clearInterval(this.#keepAlive);
    this.#client = undefined;
    const min = this.#o.minBackoffMs ?? 500;
    const max = this.#o.maxBackoffMs ?? 30_000;
    const base = Math.min(max, min * 2 ** Math.min(16, Math.max(0, this.#attempts - 1)));
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.#setState('backoff', reason);
    this.#timer = setTimeout(() => void this.#connect(), delay);
    this.#timer.unref();
  }

  /** Close the link for good; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#setState('closed');
      const waiters = this.#upWaiters;
      this.#upWaiters = [];
      for (const w of waiters) w(); // callers re-check the state
      clearTimeout(this.#timer);
      clearInterval(this.#keepAlive);
      const client = this.#client;
      this.#client = undefined;
      await client?.close().catch(() => undefined);
    })();
    return this.#closing;
  }
}

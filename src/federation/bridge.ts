/**
 * The `bridge` role: this station's links to its neighbours, built in (no octopus process).
 *
 * For every configured neighbour the bridge that owns the link (one per neighbour across the cluster: an
 * ownership key renewed every few seconds, taken over when its owner dies) keeps a NeighbourLink and
 * consumes the neighbour's queue stream. Each queued message is sent over the link and acknowledged on the
 * stream only once the neighbour's gateway confirmed it (`OK`: durable there); while the link is down the
 * entries simply wait (they are stored), so an unreachable neighbour loses nothing and gets everything when
 * it returns. Queues are per neighbour, so a stalled neighbour never delays local delivery or another
 * neighbour. A roamed copy is marked delivered in the inbox (deleted) only after that `OK`.
 *
 * What a neighbour pushes to us over our link is checked (relay-check.ts) and published to the inbound
 * shards like a gateway would, with this bridge as the origin "gateway": replies the dispatcher sends to
 * that origin come back on the bridge's delivery stream and go out over the same link.
 */
import type { Logger } from 'pino';
import type { BusConsumer, BusEntry, MessageBus } from '../bus/message-bus.ts';
import type { StationIdentity } from '../identity/station-identity.ts';
import type { StationMessenger } from '../identity/station-messenger.ts';
import type { Content } from '../protocol/dkd/content.ts';
import { parseContent } from '../protocol/dkd/content.ts';
import { parseReliableMessage } from '../protocol/dkd/reliable-message.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import { EVERY_STATION, EVERYONE } from '../protocol/mkm/identifier.ts';
import type { InboundSink, MessageOrigin } from '../streams/inbound-sink.ts';
import { decodeDelivery } from '../streams/station-streams.ts';
import type { StationStreams } from '../streams/station-streams.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { IdentityDirectory } from '../storage/identity-directory.ts';
import { decodeForward } from './federation-entries.ts';
import type { FederationStore } from './federation-store.ts';
import { LinkOutbox, OutboxClosedError } from './link-outbox.ts';
import { NeighbourLink } from './neighbour-link.ts';
import type { LinkSnapshot } from './neighbour-link.ts';
import type { NeighbourSpec } from './neighbour-list.ts';
import { checkRelayed } from './relay-check.ts';

export const BRIDGE_GROUP = 'bridge';

export interface BridgeOptions {
  readonly identity: StationIdentity;
  readonly neighbours: readonly NeighbourSpec[];
  /** Stations whose relays are taken without verifying the original sender. */
  readonly trustedStations: ReadonlySet<string>;
  readonly store: FederationStore;
  readonly bus: MessageBus;
  readonly keys: RedisKeys;
  readonly streams: StationStreams;
  readonly sink: InboundSink;
  readonly directory: IdentityDirectory;
  /** Opens what a neighbour sends to this station (the dispatcher gets contents already opened). */
  readonly messenger: StationMessenger;
  /** Unique name of this process. */
  readonly instanceName: string;
  readonly logger: Logger;
  /** Messages in flight per neighbour (default 32; one receiver's messages stay in order). */
  readonly concurrency?: number;
  readonly maxBackoffMs?: number;
  readonly minBackoffMs?: number;
  /** Link ownership TTL (ms, default 15,000; renewed every third of it). */
  readonly ownershipTtlMs?: number;
  readonly keepAliveMs?: number;
  readonly now?: () => number;
}

interface Neighbour {
  readonly spec: NeighbourSpec;
  link: NeighbourLink | undefined;
  outbox: LinkOutbox | undefined;
  consumer: BusConsumer | undefined;
}

class BridgeClosed extends Error {
  readonly code = 'BRIDGE_CLOSED';
}

export class Bridge {
  readonly #o: BridgeOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #neighbours = new Map<string, Neighbour>();
  /** The bridge's "gateway" name: origin of what it injects, and its delivery stream. */
  readonly gatewayId: string;
  readonly #inflight = new Map<string, Promise<void>>();
  #delivery: BusConsumer | undefined;
  #ownership: NodeJS.Timeout | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: BridgeOptions) {
    this.#o = options;
    this.#log = options.logger.child({ module: 'bridge' });
    this.#now = options.now ?? Date.now;
    this.gatewayId = `bridge-${options.instanceName}`;
    for (const spec of options.neighbours)
      this.#neighbours.set(spec.id, { spec, link: undefined, outbox: undefined, consumer: undefined });
  }

  /** Link states (inspection, tests). */
  links(): LinkSnapshot[] {
    return [...this.#neighbours.values()].flatMap((n) => (n.link ? [n.link.snapshot()] : []));
  }

  link(neighbour: string): NeighbourLink | undefined {
    return this.#neighbours.get(neighbour)?.link;
  }

  async start(): Promise<void> {
    const { bus, streams, instanceName } = this.#o;
    this.#delivery = bus.consume({
      stream: streams.deliveryStream(this.gatewayId),
      group: BRIDGE_GROUP,
      consumer: instanceName,
      concurrency: 16,
      maxDeliveries: 1_000_000,
      handler: (entry) => this.#once(entry, () => this.#reply(entry)),
    });
    await this.#claimLinks();
    const ttl = this.#o.ownershipTtlMs ?? 15_000;
    this.#ownership = setInterval(
      () => {
        this.#claimLinks().catch((err: unknown) =>
          this.#log.error({ code: 'LINK_OWNERSHIP_FAILED', err: String(err) }, 'link ownership not renewed'),
        );
      },
      Math.max(200, Math.floor(ttl / 3)),
    );
    this.#ownership.unref();
    this.#log.info(
      { code: 'BRIDGE_STARTED', neighbours: [...this.#neighbours.keys()] },
      'bridge linking to neighbour stations',
    );
  }

  /** Take (or keep) the links this process may own; start or stop them accordingly. */
  async #claimLinks(): Promise<void> {
    const ttl = this.#o.ownershipTtlMs ?? 15_000;
    for (const n of this.#neighbours.values()) {
      if (this.#closed) return;
      const owned = await this.#o.store.ownLink(n.spec.id, this.#o.instanceName, ttl);
      if (owned && n.link === undefined) this.#startLink(n);
      else if (!owned && n.link !== undefined) {
        this.#log.warn({ code: 'LINK_OWNERSHIP_LOST', neighbour: n.spec.id }, 'another bridge owns the link');
        await this.#stopLink(n);
      }
    }
  }

  #startLink(n: Neighbour): void {
    const { identity, bus, keys, instanceName, store, directory } = this.#o;
    const link = new NeighbourLink({
      neighbour: n.spec,
      identity,
      logger: this.#log,
      maxBackoffMs: this.#o.maxBackoffMs,
      minBackoffMs: this.#o.minBackoffMs,
      keepAliveMs: this.#o.keepAliveMs,
      onMessage: (text) => this.#incoming(n.spec.id, text),
      onIdentity: (id, meta, visa) => {
        // the neighbour's keys: replies and queries to it can be encrypted and its messages verified
        void (async () => {
          if (meta !== undefined) await directory.acceptMeta(id, meta);
          if (visa !== undefined) await directory.acceptDocument(visa, this.#now() / 1000, id);
        })().catch((err: unknown) =>
          this.#log.warn({ code: 'NEIGHBOUR_IDENTITY_NOT_SAVED', err: String(err) }, 'neighbour keys'),
        );
      },
      onState: (s) => {
        store
          .putLinkState({ ...s, owner: instanceName })
          .catch((err: unknown) => this.#log.debug({ code: 'LINK_STATE_NOT_SAVED', err: String(err) }));
      },
    });
    n.link = link;
    const outbox = new LinkOutbox(link);
    n.outbox = outbox;
    link.start();
    n.consumer = bus.consume({
      stream: keys.federationQueue(n.spec.id),
      group: BRIDGE_GROUP,
      consumer: instanceName,
      concurrency: this.#o.concurrency ?? 256,
      maxDeliveries: 1_000_000,
      handler: (entry) => this.#once(entry, () => this.#forward(n, outbox, entry)),
    });
  }

  async #stopLink(n: Neighbour): Promise<void> {
    const { link, consumer, outbox } = n;
    n.link = undefined;
    n.outbox = undefined;
    n.consumer = undefined;
    outbox?.close();
    await link?.close();
    await consumer?.close();
  }

  /** One handler run per entry at a time (a reclaimed entry still in flight joins the running send). */
  #once(entry: BusEntry, run: () => Promise<void>): Promise<void> {
    const key = `${entry.stream} ${entry.id}`;
    let running = this.#inflight.get(key);
    if (running === undefined) {
      running = run().finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, running);
    }
    return running;
  }

  /**
   * Send a queued message; resolves (the entry is acknowledged) only after the neighbour's OK. The message
   * goes into the link's ordered outbox synchronously, so entries leave in stream order.
   */
  async #forward(n: Neighbour, outbox: LinkOutbox, entry: BusEntry): Promise<void> {
    let fwd;
    try {
      fwd = decodeForward(entry.fields);
    } catch (err) {
      this.#log.error({ code: 'BAD_STREAM_ENTRY', id: entry.id, err: String(err) }, 'dropping entry');
      return;
    }
    try {
      await outbox.push(fwd.json);
    } catch (err) {
      if (err instanceof OutboxClosedError) throw new BridgeClosed('bridge closed');
      throw err;
    }
    await this.#o.store.release(n.spec.id, fwd.member);
    if (fwd.roam !== undefined) await this.#o.sink.markDelivered(fwd.roam);
  }

  /** A reply of the dispatcher to a message that came in over one of our links. */
  async #reply(entry: BusEntry): Promise<void> {
    let d;
    try {
      d = decodeDelivery(entry.fields);
    } catch (err) {
      this.#log.error({ code: 'BAD_STREAM_ENTRY', id: entry.id, err: String(err) }, 'dropping entry');
      return;
    }
    if (d.kind !== 'deliver') return;
    const outbox = this.#neighbours.get(d.connId)?.outbox;
    if (outbox === undefined) {
      this.#log.warn({ code: 'NO_LINK', neighbour: d.connId }, 'reply for a link this bridge does not hold');
      return;
    }
    try {
      await outbox.push(d.msg);
    } catch (err) {
      if (err instanceof OutboxClosedError) throw new BridgeClosed('bridge closed');
      throw err;
    }
  }

  /** Messages a neighbour pushed to us over our link: checked, then published like a gateway does. */
  #incoming(neighbour: string, body: string): void {
    const lines = body.startsWith('{') ? body.split(/\r?\n/).filter((l) => l.trim().length > 0) : [body];
    for (const line of lines) {
      void this.#injectOne(neighbour, line).catch((err: unknown) =>
        this.#log.error({ code: 'RELAY_NOT_ACCEPTED', neighbour, err: String(err) }, 'relay not published'),
      );
    }
  }

  async #injectOne(neighbour: string, line: string): Promise<void> {
    const message = parseReliableMessage(line);
    const verdict = await checkRelayed(
      message,
      neighbour,
      this.#o.trustedStations,
      this.#o.directory,
      this.#now(),
    );
    if (verdict === 'FORGED_RELAY' || verdict === 'RELAY_SENDER_UNKNOWN') {
      this.#log.warn({ code: verdict, neighbour, sender: message.sender.string }, 'relayed message refused');
      return;
    }
    const origin: MessageOrigin = {
      gatewayId: this.gatewayId,
      connId: neighbour,
      user: neighbour,
      terminal: undefined,
    };
    await this.#o.sink.publish(message, origin, this.#open(message));
  }

  /** The content of a message the station itself processes (as a gateway hands it to the dispatcher). */
  #open(message: ReliableMessage): Content | undefined {
    try {
      const receiver = message.receiver;
      if (receiver.equals(EVERYONE) || receiver.equals(EVERY_STATION) || message.isBroadcast) {
        if (!message.isBroadcast) return undefined;
        return parseContent(JSON.parse(message.data));
      }
      if (this.#o.messenger.isForStation(receiver)) return this.#o.messenger.open(message).content;
    } catch (err) {
      this.#log.debug({ code: 'RELAY_NOT_OPENED', err: String(err) }, 'content not opened');
    }
    return undefined;
  }

  /** Stop: links closed, in-flight sends abandoned (their entries stay queued); idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      clearInterval(this.#ownership);
      await Promise.all(
        [...this.#neighbours.values()].map(async (n) => {
          const owned = n.link !== undefined;
          await this.#stopLink(n);
          if (owned) await this.#o.store.releaseLink(n.spec.id, this.#o.instanceName).catch(() => undefined);
        }),
      );
      await this.#delivery?.close();
      this.#log.info({ code: 'BRIDGE_CLOSED' }, 'bridge stopped');
    })();
    return this.#closing;
  }
}

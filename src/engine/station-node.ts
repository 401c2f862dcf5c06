/**
 * One station process: the roles it runs (gateway, dispatcher, storage — any combination; `all` in the
 * embedded engine) composed over a backend. Shutdown drains in order: stop accepting and close client
 * connections, stop delivering, let the dispatcher and the storage worker finish what they hold, then
 * release the backend.
 */
import type { Logger } from 'pino';
import type { StationConfig } from '../config/station-config.ts';
import { Dispatcher } from '../dispatch/dispatcher.ts';
import type { ChangeFeed } from '../redis/change-signal.ts';
import { StationCommands } from '../dispatch/station-commands.ts';
import { BacklogAttachments } from '../gateway/backlog-attachments.ts';
import { DeliveryConsumer } from '../gateway/delivery-consumer.ts';
import { Gateway } from '../gateway/gateway.ts';
import type { StationIdentity } from '../identity/station-identity.ts';
import { StationMessenger } from '../identity/station-messenger.ts';
import { PushService } from '../push/push-service.ts';
import type { PushProviders, DeliveryEvent } from '../push/push-sender.ts';
import { IdentityDirectory } from '../storage/identity-directory.ts';
import { StorageWorker } from '../storage/storage-worker.ts';
import { Bridge } from '../federation/bridge.ts';
import { FederationRouter } from '../federation/federation-router.ts';
import { MemoryFederationStore } from '../federation/federation-store.ts';
import type { FederationStore } from '../federation/federation-store.ts';
import type { NeighbourSpec } from '../federation/neighbour-list.ts';
import { RedisFederationStore } from '../federation/redis-federation-store.ts';
import { BusInboundSink } from '../streams/bus-inbound-sink.ts';
import { StationStreams } from '../streams/station-streams.ts';
import type { Backend } from './backend.ts';
import type { RedisBackend } from './redis-backend.ts';
import { NOOP_METRICS, type StationMetrics } from '../ops/metrics.ts';
import { meteredBus, meteredRegistry, meteredSink, meteredTarget } from '../ops/metered.ts';

export type Role = 'gateway' | 'dispatcher' | 'storage' | 'push' | 'bridge';
export const ALL_ROLES: readonly Role[] = ['gateway', 'dispatcher', 'storage', 'push', 'bridge'];

export interface StationNodeOptions {
  readonly config: StationConfig;
  readonly identity: StationIdentity;
  readonly backend: Backend;
  readonly roles: readonly Role[];
  /** Unique name of this process (gateway ID, consumer names). */
  readonly instanceName: string;
  readonly logger: Logger;
  /** Gateway heartbeat period (ms, default 5000). */
  readonly heartbeatMs?: number;
  /** Where the roles record their metrics (default: nowhere). */
  readonly metrics?: StationMetrics;
  /** Push providers replacing the configured ones, and a delivery observer (tests, benchmarks). */
  readonly push?: { readonly providers?: PushProviders; readonly onDelivery?: (e: DeliveryEvent) => void };
}

export class StationNode {
  readonly #o: StationNodeOptions;
  readonly #log: Logger;
  readonly directory: IdentityDirectory;
  readonly messenger: StationMessenger;
  gateway: Gateway | undefined;
  #delivery: DeliveryConsumer | undefined;
  #dispatcher: Dispatcher | undefined;
  /** The dispatcher's change feed (its lookup caches), when the backend has one. */
  #changes: ChangeFeed | undefined;
  #storage: StorageWorker | undefined;
  push: PushService | undefined;
  /** Neighbour links (the `bridge` role, when neighbours are configured). */
  bridge: Bridge | undefined;
  #federationStore: FederationStore | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: StationNodeOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.directory = new IdentityDirectory(options.backend.identities);
    this.messenger = new StationMessenger(options.identity, this.directory, () => Date.now() / 1000);
  }

  /** The shared state this node runs on (inspection, tests). */
  get backend(): Backend {
    return this.#o.backend;
  }

  /** Start every role; resolves with the gateway's listening address when it runs one. */
  async start(): Promise<{ address: string; port: number } | undefined> {
    const { config, roles, instanceName, identity } = this.#o;
    // the roles see the backend through metric observers (same behaviour, counted)
    const metrics = this.#o.metrics ?? NOOP_METRICS;
    const backend = {
      ...this.#o.backend,
      bus: meteredBus(this.#o.backend.bus, this.#o.backend.keys, metrics),
      registry: meteredRegistry(this.#o.backend.registry, metrics),
      isGatewayAlive: (id: string) => this.#o.backend.isGatewayAlive(id),
      heartbeat: (id: string) => this.#o.backend.heartbeat(id),
    };
    // The station knows itself: its meta and visa are answered like any other user's.
    await this.directory.acceptMeta(identity.id, identity.meta);
    await this.directory.acceptDocument(identity.visa, Date.now() / 1000);
    const streams = new StationStreams(backend.keys, config.shards);
    if (roles.includes('storage')) {
      this.#storage = new StorageWorker({
        bus: backend.bus,
        streams,
        inbox: backend.inbox,
        consumerName: instanceName,
        claimIdleMs: config.busClaimIdleMs,
        logger: this.#log,
      });
      this.#storage.start();
    }
    if (roles.includes('dispatcher') || roles.includes('push')) {
      const redis = (backend as { redis?: import('ioredis').Redis }).redis;
      this.push = await PushService.create({
        config: config.push,
        engine:
          backend.kind === 'redis' && redis !== undefined && config.redisUrl !== undefined
            ? { kind: 'redis', redis, url: config.redisUrl }
            : { kind: 'memory' },
        keys: backend.keys,
        accounts: backend.accounts,
        directory: this.directory,
        produce: roles.includes('dispatcher'),
        consume: roles.includes('push'),
        logger: this.#log,
        ...this.#o.push,
      });
      this.push.start();
    }
    if (roles.includes('dispatcher')) {
      const commands = new StationCommands({
        stationId: identity.id,
        directory: this.directory,
        accounts: backend.accounts,
        ans: config.ans,
        push: this.push?.registrar,
      });
      const federation = this.#federation();
      this.#changes = config.lookupCacheMs > 0 ? this.#o.backend.watchChanges?.() : undefined;
      this.#dispatcher = new Dispatcher({
        ...(this.#changes === undefined ? {} : { changes: this.#changes }),
        lookupCacheMs: config.lookupCacheMs,
        ...(federation === undefined ? {} : { federation }),
        bus: backend.bus,
        streams,
        registry: backend.registry,
        accounts: backend.accounts,
        inbox: backend.inbox,
        messenger: this.messenger,
        commands,
        isGatewayAlive: (id) => backend.isGatewayAlive(id),
        push: this.push?.hook,
        consumerName: instanceName,
        claimIdleMs: config.busClaimIdleMs,
        logger: this.#log,
      });
      this.#dispatcher.start();
    }
    const sink = meteredSink(new BusInboundSink(backend.bus, streams), metrics);
    if (roles.includes('bridge') && this.#neighbours().length > 0) {
      this.bridge = new Bridge({
        identity,
        neighbours: this.#neighbours(),
        trustedStations: new Set(config.trustedStations),
        store: this.#fedStore(),
        bus: backend.bus,
        keys: backend.keys,
        streams,
        sink,
        inbox: backend.inbox,
        directory: this.directory,
        messenger: this.messenger,
        instanceName,
        maxBackoffMs: config.federationMaxBackoffMs,
        logger: this.#log,
      });
      await this.bridge.start();
    }
    if (!roles.includes('gateway')) return undefined;
    this.gateway = new Gateway({
      gatewayId: instanceName,
      config,
      messenger: this.messenger,
      directory: this.directory,
      sink,
      registry: backend.registry,
      logger: this.#log,
      metrics,
    });
    this.#delivery = new DeliveryConsumer({
      bus: backend.bus,
      streams,
      gateway: meteredTarget(this.gateway, metrics),
      sink,
      inbox: backend.inbox,
      logger: this.#log,
      attachments: new BacklogAttachments(this.directory),
    });
    // A process that died under this name (and whose heartbeat may still be current) left sessions
    // recorded here: none of them is ours, and routing to them would report offline users as online.
    const stale = await backend.registry.dropGateway(instanceName);
    if (stale > 0) {
      this.#log.warn(
        { code: 'STALE_SESSIONS_DROPPED', gateway: instanceName, sessions: stale },
        'removed the sessions a previous process of this gateway left',
      );
    }
    await backend.heartbeat(instanceName);
    this.#heartbeat = setInterval(() => {
      backend.heartbeat(instanceName).catch((err: unknown) => {
        this.#log.error({ code: 'HEARTBEAT_FAILED', err: String(err) }, 'gateway heartbeat failed');
      });
    }, this.#o.heartbeatMs ?? 5000);
    this.#heartbeat.unref();
    // no delivery to a connection may be published before the tail's starting point: accept clients after it
    await this.#delivery.start();
    return this.gateway.start();
  }

  /** The federation store, once neighbours made one (the embedded inspector reads its link records). */
  get federationStore(): FederationStore | undefined {
    return this.#federationStore;
  }

  #fedStore(): FederationStore {
    const backend = this.#o.backend;
    this.#federationStore ??=
      backend.kind === 'redis'
        ? new RedisFederationStore((backend as RedisBackend).redis, backend.keys)
        : new MemoryFederationStore();
    return this.#federationStore;
  }

  /** Configured neighbours, without this station (a shared stations file lists it too). */
  #neighbours(): readonly NeighbourSpec[] {
    const self = this.#o.identity.id.naked().string;
    return this.#o.config.neighbors.filter((n) => n.id !== self);
  }

  /** The dispatcher's federation router, when neighbours are configured. */
  #federation(): FederationRouter | undefined {
    const { config, backend, identity } = this.#o;
    if (this.#neighbours().length === 0) return undefined;
    return new FederationRouter({
      self: identity.id,
      neighbours: this.#neighbours().map((n) => n.id),
      store: this.#fedStore(),
      bus: backend.bus,
      keys: backend.keys,
      queueLimit: config.federationQueueLimit,
      accounts: backend.accounts,
      inbox: backend.inbox,
      directory: this.directory,
      messenger: this.messenger,
      logger: this.#log,
    });
  }

  /**
   * Ordered drain; idempotent. With `drainWindowMs`, the gateway first closes its clients gradually over
   * that window (lame duck: it keeps delivering to those still connected and keeps its heartbeat so the
   * dispatcher still routes to them); then delivery stops, the dispatcher and storage worker finish what
   * they hold, and the backend is released.
   */
  close(
    options: {
      readonly drainWindowMs?: number;
      /** Runs after the roles stopped, before the backend is released (e.g. withdraw announcements). */
      readonly beforeRelease?: () => Promise<void>;
    } = {},
  ): Promise<void> {
    this.#closing ??= (async () => {
      if (this.gateway !== undefined && options.drainWindowMs !== undefined && options.drainWindowMs > 0) {
        await this.gateway.drain(options.drainWindowMs);
      }
      clearInterval(this.#heartbeat);
      await this.gateway?.close();
      await this.#delivery?.close();
      await this.bridge?.close();
      await this.#dispatcher?.close();
      await this.#changes?.close();
      await this.#storage?.close();
      await this.push?.close();
      await options.beforeRelease?.().catch((err: unknown) => {
        this.#log.warn({ code: 'SHUTDOWN_STEP_FAILED', err: String(err) }, 'shutdown step failed');
      });
      await this.#o.backend.close();
      this.#log.info({ code: 'NODE_CLOSED' }, 'station node stopped');
    })();
    return this.#closing;
  }
}

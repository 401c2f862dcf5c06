/**
 * One station process: the roles it runs (gateway, dispatcher, storage — any combination; `all` in the
 * embedded engine) composed over a backend. Shutdown drains in order: stop accepting and close client
 * connections, stop delivering, let the dispatcher and the storage worker finish what they hold, then
 * release the backend.
 */
import type { Logger } from 'pino';
import type { StationConfig } from '../config/station-config.ts';
import { Dispatcher } from '../dispatch/dispatcher.ts';
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
import { BusInboundSink } from '../streams/bus-inbound-sink.ts';
import { StationStreams } from '../streams/station-streams.ts';
import type { Backend } from './backend.ts';

export type Role = 'gateway' | 'dispatcher' | 'storage' | 'push';
export const ALL_ROLES: readonly Role[] = ['gateway', 'dispatcher', 'storage', 'push'];

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
  #storage: StorageWorker | undefined;
  push: PushService | undefined;
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
    const { config, backend, roles, instanceName, identity } = this.#o;
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
      this.push = new PushService({
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
      this.#dispatcher = new Dispatcher({
        bus: backend.bus,
        streams,
        registry: backend.registry,
        accounts: backend.accounts,
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
    if (!roles.includes('gateway')) return undefined;
    const sink = new BusInboundSink(backend.bus, streams);
    this.gateway = new Gateway({
      gatewayId: instanceName,
      config,
      messenger: this.messenger,
      directory: this.directory,
      sink,
      registry: backend.registry,
      logger: this.#log,
    });
    this.#delivery = new DeliveryConsumer({
      bus: backend.bus,
      streams,
      gateway: this.gateway,
      sink,
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
    this.#delivery.start();
    return this.gateway.start();
  }

  /** Ordered drain; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#heartbeat);
      await this.gateway?.close();
      await this.#delivery?.close();
      await this.#dispatcher?.close();
      await this.#storage?.close();
      await this.push?.close();
      await this.#o.backend.close();
      this.#log.info({ code: 'NODE_CLOSED' }, 'station node stopped');
    })();
    return this.#closing;
  }
}

/**
 * A gateway process's front: the listener (MTP and WebSocket on one port), one ClientSession per
 * connection, and delivery of messages to the connections it holds.
 */
import type { Logger } from 'pino';
import type { InboundSink } from '../bus/inbound-sink.ts';
import type { StationConfig } from '../config/station-config.ts';
import type { StationMessenger } from '../identity/station-messenger.ts';
import type { SessionRegistry } from '../registry/session-registry.ts';
import type { IdentityDirectory } from '../storage/identity-directory.ts';
import type { ClientChannel, DeliveryResult } from '../transport/client-channel.ts';
import { StationListener } from '../transport/listener.ts';
import { ClientSession } from './client-session.ts';

export interface GatewayOptions {
  readonly gatewayId: string;
  readonly config: StationConfig;
  readonly messenger: StationMessenger;
  readonly directory: IdentityDirectory;
  readonly sink: InboundSink;
  readonly registry: SessionRegistry;
  readonly logger: Logger;
  /** Milliseconds since the epoch (tests may pin it). */
  readonly now?: () => number;
}

export class Gateway {
  readonly id: string;
  readonly #options: GatewayOptions;
  readonly #listener: StationListener;
  readonly #sessions = new Map<string, ClientSession>();
  readonly #log: Logger;
  readonly #trustedStations: ReadonlySet<string>;
  #closing: Promise<void> | undefined;

  constructor(options: GatewayOptions) {
    this.id = options.gatewayId;
    this.#options = options;
    this.#log = options.logger.child({ module: 'gateway', gateway: options.gatewayId });
    const { config } = options;
    this.#trustedStations = new Set(config.trustedStations);
    this.#listener = new StationListener({
      host: config.host,
      port: config.port,
      proxyProtocol: config.proxyProtocol,
      maxConnections: config.limits.maxConnections,
      maxConnectionsPerIp: config.limits.maxConnectionsPerIp,
      detectTimeout: config.limits.handshakeTimeoutMs,
      channel: {
        maxBodyLength: config.limits.maxFrameBytes,
        idleTimeout: config.limits.idleTimeoutMs,
        maxOutgoingBytes: config.limits.maxOutgoingBytes,
      },
      logger: options.logger.child({ module: 'transport' }),
      onChannel: (channel) => this.#accept(channel),
    });
  }

  get connectionCount(): number {
    return this.#sessions.size;
  }

  session(connId: string): ClientSession | undefined {
    return this.#sessions.get(connId);
  }

  async start(): Promise<{ address: string; port: number }> {
    const address = await this.#listener.listen();
    this.#log.info({ code: 'GATEWAY_LISTENING', ...address }, 'gateway listening (MTP and WebSocket)');
    return address;
  }

  /** Push a message to one of this gateway's connections. */
  async deliver(connId: string, body: string, signature?: string): Promise<DeliveryResult | 'no-session'> {
    const session = this.#sessions.get(connId);
    if (!session || session.state !== 'bound') return 'no-session';
    return session.channel.push(body, signature === undefined ? undefined : { signature });
  }

  /** Stop accepting, close every connection (SHUTDOWN). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#listener.close();
      this.#sessions.clear();
      this.#log.info({ code: 'GATEWAY_CLOSED' }, 'gateway closed');
    })();
    return this.#closing;
  }

  #accept(channel: ClientChannel): void {
    const o = this.#options;
    const session = new ClientSession(channel, {
      gatewayId: o.gatewayId,
      messenger: o.messenger,
      directory: o.directory,
      sink: o.sink,
      registry: o.registry,
      limits: o.config.limits,
      verifyAllMessages: o.config.verifyAllMessages,
      trustedStations: this.#trustedStations,
      logger: this.#log,
      now: o.now ?? Date.now,
      onClosed: () => this.#sessions.delete(channel.id),
    });
    this.#sessions.set(channel.id, session);
  }
}

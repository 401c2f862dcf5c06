/**
 * A gateway process's front: the listener (MTP and WebSocket on one port), one ClientSession per
 * connection, and delivery of messages to the connections it holds.
 */
import type { Logger } from 'pino';
import type { InboundSink } from '../streams/inbound-sink.ts';
import type { StationConfig } from '../config/station-config.ts';
import type { StationMessenger } from '../identity/station-messenger.ts';
import type { SessionRegistry } from '../registry/session-registry.ts';
import type { IdentityDirectory } from '../storage/identity-directory.ts';
import type { ClientChannel, DeliveryResult } from '../transport/client-channel.ts';
import { StationListener } from '../transport/listener.ts';
import { TlsCertificates } from '../transport/tls-certificates.ts';
import { ClientSession, type SessionDeps } from './client-session.ts';

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
  readonly #listener: StationListener;
  readonly #sessions = new Map<string, ClientSession>();
  readonly #log: Logger;
  /** Shared by every session (nothing per connection in it). */
  readonly #sessionDeps: SessionDeps;
  /** Present when a certificate is configured: TLS (MTP over TLS, WSS) on the same port. */
  readonly #tls: TlsCertificates | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: GatewayOptions) {
    this.id = options.gatewayId;
    this.#log = options.logger.child({ module: 'gateway', gateway: options.gatewayId });
    const { config } = options;
    this.#sessionDeps = {
      gatewayId: options.gatewayId,
      messenger: options.messenger,
      directory: options.directory,
      sink: options.sink,
      registry: options.registry,
      limits: config.limits,
      verifyAllMessages: config.verifyAllMessages,
      trustedStations: new Set(config.trustedStations),
      logger: this.#log,
      now: options.now ?? Date.now,
      onClosed: (session) => {
        const id = session.channel.id;
        if (this.#sessions.get(id) === session) this.#sessions.delete(id);
      },
    };
    this.#tls =
      config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined
        ? new TlsCertificates(config.tlsCertFile, config.tlsKeyFile)
        : undefined;
    const tls = this.#tls;
    this.#listener = new StationListener({
      host: config.host,
      port: config.port,
      proxyProtocol: config.proxyProtocol,
      trustedProxies: config.trustedProxies,
      ...(tls === undefined ? {} : { tls: () => tls.context }),
      maxConnections: config.limits.maxConnections,
      maxConnectionsPerIp: config.limits.maxConnectionsPerIp,
      detectTimeout: config.limits.handshakeTimeoutMs,
      channel: {
        maxBodyLength: config.limits.maxFrameBytes,
        idleTimeout: config.limits.idleTimeoutMs,
        maxOutgoingBytes: config.limits.maxOutgoingBytes,
        frameTimeout: config.limits.frameTimeoutMs,
        minBytesPerSecond: config.limits.minBytesPerSecond,
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
    this.#log.info(
      { code: 'GATEWAY_LISTENING', ...address, tls: this.#tls !== undefined },
      `gateway listening on ${address.address}:${address.port} (MTP and WebSocket${this.#tls === undefined ? '' : ', plain and over TLS'})`,
    );
    return address;
  }

  /** Push a message to one of this gateway's connections. */
  async deliver(connId: string, body: string, signature?: string): Promise<DeliveryResult | 'no-session'> {
    const session = this.#sessions.get(connId);
    if (!session || session.state !== 'bound') return 'no-session';
    return session.channel.push(body, signature === undefined ? undefined : { signature });
  }

  /**
   * Load the TLS certificate and key again (SIGHUP): new connections use them; on failure the current
   * pair stays in use and the error is logged TLS_RELOAD_FAILED. Returns whether a new pair is in use.
   */
  reloadTls(): boolean {
    if (this.#tls === undefined) return false;
    try {
      this.#tls.reload();
    } catch (err) {
      this.#log.error(
        { code: 'TLS_RELOAD_FAILED', err: err instanceof Error ? err.message : String(err) },
        'TLS certificate not reloaded; the current one stays in use',
      );
      return false;
    }
    this.#log.info({ code: 'TLS_RELOADED', cert: this.#tls.certFile }, 'TLS certificate reloaded');
    return true;
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
    const session = new ClientSession(channel, this.#sessionDeps);
    this.#sessions.set(channel.id, session);
  }
}

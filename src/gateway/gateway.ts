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
import { NOOP_METRICS, type StationMetrics } from '../ops/metrics.ts';
import { observeChannel } from '../ops/metered.ts';
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
  readonly metrics?: StationMetrics;
}

/** How often a drain retires its next batch of connections (ms). */
const DRAIN_TICK_MS = 100;
/** How long a retired (inactive) connection still receives the pushes already on their way (ms). */
const DRAIN_GRACE_MS = 1000;

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

export class Gateway {
  readonly id: string;
  readonly #listener: StationListener;
  readonly #sessions = new Map<string, ClientSession>();
  readonly #log: Logger;
  /** Shared by every session (nothing per connection in it). */
  readonly #sessionDeps: SessionDeps;
  /** Present when a certificate is configured: TLS (MTP over TLS, WSS) on the same port. */
  readonly #tls: TlsCertificates | undefined;
  readonly #metrics: StationMetrics;
  readonly #registry: SessionRegistry;
  #closing: Promise<void> | undefined;
  #draining: Promise<void> | undefined;

  constructor(options: GatewayOptions) {
    this.id = options.gatewayId;
    this.#metrics = options.metrics ?? NOOP_METRICS;
    this.#registry = options.registry;
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

  /**
   * Push a message to one of this gateway's connections. A `live` one (routed by the dispatcher, not a
   * backlog page's nor a response) waits while the connection's backlog is on its way (live-gate.ts).
   */
  async deliver(
    connId: string,
    body: string,
    signature?: string,
    live = false,
  ): Promise<DeliveryResult | 'no-session'> {
    let session = this.#sessions.get(connId);
    if (!session || session.state !== 'bound') return 'no-session';
    const wait = live ? session.livePass() : undefined;
    if (wait !== undefined) {
      await wait;
      session = this.#sessions.get(connId);
      if (!session || session.state !== 'bound') return 'no-session';
    }
    return session.channel.push(body, signature === undefined ? undefined : { signature });
  }

  /** A backlog page for a connection was written (`last`: its drain is complete). */
  backlogPage(connId: string, last: boolean): void {
    this.#sessions.get(connId)?.backlogPage(last);
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

  /** Stop listening while the station cannot serve (Redis lost); open connections stay. */
  pauseAccepting(): void {
    this.#listener.pauseAccepting();
  }

  resumeAccepting(): Promise<void> {
    return this.#listener.resumeAccepting();
  }

  /** The client address and transport of a connection, while it is open. */
  connectionInfo(connId: string): { remote: string; transport: string } | undefined {
    const channel = this.#sessions.get(connId)?.channel;
    if (channel === undefined) return undefined;
    return { remote: `${channel.remote.address}:${channel.remote.port}`, transport: channel.kind };
  }

  /** Close the connections of `user` (only `terminal`'s if given) held here; returns how many. */
  async kick(user: string, terminal?: string): Promise<number> {
    const records = await this.#registry.sessionsOf(user, terminal);
    let closed = 0;
    for (const record of records) {
      if (record.gatewayId !== this.id) continue;
      const session = this.#sessions.get(record.connId);
      if (session === undefined || session.channel.closed) continue;
      this.#log.info({ code: 'SESSION_KICKED', conn: record.connId, user }, 'closing a session (operator)');
      session.channel.close('SHUTDOWN', 'disconnected by the operator');
      closed++;
    }
    return closed;
  }

  /**
   * Lame-duck drain: stop accepting, then retire the open connections a batch at a time, spread evenly over
   * `windowMs`, so that their clients reconnect (through the balancer, to other gateways) without a
   * thundering herd; then close(). Retiring a connection first marks its session inactive (the dispatcher
   * stops routing to it: new messages are stored for the client's reconnection), lets the pushes already
   * on their way reach it for `graceMs`, then closes it. A push that still meets a closed connection stays
   * in the inbox and reaches the client with its backlog wherever it reconnects. Idempotent.
   */
  drain(windowMs: number, graceMs = Math.min(DRAIN_GRACE_MS, windowMs)): Promise<void> {
    this.#draining ??= (async () => {
      this.#listener.pauseAccepting();
      const channels = this.#listener.channels();
      this.#log.info(
        { code: 'GATEWAY_DRAINING', connections: channels.length, windowMs },
        'draining: closing connections gradually',
      );
      const ticks = Math.max(1, Math.floor(windowMs / DRAIN_TICK_MS));
      const perTick = Math.max(1, Math.ceil(channels.length / ticks));
      const retiring: Promise<void>[] = [];
      for (let next = 0; next < channels.length && this.#closing === undefined; next += perTick) {
        retiring.push(this.#retire(channels.slice(next, next + perTick), graceMs));
        if (next + perTick < channels.length) await sleep(DRAIN_TICK_MS);
      }
      await Promise.all(retiring);
      await this.close();
    })();
    return this.#draining;
  }

  async #retire(channels: readonly ClientChannel[], graceMs: number): Promise<void> {
    await Promise.all(
      channels.map((channel) =>
        this.#sessions.get(channel.id)?.state === 'bound'
          ? this.#registry.setActive(this.id, channel.id, false).catch((err: unknown) => {
              this.#log.warn({ code: 'REGISTRY_ERROR', err: String(err) }, 'could not retire a session');
            })
          : undefined,
      ),
    );
    if (graceMs > 0) await sleep(graceMs);
    for (const channel of channels) channel.close('SHUTDOWN', 'the gateway is draining; reconnect');
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
    observeChannel(channel, this.#metrics);
    const session = new ClientSession(channel, this.#sessionDeps);
    this.#sessions.set(channel.id, session);
  }
}

/**
 * The operations side of one station process, wired around its StationNode: metrics, readiness (and a
 * gateway that stops accepting while its Redis is unreachable), the ops HTTP server, and — on Redis — an
 * announcement of this process (roles, ops URL, version, connections, readiness) refreshed every few
 * seconds under `opsInstance(name)` with a TTL, so that dimctl and dashboards find every process.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { OpsConfig } from '../config/station-config.ts';
import type { Gateway } from '../gateway/gateway.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { PromMetrics } from './metrics.ts';
import { OpsServer } from './ops-server.ts';
import { Readiness } from './readiness.ts';
import type { ReadinessReport } from './readiness.ts';
import type { InstanceInfo, StationInspector } from './station-inspector.ts';

export interface OpsRuntimeOptions {
  readonly config: OpsConfig;
  readonly instanceName: string;
  readonly roles: readonly string[];
  readonly version: string;
  readonly host: string;
  readonly pid: number;
  readonly metrics: PromMetrics;
  readonly logger: Logger;
  /** The station's Redis (shared connection) — undefined on the embedded engine. */
  readonly redis: Redis | Cluster | undefined;
  readonly keys: RedisKeys;
  readonly inspector: StationInspector | undefined;
  /** The process's gateway once started. */
  readonly gateway: () => Gateway | undefined;
  /** An operator asked for a drain (admin API): start the process's shutdown. */
  readonly onDrainRequested: () => void;
  /** Readiness re-check and announcement period (ms, default 1000 and 5000). */
  readonly readinessIntervalMs?: number;
  readonly announceIntervalMs?: number;
}

export class OpsRuntime {
  readonly readiness: Readiness;
  readonly #o: OpsRuntimeOptions;
  readonly #log: Logger;
  readonly #server: OpsServer | undefined;
  readonly #startedAt = Date.now();
  #announce: NodeJS.Timeout | undefined;
  #url: string | undefined;
  #announced: { at: number; connections: number | undefined } = { at: 0, connections: undefined };
  #closing: Promise<void> | undefined;

  constructor(options: OpsRuntimeOptions) {
    this.#o = options;
    this.#log = options.logger.child({ module: 'ops' });
    const redis = options.redis;
    this.readiness = new Readiness({
      metrics: options.metrics,
      ...(redis === undefined ? {} : { ping: () => redis.ping() }),
    });
    if (options.inspector) {
      const inspector = options.inspector;
      options.metrics.setStreamSource(async () => inspector.streams());
    }
    if (options.config.port !== undefined) {
      this.#server = new OpsServer({
        host: options.config.host,
        port: options.config.port,
        token: options.config.token,
        metrics: options.metrics,
        readiness: () => this.readiness.check(),
        inspector: options.inspector,
        logger: options.logger,
        actions: {
          get gatewayId() {
            return options.gateway()?.id;
          },
          kick: async (user, terminal) => {
            const gateway = options.gateway();
            if (gateway === undefined) throw new Error('this process runs no gateway');
            return gateway.kick(user, terminal);
          },
          connectionInfo: (connId) => options.gateway()?.connectionInfo(connId),
          drain: () => {
            options.onDrainRequested();
            return { windowMs: options.config.drainWindowMs };
          },
        },
      });
    }
  }

  /** The ops server's base URL (once listening). */
  get url(): string | undefined {
    return this.#url;
  }

  /** Start the ops server (before the roles: health answers while starting). */
  async listen(): Promise<string | undefined> {
    if (this.#server === undefined) return undefined;
    const { address, port } = await this.#server.listen();
    const host = address.includes(':') ? `[${address}]` : address;
    this.#url = this.#o.config.publicUrl ?? `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    return this.#url;
  }

  /** The roles run: ready from now on (while Redis answers), announced, and watched. */
  started(): void {
    this.readiness.started();
    this.readiness.watch(this.#o.readinessIntervalMs ?? 1000, (report) => this.#onReadiness(report));
    if (this.#o.redis !== undefined) {
      void this.#announceNow();
      // re-announced every announce period, and sooner (within a readiness period) when the gateway's
      // connection count moved, so that dimctl and the dashboard do not show a count seconds old
      const period = this.#o.announceIntervalMs ?? 5000;
      const tick = Math.min(period, this.#o.readinessIntervalMs ?? 1000);
      this.#announce = setInterval(() => {
        const moved = this.#o.gateway()?.connectionCount !== this.#announced.connections;
        if (moved || Date.now() - this.#announced.at >= period - tick / 2) void this.#announceNow();
      }, tick);
      this.#announce.unref();
    }
  }

  /** Not ready from now on (the drain begins); announced at once so that dimctl shows it. */
  draining(): void {
    this.readiness.drain();
    void this.#announceNow();
  }

  #onReadiness(report: ReadinessReport): void {
    const gateway = this.#o.gateway();
    if (report.draining) return;
    if (report.ready) {
      this.#log.info({ code: 'READY' }, 'ready');
      gateway?.resumeAccepting().catch((err: unknown) => {
        this.#log.error({ code: 'LISTEN_FAILED', err: String(err) }, 'could not accept connections again');
      });
    } else {
      const failing = Object.entries(report.checks)
        .filter(([, c]) => !c.ok)
        .map(([name, c]) => `${name}: ${c.detail ?? 'failing'}`);
      this.#log.warn({ code: 'NOT_READY', failing }, 'not ready');
      gateway?.pauseAccepting();
    }
    void this.#announceNow();
  }

  #info(): InstanceInfo {
    const gateway = this.#o.gateway();
    return {
      name: this.#o.instanceName,
      roles: this.#o.roles,
      pid: this.#o.pid,
      host: this.#o.host,
      version: this.#o.version,
      ops: this.#url,
      startedAt: this.#startedAt,
      updatedAt: Date.now(),
      ready: this.readiness.ready,
      draining: this.readiness.draining,
      ...(gateway === undefined ? {} : { connections: gateway.connectionCount }),
    };
  }

  async #announceNow(): Promise<void> {
    const redis = this.#o.redis;
    if (redis === undefined || this.#closing !== undefined) return;
    const keys = this.#o.keys;
    const ttl = 3 * (this.#o.announceIntervalMs ?? 5000);
    const info = this.#info();
    this.#announced = { at: info.updatedAt, connections: info.connections };
    try {
      await redis.set(keys.opsInstance(this.#o.instanceName), JSON.stringify(info), 'PX', ttl);
      await redis.sadd(keys.opsInstances(), this.#o.instanceName);
    } catch {
      // Redis unreachable: readiness reports it; the announcement expires by itself
    }
  }

  /** Stop announcing (and remove the announcement), stop the server. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#announce);
      this.readiness.close();
      const redis = this.#o.redis;
      if (redis !== undefined && redis.status === 'ready') {
        await redis.del(this.#o.keys.opsInstance(this.#o.instanceName)).catch(() => undefined);
      }
      await this.#server?.close();
    })();
    return this.#closing;
  }
}

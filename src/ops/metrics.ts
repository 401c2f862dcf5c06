/**
 * The station's metrics: a small interface with one-line call sites (connections, messages, bus latency,
 * deliveries, push) and its Prometheus implementation on prom-client. Code that records metrics takes a
 * `StationMetrics` and calls it; `NOOP_METRICS` keeps tests and tools free of a registry.
 *
 * Stream gauges (length, lag, pending per group, dead letters) are not recorded by call sites: they are
 * read from the bus when Prometheus scrapes (`setStreamSource`), so every process can export them.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StreamStatus } from './station-inspector.ts';

export type BusStreamKind = 'inbound' | 'store' | 'deliver' | 'dead' | 'other';
export type BusOutcome = 'ok' | 'failed';

export interface StationMetrics {
  /** A client connection finished its framing detection (MTP or WebSocket). */
  connectionOpened(transport: string): void;
  connectionClosed(transport: string, code: string): void;
  /** A session was bound to a user (handshake done) or released. */
  sessionBound(): void;
  /** A message a client sent was accepted (durable on the bus) or refused (`code`). */
  messageIn(result: 'accepted' | 'failed'): void;
  messageRefused(code: string): void;
  /** A push to a client ended (`acked`, `written`, `expired`, `closed`, `no-session`) after `seconds`. */
  messageOut(result: string, seconds: number): void;
  /** Messages pushed from a stored backlog page. */
  backlogDrained(count: number): void;
  /** The dispatcher routed a message (`deliver`, `station`, `blocked`, `group`, `not-found`…). */
  routed(outcome: string): void;
  busPublished(kind: BusStreamKind, seconds: number, outcome: BusOutcome): void;
  busConsumed(kind: BusStreamKind, seconds: number, outcome: BusOutcome): void;
  /** One Redis round trip (the readiness PING) took `seconds`, or failed. */
  redisCommand(command: string, seconds: number, outcome: BusOutcome): void;
  /** A push notification was sent or failed at a provider (apns, fcm, webhook). */
  pushNotification(provider: string, result: 'sent' | 'failed'): void;
}

export const NOOP_METRICS: StationMetrics = {
  connectionOpened: () => undefined,
  connectionClosed: () => undefined,
  sessionBound: () => undefined,
  messageIn: () => undefined,
  messageRefused: () => undefined,
  messageOut: () => undefined,
  backlogDrained: () => undefined,
  routed: () => undefined,
  busPublished: () => undefined,
  busConsumed: () => undefined,
  redisCommand: () => undefined,
  pushNotification: () => undefined,
};

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const DELIVERY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 360];

export interface PromMetricsOptions {
  /** Labels on every series (e.g. `{ instance_name: 'gateway-1', role: 'gateway' }`). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Process and event-loop metrics (default true). */
  readonly defaults?: boolean;
}

/** StationMetrics on a prom-client registry of its own (`registry.metrics()` is the /metrics body). */
export class PromMetrics implements StationMetrics {
  readonly registry = new Registry();
  readonly #connections: Gauge<'transport'>;
  readonly #opened: Counter<'transport'>;
  readonly #closed: Counter<'transport' | 'code'>;
  readonly #sessions: Counter;
  readonly #messagesIn: Counter<'result'>;
  readonly #refused: Counter<'code'>;
  readonly #messagesOut: Counter<'result'>;
  readonly #deliverySeconds: Histogram<'result'>;
  readonly #backlog: Counter;
  readonly #routed: Counter<'outcome'>;
  readonly #publish: Histogram<'stream' | 'outcome'>;
  readonly #consume: Histogram<'stream' | 'outcome'>;
  readonly #redis: Histogram<'command' | 'outcome'>;
  readonly #push: Counter<'provider' | 'result'>;
  #streams: (() => Promise<readonly StreamStatus[]>) | undefined;

  constructor(options: PromMetricsOptions = {}) {
    const registers = [this.registry];
    if (options.labels) this.registry.setDefaultLabels({ ...options.labels });
    if (options.defaults ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'dim_' });
    this.#connections = new Gauge({
      name: 'dim_connections',
      help: 'Open client connections by transport',
      labelNames: ['transport'],
      registers,
    });
    this.#opened = new Counter({
      name: 'dim_connections_opened_total',
      help: 'Client connections opened (framing recognised) by transport',
      labelNames: ['transport'],
      registers,
    });
    this.#closed = new Counter({
      name: 'dim_connections_closed_total',
      help: 'Client connections closed, by transport and close code',
      labelNames: ['transport', 'code'],
      registers,
    });
    this.#sessions = new Counter({
      name: 'dim_sessions_bound_total',
      help: 'Sessions bound to a user (handshakes completed)',
      registers,
    });
    this.#messagesIn = new Counter({
      name: 'dim_messages_in_total',
      help: 'Messages received from clients, by result (accepted = durable on the bus)',
      labelNames: ['result'],
      registers,
    });
    this.#refused = new Counter({
      name: 'dim_messages_refused_total',
      help: 'Messages or connections refused, by error code',
      labelNames: ['code'],
      registers,
    });
    this.#messagesOut = new Counter({
      name: 'dim_messages_out_total',
      help: 'Messages pushed to clients, by result (acked, written, expired, closed, no-session)',
      labelNames: ['result'],
      registers,
    });
    this.#deliverySeconds = new Histogram({
      name: 'dim_delivery_seconds',
      help: 'Time from pushing a message to a client until it ended (confirmation for acked)',
      labelNames: ['result'],
      buckets: DELIVERY_BUCKETS,
      registers,
    });
    this.#backlog = new Counter({
      name: 'dim_backlog_drained_total',
      help: 'Stored messages pushed from backlog pages',
      registers,
    });
    this.#routed = new Counter({
      name: 'dim_dispatch_routed_total',
      help: 'Messages routed by the dispatcher, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.#publish = new Histogram({
      name: 'dim_bus_publish_seconds',
      help: 'Bus publish latency (XADD round trip) by stream kind and outcome',
      labelNames: ['stream', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#consume = new Histogram({
      name: 'dim_bus_consume_seconds',
      help: 'Bus handler latency (one stream entry) by stream kind and outcome',
      labelNames: ['stream', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#redis = new Histogram({
      name: 'dim_redis_command_seconds',
      help: 'Redis command latency (the readiness probe PING and inspection commands)',
      labelNames: ['command', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#push = new Counter({
      name: 'dim_push_notifications_total',
      help: 'Push notifications by provider and result',
      labelNames: ['provider', 'result'],
      registers,
    });
    const streams = (): Promise<readonly StreamStatus[]> => this.#streams?.() ?? Promise.resolve([]);
    new Gauge({
      name: 'dim_stream_length',
      help: 'Entries in a bus stream',
      labelNames: ['stream'],
      registers,
      async collect() {
        this.reset();
        for (const s of await streams()) this.set({ stream: s.name }, s.length);
      },
    });
    new Gauge({
      name: 'dim_stream_pending',
      help: 'Entries delivered to a consumer group and not acknowledged',
      labelNames: ['stream', 'group'],
      registers,
      async collect() {
        this.reset();
        for (const s of await streams())
          for (const g of s.groups) this.set({ stream: s.name, group: g.name }, g.pending);
      },
    });
    new Gauge({
      name: 'dim_stream_lag',
      help: 'Entries of a stream not yet delivered to a consumer group',
      labelNames: ['stream', 'group'],
      registers,
      async collect() {
        this.reset();
        for (const s of await streams())
          for (const g of s.groups)
            if (g.lag !== undefined) this.set({ stream: s.name, group: g.name }, g.lag);
      },
    });
    new Gauge({
      name: 'dim_dead_letters',
      help: 'Entries in the dead-letter stream of a stream',
      labelNames: ['stream'],
      registers,
      async collect() {
        this.reset();
        for (const s of await streams()) this.set({ stream: s.name }, s.deadLetters);
      },
    });
  }

  /** Where the stream gauges come from at scrape time (a failing source leaves them empty). */
  setStreamSource(source: () => Promise<readonly StreamStatus[]>): void {
    this.#streams = async () => {
      try {
        return await source();
      } catch {
        return [];
      }
    };
  }

  connectionOpened(transport: string): void {
    this.#connections.inc({ transport });
    this.#opened.inc({ transport });
  }

  connectionClosed(transport: string, code: string): void {
    this.#connections.dec({ transport });
    this.#closed.inc({ transport, code });
  }

  sessionBound(): void {
    this.#sessions.inc();
  }

  messageIn(result: 'accepted' | 'failed'): void {
    this.#messagesIn.inc({ result });
  }

  messageRefused(code: string): void {
    this.#refused.inc({ code });
  }

  messageOut(result: string, seconds: number): void {
    this.#messagesOut.inc({ result });
    this.#deliverySeconds.observe({ result }, seconds);
  }

  backlogDrained(count: number): void {
    this.#backlog.inc(count);
  }

  routed(outcome: string): void {
    this.#routed.inc({ outcome });
  }

  busPublished(kind: BusStreamKind, seconds: number, outcome: BusOutcome): void {
    this.#publish.observe({ stream: kind, outcome }, seconds);
  }

  busConsumed(kind: BusStreamKind, seconds: number, outcome: BusOutcome): void {
    this.#consume.observe({ stream: kind, outcome }, seconds);
  }

  redisCommand(command: string, seconds: number, outcome: BusOutcome): void {
    this.#redis.observe({ command, outcome }, seconds);
  }

  pushNotification(provider: string, result: 'sent' | 'failed'): void {
    this.#push.inc({ provider, result });
  }
}

/**
 * One generator process's part of the logins scenario: `concurrency` loops of connect → handshake → login
 * → close on new connections, from one start time until the deadline, over its users. In process with
 * one generator process, in a worker with --procs N; logins.ts coordinates and merges.
 */
import { DimClient } from '../../../src/client/dim-client.ts';
import type { ClientTransport } from '../../../src/client/client-transport.ts';
import type { KeyDirectory } from '../../../src/client/key-directory.ts';
import type { UserIdentity } from '../../../src/client/user-identity.ts';
import { closeReason, errorCode, openTransport } from '../connect.ts';
import type { Context } from '../context.ts';
import { directoryOf, nextConnectionIndex } from '../context.ts';
import { Histogram } from '../histogram.ts';
import type { HistogramData } from '../histogram.ts';
import { GeneratorMeter } from '../process-stats.ts';
import type { ProcessGeneratorStats } from '../process-stats.ts';
import { sleep } from '../schedule.ts';

export interface LoginsShardParams {
  /** Loops in this process. */
  readonly concurrency: number;
}

export interface LoginsStatus {
  readonly completed: number;
  readonly failed: number;
  readonly totalP99Ms: number;
  readonly cpuPercent: number;
}

/** This process's counts, as plain data. */
export interface LoginsData {
  readonly seconds: number;
  readonly completed: number;
  readonly handshakes: number;
  readonly logins: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly loginReceipts: Readonly<Record<string, number>>;
  readonly latency: {
    readonly connect: HistogramData;
    readonly handshake: HistogramData;
    readonly login: HistogramData;
    readonly total: HistogramData;
    readonly close: HistogramData;
  };
  readonly generator: ProcessGeneratorStats;
}

export interface LoginsShardApi {
  readonly startLeadMs: number;
  /** Run from `startEpochMs` (wall clock) for `durationS` seconds. */
  run(startEpochMs: number, durationS: number): Promise<LoginsData>;
  status(): Promise<LoginsStatus>;
  close(): Promise<void>;
}

export const LOGINS_SHARD_METHODS = ['run', 'status', 'close'] as const;

export class LoginsShard implements LoginsShardApi {
  readonly startLeadMs = 0;
  readonly #ctx: Context;
  readonly #identities: readonly UserIdentity[];
  readonly #directory: KeyDirectory;
  readonly #concurrency: number;
  readonly #h = {
    connect: new Histogram(),
    handshake: new Histogram(),
    login: new Histogram(),
    total: new Histogram(),
    close: new Histogram(),
  };
  readonly #failures: Record<string, number> = {};
  readonly #receipts: Record<string, number> = {};
  #handshakes = 0;
  #logins = 0;
  #completed = 0;
  #next = 0;
  #meter: GeneratorMeter | undefined;

  constructor(ctx: Context, identities: ReadonlyMap<number, UserIdentity>, params: LoginsShardParams) {
    this.#ctx = ctx;
    this.#identities = [...identities.values()];
    if (this.#identities.length === 0) throw new Error('a logins process without users');
    this.#directory = directoryOf(this.#identities);
    this.#concurrency = params.concurrency;
  }

  #fail(step: string, err: unknown, transport?: ClientTransport): void {
    // failing steps never follow our own close: a closed transport was closed by the station, say why
    const closedBy = transport !== undefined && transport.closed ? `(${closeReason(transport)})` : '';
    const key = `${step}:${errorCode(err)}${closedBy}`;
    this.#failures[key] = (this.#failures[key] ?? 0) + 1;
  }

  async #session(): Promise<void> {
    const identity = this.#identities[this.#next++ % this.#identities.length]!;
    const t0 = performance.now();
    let transport: ClientTransport;
    try {
      transport = await openTransport(this.#ctx.connect, nextConnectionIndex());
    } catch (err) {
      this.#fail('connect', err);
      return;
    }
    const t1 = performance.now();
    this.#h.connect.recordMs(t1 - t0);
    const client = new DimClient({
      transport,
      identity,
      keyDirectory: this.#directory,
      handshakeTimeoutMs: this.#ctx.options.handshakeTimeoutMs,
      receiptTimeoutMs: this.#ctx.options.receiptTimeoutMs,
      historyLimit: 16,
      agent: 'dim-loadgen',
    });
    try {
      try {
        await client.handshake(
          this.#ctx.options.stationId === undefined ? {} : { stationId: this.#ctx.options.stationId },
        );
      } catch (err) {
        this.#fail('handshake', err, transport);
        return;
      }
      const t2 = performance.now();
      this.#h.handshake.recordMs(t2 - t1);
      this.#handshakes += 1;
      if (this.#ctx.options.login) {
        let text: string | undefined;
        try {
          text = await client.login();
        } catch (err) {
          this.#fail('login', err, transport);
          return;
        }
        const t3 = performance.now();
        const key = text ?? '(none)';
        this.#receipts[key] = (this.#receipts[key] ?? 0) + 1;
        if (text === undefined) {
          this.#fail('login', { code: 'NO_RECEIPT' });
          return;
        }
        this.#h.login.recordMs(t3 - t2);
        this.#logins += 1;
      }
      this.#h.total.recordMs(performance.now() - t0);
      this.#completed += 1;
    } finally {
      const c0 = performance.now();
      await client.close().catch(() => {});
      this.#h.close.recordMs(performance.now() - c0);
    }
  }

  async run(startEpochMs: number, durationS: number): Promise<LoginsData> {
    await sleep(startEpochMs - (performance.timeOrigin + performance.now()));
    const meter = new GeneratorMeter();
    this.#meter = meter;
    const started = performance.now();
    const deadline = started + durationS * 1000;
    const loop = async (): Promise<void> => {
      while (performance.now() < deadline) await this.#session();
    };
    await Promise.all(Array.from({ length: this.#concurrency }, loop));
    const h = this.#h;
    return {
      seconds: (performance.now() - started) / 1000,
      completed: this.#completed,
      handshakes: this.#handshakes,
      logins: this.#logins,
      failures: { ...this.#failures },
      loginReceipts: { ...this.#receipts },
      latency: {
        connect: h.connect.toJSON(),
        handshake: h.handshake.toJSON(),
        login: h.login.toJSON(),
        total: h.total.toJSON(),
        close: h.close.toJSON(),
      },
      generator: { pid: process.pid, ...meter.stop() },
    };
  }

  async status(): Promise<LoginsStatus> {
    return {
      completed: this.#completed,
      failed: Object.values(this.#failures).reduce((a, b) => a + b, 0),
      totalP99Ms: this.#h.total.quantileMs(0.99),
      cpuPercent: this.#meter?.cpuPercentNow() ?? 0,
    };
  }

  async close(): Promise<void> {}
}

/**
 * logins: `--concurrency C` loops, each repeating connect → handshake → login (unless --no-login) → close on
 * a new connection, for `--duration D` seconds (closed loop: C sessions being set up at any time). Reports
 * handshakes and logins per second and the latency of each step.
 */
import { DimClient } from '../../../src/client/dim-client.ts';
import type { ClientTransport } from '../../../src/client/client-transport.ts';
import { closeReason, errorCode, openTransport } from '../connect.ts';
import type { Context } from '../context.ts';
import { directoryOf, loadIdentities, nextConnectionIndex } from '../context.ts';
import { Histogram } from '../histogram.ts';
import type { LatencySummary } from '../histogram.ts';
import { countsText, fmtBytes, fmtMs, fmtNum, latencyLine, round, startProgress } from '../output.ts';
import { GeneratorMeter } from '../process-stats.ts';
import type { GeneratorStats } from '../process-stats.ts';
import type { ScenarioOutcome } from './scenario.ts';

export interface LoginsResult {
  readonly concurrency: number;
  readonly login: boolean;
  readonly seconds: number;
  /** Sessions that completed every step (handshake, and login when asked). */
  readonly completed: number;
  readonly handshakes: number;
  readonly logins: number;
  /** Failures by `step:code`. */
  readonly failures: Readonly<Record<string, number>>;
  readonly rates: { readonly handshakesPerSecond: number; readonly loginsPerSecond: number };
  readonly loginReceipts: Readonly<Record<string, number>>;
  readonly latencyMs: {
    readonly connect: LatencySummary;
    readonly handshake: LatencySummary;
    readonly login: LatencySummary;
    /** Connect start → last step done. */
    readonly total: LatencySummary;
    readonly close: LatencySummary;
  };
  readonly generator: GeneratorStats;
}

export async function runLogins(ctx: Context): Promise<ScenarioOutcome> {
  const o = ctx.options;
  const { pool, report: poolReport } = loadIdentities(ctx, o.concurrency, false);
  const directory = directoryOf(pool.identities);
  const h = {
    connect: new Histogram(),
    handshake: new Histogram(),
    login: new Histogram(),
    total: new Histogram(),
    close: new Histogram(),
  };
  const failures: Record<string, number> = {};
  const receipts: Record<string, number> = {};
  let handshakes = 0;
  let logins = 0;
  let completed = 0;
  let next = 0;
  const fail = (step: string, err: unknown, transport?: ClientTransport): void => {
    // failing steps never follow our own close: a closed transport was closed by the station, say why
    const closedBy = transport !== undefined && transport.closed ? `(${closeReason(transport)})` : '';
    const key = `${step}:${errorCode(err)}${closedBy}`;
    failures[key] = (failures[key] ?? 0) + 1;
  };
  const meter = new GeneratorMeter();
  const started = performance.now();
  const deadline = started + o.durationS * 1000;
  let lastDone = 0;
  let lastTick = started;
  const stopProgress = startProgress(ctx.log, () => {
    const now = performance.now();
    const rate = ((completed - lastDone) * 1000) / (now - lastTick);
    lastDone = completed;
    lastTick = now;
    const failed = Object.values(failures).reduce((a, b) => a + b, 0);
    return `[logins ${((now - started) / 1000).toFixed(1)}s] completed ${completed} (${fmtNum(rate)}/s) failed ${failed} p99 ${fmtMs(h.total.quantileMs(0.99))} ms cpu ${fmtNum(meter.cpuPercentNow())}%`;
  });

  const session = async (): Promise<void> => {
    const identity = pool.identities[next++ % pool.identities.length]!;
    const t0 = performance.now();
    let transport: ClientTransport;
    try {
      transport = await openTransport(ctx.connect, nextConnectionIndex());
    } catch (err) {
      fail('connect', err);
      return;
    }
    const t1 = performance.now();
    h.connect.recordMs(t1 - t0);
    const client = new DimClient({
      transport,
      identity,
      keyDirectory: directory,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      receiptTimeoutMs: o.receiptTimeoutMs,
      historyLimit: 16,
      agent: 'dim-loadgen',
    });
    try {
      try {
        await client.handshake(o.stationId === undefined ? {} : { stationId: o.stationId });
      } catch (err) {
        fail('handshake', err, transport);
        return;
      }
      const t2 = performance.now();
      h.handshake.recordMs(t2 - t1);
      handshakes += 1;
      if (o.login) {
        let text: string | undefined;
        try {
          text = await client.login();
        } catch (err) {
          fail('login', err, transport);
          return;
        }
        const t3 = performance.now();
        const key = text ?? '(none)';
        receipts[key] = (receipts[key] ?? 0) + 1;
        if (text === undefined) {
          fail('login', { code: 'NO_RECEIPT' });
          return;
        }
        h.login.recordMs(t3 - t2);
        logins += 1;
      }
      h.total.recordMs(performance.now() - t0);
      completed += 1;
    } finally {
      const c0 = performance.now();
      await client.close().catch(() => {});
      h.close.recordMs(performance.now() - c0);
    }
  };
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) await session();
  };
  await Promise.all(Array.from({ length: o.concurrency }, loop));
  stopProgress();
  const seconds = (performance.now() - started) / 1000;
  const result: LoginsResult = {
    concurrency: o.concurrency,
    login: o.login,
    seconds: round(seconds, 3),
    completed,
    handshakes,
    logins,
    failures,
    rates: {
      handshakesPerSecond: round(handshakes / seconds),
      loginsPerSecond: round(logins / seconds),
    },
    loginReceipts: receipts,
    latencyMs: {
      connect: h.connect.summary(),
      handshake: h.handshake.summary(),
      login: h.login.summary(),
      total: h.total.summary(),
      close: h.close.summary(),
    },
    generator: meter.stop(),
  };
  if (result.generator.cpuPercent > 85) {
    ctx.warnings.push(
      `the generator was busy (CPU ${fmtNum(result.generator.cpuPercent)}% of a core): handshake rates are a lower bound`,
    );
  }
  const summary = [
    `logins: ${o.concurrency} concurrent sessions for ${result.seconds} s, new connection each, ${o.login ? 'handshake + login' : 'handshake only'}`,
    `  completed ${completed}, handshakes ${handshakes} (${fmtNum(result.rates.handshakesPerSecond)}/s), logins ${logins} (${fmtNum(result.rates.loginsPerSecond)}/s)`,
    `  failures: ${countsText(failures)}`,
    `  login receipts: ${countsText(receipts)}`,
    `  ${latencyLine('connect', result.latencyMs.connect)}`,
    `  ${latencyLine('handshake', result.latencyMs.handshake)}`,
    `  ${latencyLine('login', result.latencyMs.login)}`,
    `  ${latencyLine('total', result.latencyMs.total)}`,
    `  ${latencyLine('close', result.latencyMs.close)}`,
    `  generator: CPU ${fmtNum(result.generator.cpuPercent)}% of a core, event-loop delay p99 ${result.generator.eventLoopDelayP99Ms} ms, RSS ${fmtBytes(result.generator.rssBytes)}`,
  ];
  return { pool: poolReport, result, summary };
}

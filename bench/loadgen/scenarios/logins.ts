/**
 * logins: `--concurrency C` loops, each repeating connect → handshake → login (unless --no-login) → close on
 * a new connection, for `--duration D` seconds (closed loop: C sessions being set up at any time). Reports
 * handshakes and logins per second and the latency of each step. With --procs N the loops and users are
 * split over N generator processes (LoginsShard each) that start together; their counts are merged.
 */
import type { Context } from '../context.ts';
import { loadIdentities } from '../context.ts';
import { Histogram } from '../histogram.ts';
import type { HistogramData, LatencySummary } from '../histogram.ts';
import { countsText, fmtMs, fmtNum, latencyLine, round, startPolledProgress } from '../output.ts';
import { generatorText, mergeGeneratorStats } from '../process-stats.ts';
import type { MergedGeneratorStats } from '../process-stats.ts';
import { indicesOf, splitCount } from '../process-split.ts';
import { openShards } from '../shards.ts';
import { epochNow } from '../traffic-phase.ts';
import { LOGINS_SHARD_METHODS } from './logins-shard.ts';
import type { LoginsData, LoginsShardApi } from './logins-shard.ts';
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
  readonly generator: MergedGeneratorStats;
}

function addCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [key, n] of Object.entries(from)) into[key] = (into[key] ?? 0) + n;
}

/** The processes' counts as one result (the processes ran side by side: seconds is the longest). */
export function mergeLogins(concurrency: number, login: boolean, parts: readonly LoginsData[]): LoginsResult {
  const sum = (pick: (d: LoginsData) => number): number => parts.reduce((a, d) => a + pick(d), 0);
  const failures: Record<string, number> = {};
  const receipts: Record<string, number> = {};
  for (const part of parts) {
    addCounts(failures, part.failures);
    addCounts(receipts, part.loginReceipts);
  }
  const latency = (pick: (d: LoginsData) => HistogramData): LatencySummary =>
    Histogram.merge(parts.map((d) => Histogram.fromJSON(pick(d)))).summary();
  const seconds = Math.max(1e-3, ...parts.map((d) => d.seconds));
  const handshakes = sum((d) => d.handshakes);
  const logins = sum((d) => d.logins);
  return {
    concurrency,
    login,
    seconds: round(seconds, 3),
    completed: sum((d) => d.completed),
    handshakes,
    logins,
    failures,
    rates: {
      handshakesPerSecond: round(handshakes / seconds),
      loginsPerSecond: round(logins / seconds),
    },
    loginReceipts: receipts,
    latencyMs: {
      connect: latency((d) => d.latency.connect),
      handshake: latency((d) => d.latency.handshake),
      login: latency((d) => d.latency.login),
      total: latency((d) => d.latency.total),
      close: latency((d) => d.latency.close),
    },
    generator: mergeGeneratorStats(parts.map((d) => d.generator)),
  };
}

export async function runLogins(ctx: Context): Promise<ScenarioOutcome> {
  const o = ctx.options;
  if (o.concurrency < o.procs) {
    throw new Error(`--procs ${o.procs} needs --concurrency of at least ${o.procs} (one loop per process)`);
  }
  const { pool, report: poolReport } = loadIdentities(ctx, o.concurrency, false);
  if (pool.identities.length < o.procs) {
    throw new Error(`--procs ${o.procs} needs a --pool of at least ${o.procs} users (one per process)`);
  }
  const loops = splitCount(o.concurrency, o.procs);
  const parts = loops.map((concurrency, w) => ({
    users: indicesOf(pool.identities.length, w, o.procs),
    params: { concurrency },
  }));
  const shardSet = await openShards<'logins', LoginsShardApi>(
    ctx,
    'logins',
    pool.identities,
    parts,
    LOGINS_SHARD_METHODS,
  );
  const shards = shardSet.shards;
  let data: LoginsData[];
  try {
    const startEpochMs = epochNow() + Math.max(...shards.map((s) => s.startLeadMs));
    const stopProgress = startLoginsProgress(ctx, shards, startEpochMs);
    try {
      data = await Promise.all(shards.map((s) => s.run(startEpochMs, o.durationS)));
    } finally {
      stopProgress();
    }
  } finally {
    await shardSet.close();
  }
  const result = mergeLogins(o.concurrency, o.login, data);
  const busiest = Math.max(...(result.generator.processes ?? [result.generator]).map((p) => p.cpuPercent));
  if (busiest > 85) {
    ctx.warnings.push(
      `the generator was busy (CPU ${fmtNum(busiest)}% of a core${result.generator.processes === undefined ? '' : ' in the busiest process'}): handshake rates are a lower bound (--procs ${o.procs + 1}?)`,
    );
  }
  const completed = result.completed;
  const { handshakes, logins, failures, loginReceipts: receipts } = result;
  const summary = [
    `logins: ${o.concurrency} concurrent sessions${o.procs > 1 ? ` in ${o.procs} processes` : ''} for ${result.seconds} s, new connection each, ${o.login ? 'handshake + login' : 'handshake only'}`,
    `  completed ${completed}, handshakes ${handshakes} (${fmtNum(result.rates.handshakesPerSecond)}/s), logins ${logins} (${fmtNum(result.rates.loginsPerSecond)}/s)`,
    `  failures: ${countsText(failures)}`,
    `  login receipts: ${countsText(receipts)}`,
    `  ${latencyLine('connect', result.latencyMs.connect)}`,
    `  ${latencyLine('handshake', result.latencyMs.handshake)}`,
    `  ${latencyLine('login', result.latencyMs.login)}`,
    `  ${latencyLine('total', result.latencyMs.total)}`,
    `  ${latencyLine('close', result.latencyMs.close)}`,
    `  generator: ${generatorText(result.generator)}`,
  ];
  return { pool: poolReport, result, summary };
}

/** A progress line once a second, over the processes. */
function startLoginsProgress(
  ctx: Context,
  shards: readonly LoginsShardApi[],
  startEpochMs: number,
): () => void {
  let lastDone = 0;
  let lastTick = epochNow();
  return startPolledProgress(ctx.log, async () => {
    const statuses = await Promise.all(shards.map((s) => s.status()));
    const now = epochNow();
    const completed = statuses.reduce((a, s) => a + s.completed, 0);
    const failed = statuses.reduce((a, s) => a + s.failed, 0);
    const cpu = statuses.reduce((a, s) => a + s.cpuPercent, 0);
    const p99 = Math.max(0, ...statuses.map((s) => s.totalP99Ms));
    const rate = ((completed - lastDone) * 1000) / (now - lastTick);
    lastDone = completed;
    lastTick = now;
    return `[logins ${((now - startEpochMs) / 1000).toFixed(1)}s] completed ${completed} (${fmtNum(rate)}/s) failed ${failed} p99 ${fmtMs(p99)} ms cpu ${fmtNum(cpu)}%`;
  });
}

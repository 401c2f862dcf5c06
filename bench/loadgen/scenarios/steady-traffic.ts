/**
 * Constant-rate traffic between connected users, at one rate or stepping the rate up (`--find-max`):
 * the body of the relay and fanin scenarios. The users are split over `--procs` generator processes
 * (process-split.ts; each process's part is a SteadyShard): every step sets up, starts and ends in all
 * of them together, and their counts merge into one result.
 */
import type { Context, PoolReport, SetupReport } from '../context.ts';
import { loadIdentities, noteSetup, setupReportOf } from '../context.ts';
import { countsText, fmtMs, fmtNum, latencyLine } from '../output.ts';
import { generatorText } from '../process-stats.ts';
import { planTraffic } from '../process-split.ts';
import { openShards } from '../shards.ts';
import { runTrafficPhase } from '../traffic-phase.ts';
import type { PhaseResult } from '../traffic-phase.ts';
import { STEADY_SHARD_METHODS, steadyShardUsers } from './steady-shard.ts';
import type { SteadyShardApi, SteadyShardParams } from './steady-shard.ts';

export interface SteadyTopology {
  readonly senders: number;
  readonly receivers: number;
  /** Receiver index of sender i. */
  readonly receiverOf: (senderIndex: number) => number;
}

export type StepVerdict = 'pass' | 'loss' | 'p99' | 'errors' | 'generator-behind';

export interface SteadyPhase extends PhaseResult {
  /** find-max only: how the step was judged. */
  readonly verdict?: StepVerdict;
}

export interface SteadyResult {
  readonly senders: number;
  readonly receivers: number;
  readonly perSenderRate: number;
  readonly size: number;
  readonly prepack: boolean;
  readonly verify: boolean;
  readonly setup: readonly SetupReport[];
  readonly phases: readonly SteadyPhase[];
  readonly findMax?: {
    readonly p99BoundMs: number;
    readonly lagBoundMs: number;
    /** The highest step rate that passed (0 if none did), and what it delivered. */
    readonly maxRate: number;
    readonly maxDeliveredRate: number;
    readonly stopReason: StepVerdict | 'max-steps';
  };
}

function judge(phase: PhaseResult, p99BoundMs: number, lagBoundMs: number): StepVerdict {
  const errors = Object.values(phase.counts.sendErrors).reduce((a, b) => a + b, 0);
  if (phase.latencyMs.sendLag.p99 > lagBoundMs) return 'generator-behind';
  if (phase.counts.lost > 0) return 'loss';
  if (errors > 0) return 'errors';
  if (phase.latencyMs.delivery.p99 > p99BoundMs) return 'p99';
  return 'pass';
}

export async function runSteadyTraffic(
  ctx: Context,
  topology: SteadyTopology,
): Promise<{ pool: PoolReport; result: SteadyResult }> {
  const o = ctx.options;
  const needed = topology.senders + topology.receivers;
  const { pool, report: poolReport } = loadIdentities(ctx, needed, true);
  const plans = planTraffic(topology, o.procs);
  if (o.procs > 1 && topology.senders % o.procs !== 0) {
    ctx.log.note(
      `[procs] ${topology.senders} senders over ${o.procs} processes: each process sends rate / ${o.procs}, so senders of the smaller processes send a little faster`,
    );
  }
  const parts = plans.map((plan) => {
    const params: SteadyShardParams = { plan, receivers: topology.receivers };
    return { users: steadyShardUsers(params, o.verify), params };
  });
  const shardSet = await openShards<'steady', SteadyShardApi>(
    ctx,
    'steady',
    pool.identities,
    parts,
    STEADY_SHARD_METHODS,
  );
  const shards = shardSet.shards;
  const merged = (data: Parameters<typeof setupReportOf>[0]): SetupReport => {
    const report = setupReportOf(data);
    if (shards.length > 1) noteSetup(ctx.log, report); // one process notes its own
    return report;
  };
  try {
    // every process's receivers are online before any sender connects
    const r = merged(await Promise.all(shards.map((s) => s.setupReceivers())));
    const s = merged(await Promise.all(shards.map((s) => s.setupSenders())));
    const phases: SteadyPhase[] = [];
    let findMax: SteadyResult['findMax'];
    const phaseOptions = {
      durationS: o.durationS,
      graceS: o.graceS,
      expectDelivery: true,
      size: o.size,
      prepack: o.prepack,
    };
    if (!o.findMax) {
      phases.push(
        await runTrafficPhase(
          shards,
          { ...phaseOptions, label: ctx.options.scenario, rate: o.rate },
          ctx.log,
        ),
      );
    } else {
      let rate = o.rate;
      let stopReason: StepVerdict | 'max-steps' = 'max-steps';
      let best: PhaseResult | undefined;
      for (let step = 1; step <= o.maxSteps; step++) {
        const label = `step ${step} @${fmtNum(rate)}/s`;
        const phase = await runTrafficPhase(shards, { ...phaseOptions, label, rate }, ctx.log);
        const verdict = judge(phase, o.p99BoundMs, o.lagBoundMs);
        phases.push({ ...phase, verdict });
        ctx.log.note(
          `[${label}] ${verdict}: delivered ${phase.counts.delivered}/${phase.counts.sent}, p99 ${fmtMs(phase.latencyMs.delivery.p99)} ms, send lag p99 ${fmtMs(phase.latencyMs.sendLag.p99)} ms`,
        );
        if (verdict !== 'pass') {
          stopReason = verdict;
          break;
        }
        best = phase;
        rate = o.rateStep !== undefined ? rate + o.rateStep : rate * o.rateFactor;
      }
      findMax = {
        p99BoundMs: o.p99BoundMs,
        lagBoundMs: o.lagBoundMs,
        maxRate: best?.targetRate ?? 0,
        maxDeliveredRate: best?.rates.delivered ?? 0,
        stopReason,
      };
    }
    for (const phase of phases) addPhaseWarnings(ctx, phase);
    return {
      pool: poolReport,
      result: {
        senders: s.connected,
        receivers: r.connected,
        perSenderRate: o.rate / s.connected,
        size: o.size,
        prepack: o.prepack,
        verify: o.verify,
        setup: [r, s],
        phases,
        ...(findMax === undefined ? {} : { findMax }),
      },
    };
  } finally {
    await shardSet.close();
  }
}

function addPhaseWarnings(ctx: Context, phase: PhaseResult): void {
  const lagBound = ctx.options.lagBoundMs;
  // with several processes: the busiest one (each is one event loop)
  const busiest = Math.max(...(phase.generator.processes ?? [phase.generator]).map((p) => p.cpuPercent));
  const busy = busiest > 85;
  if (busy || phase.latencyMs.sendLag.p99 > lagBound) {
    ctx.warnings.push(
      `${phase.label}: the generator fell behind its schedule (send lag p99 ${fmtMs(phase.latencyMs.sendLag.p99)} ms, ` +
        `CPU ${fmtNum(busiest)}% of a core${phase.generator.processes === undefined ? '' : ' in the busiest process'}, event-loop delay p99 ${phase.generator.eventLoopDelayP99Ms} ms): ` +
        `latencies include its own delay; ` +
        (busy
          ? `lower its cost (${[
              ctx.options.prepack ? '' : '--prepack',
              ctx.options.verify ? 'no --verify' : '',
              '--kinds mkm-rsa',
              `--procs ${ctx.options.procs + 1}`,
            ]
              .filter((x) => x !== '')
              .join(', ')})`
          : 'its CPU was not the limit, so the machine is short of CPU (is the station on the same host?)'),
    );
  }
  const rateLimited = Object.entries(phase.counts.receiptTexts)
    .filter(([text]) => /rate limit/i.test(text))
    .reduce((a, [, n]) => a + n, 0);
  if (rateLimited > 0) {
    ctx.warnings.push(
      `${phase.label}: the station refused ${rateLimited} messages for exceeding its per-connection rate limit: use more senders (this station: DIM_RATE_MESSAGES_PER_SECOND)`,
    );
  }
}

export function phaseLines(phase: SteadyPhase): string[] {
  const c = phase.counts;
  const lines = [
    `${phase.label}: ${fmtNum(phase.targetRate)} msg/s for ${phase.durationS} s (waited ${phase.graceSeconds} s after the last send)` +
      (phase.verdict === undefined ? '' : ` → ${phase.verdict}`),
    `  sent ${c.sent}/${c.scheduled}, acked ${c.acked}, delivered ${c.delivered}, lost ${c.lost}, duplicated ${c.duplicated}, stale ${c.stale}, other ${c.otherMessages}, invalid ${c.invalid}`,
    `  receipts ${c.receipts}: ${countsText(c.receiptTexts)}`,
  ];
  if (Object.keys(c.sendErrors).length > 0) lines.push(`  send errors: ${countsText(c.sendErrors)}`);
  if (Object.keys(c.connectionsClosed).length > 0) {
    lines.push(`  connections closed by the station: ${countsText(c.connectionsClosed)}`);
  }
  lines.push(
    `  rates /s: sent ${fmtNum(phase.rates.sent)}, acked ${fmtNum(phase.rates.acked)}, delivered ${fmtNum(phase.rates.delivered)}`,
    `  ${latencyLine('delivery (from scheduled send)', phase.latencyMs.delivery)}`,
    `  ${latencyLine('station OK (from scheduled send)', phase.latencyMs.ack)}`,
    `  ${latencyLine('send lag (generator)', phase.latencyMs.sendLag)}`,
    `  generator: ${generatorText(phase.generator)}` +
      (phase.prepackSeconds > 0 ? `, prepacked in ${phase.prepackSeconds} s` : ''),
  );
  return lines;
}

export function steadySummary(result: SteadyResult): string[] {
  const lines = [
    `${result.senders} senders → ${result.receivers} receivers, ${result.size}-byte texts, ${result.prepack ? 'prepacked' : 'packed live'}, verify ${result.verify ? 'on' : 'off'}`,
  ];
  for (const phase of result.phases) lines.push(...phaseLines(phase));
  if (result.findMax !== undefined) {
    const f = result.findMax;
    lines.push(
      `find-max: highest passing rate ${fmtNum(f.maxRate)} msg/s (delivered ${fmtNum(f.maxDeliveredRate)}/s); stopped: ${f.stopReason} (p99 bound ${f.p99BoundMs} ms)`,
    );
  }
  return lines;
}

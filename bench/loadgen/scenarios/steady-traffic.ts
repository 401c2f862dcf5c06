/**
 * Constant-rate traffic between connected users, at one rate or stepping the rate up (`--find-max`):
 * the body of the relay and fanin scenarios.
 */
import type { DimClient } from '../../../src/client/dim-client.ts';
import { closeAll } from '../connect.ts';
import type { Context, PoolReport, SetupReport } from '../context.ts';
import { directoryOf, loadIdentities, setupUsers } from '../context.ts';
import { countsText, fmtBytes, fmtMs, fmtNum, latencyLine } from '../output.ts';
import { TrafficRunner } from '../traffic.ts';
import type { PhaseResult } from '../traffic.ts';

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
  const receiverIdentities = pool.identities.slice(0, topology.receivers);
  const senderIdentities = pool.identities.slice(topology.receivers, needed);
  const directory = directoryOf([...receiverIdentities, ...senderIdentities]);
  const opened: DimClient[] = [];
  try {
    const r = await setupUsers(ctx, 'receivers', receiverIdentities, directory);
    opened.push(...r.users.map((u) => u.client));
    const s = await setupUsers(ctx, 'senders', senderIdentities, directory);
    opened.push(...s.users.map((u) => u.client));
    const senders = s.users.map((u) => u.client);
    const receivers = r.users.map((u) => u.client);
    if (!o.verify) {
      // Receivers verify what they can: forget the senders and the station, so nothing is verified.
      for (const identity of senderIdentities) directory.delete(identity.id);
      const station = senders[0]?.stationId ?? receivers[0]?.stationId;
      if (station !== undefined) directory.delete(station);
    }
    const runner = new TrafficRunner(
      { senders, receiverIds: receiverIdentities.map((i) => i.id), receiverOf: topology.receiverOf },
      ctx.log,
    );
    for (const receiver of receivers) runner.listenReceiver(receiver);
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
      phases.push(await runner.runPhase({ ...phaseOptions, label: ctx.options.scenario, rate: o.rate }));
    } else {
      let rate = o.rate;
      let stopReason: StepVerdict | 'max-steps' = 'max-steps';
      let best: PhaseResult | undefined;
      for (let step = 1; step <= o.maxSteps; step++) {
        const label = `step ${step} @${fmtNum(rate)}/s`;
        const phase = await runner.runPhase({ ...phaseOptions, label, rate });
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
    runner.detach();
    for (const phase of phases) addPhaseWarnings(ctx, phase);
    return {
      pool: poolReport,
      result: {
        senders: senders.length,
        receivers: receivers.length,
        perSenderRate: o.rate / senders.length,
        size: o.size,
        prepack: o.prepack,
        verify: o.verify,
        setup: [r.report, s.report],
        phases,
        ...(findMax === undefined ? {} : { findMax }),
      },
    };
  } finally {
    await closeAll(opened);
  }
}

function addPhaseWarnings(ctx: Context, phase: PhaseResult): void {
  const lagBound = ctx.options.lagBoundMs;
  const busy = phase.generator.cpuPercent > 85;
  if (busy || phase.latencyMs.sendLag.p99 > lagBound) {
    ctx.warnings.push(
      `${phase.label}: the generator fell behind its schedule (send lag p99 ${fmtMs(phase.latencyMs.sendLag.p99)} ms, ` +
        `CPU ${fmtNum(phase.generator.cpuPercent)}% of a core, event-loop delay p99 ${phase.generator.eventLoopDelayP99Ms} ms): ` +
        `latencies include its own delay; ` +
        (busy
          ? `lower its cost (${[
              ctx.options.prepack ? '' : '--prepack',
              ctx.options.verify ? 'no --verify' : '',
              '--kinds mkm-rsa',
              'several generator processes',
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
    `  generator: CPU ${fmtNum(phase.generator.cpuPercent)}% of a core, event-loop delay p99 ${phase.generator.eventLoopDelayP99Ms} ms, RSS ${fmtBytes(phase.generator.rssBytes)}` +
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

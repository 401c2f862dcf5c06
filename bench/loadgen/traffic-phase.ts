/**
 * One phase of constant-rate traffic, coordinated over the generator processes taking part (one in-process
 * `TrafficRunner`, or with --procs N one per worker process): every participant prepares its share (packing
 * it with --prepack), all start at one absolute time (an epoch in wall-clock ms, so that a receiver in one
 * process measures latency from the scheduled time of a message sent by another), the coordinator waits for
 * the stragglers on the participants' aggregated counts, then merges their counts, histograms and CPU.
 */
import { fmtMs, fmtNum, round, startPolledProgress } from './output.ts';
import type { Log } from './output.ts';
import { newRunId } from './probe.ts';
import { mergeGeneratorStats } from './process-stats.ts';
import type { MergedGeneratorStats, ProcessGeneratorStats } from './process-stats.ts';
import { sleep } from './schedule.ts';
import { mergeTrackerData } from './tracker.ts';
import type { PhaseCounts, PhaseLatencies, TrackerData } from './tracker.ts';

/** How long to wait for receipts after every message was delivered (at most the grace period). */
const RECEIPT_WAIT_MS = 2000;
/** How often the coordinator looks at the participants while waiting for the end of a phase. */
const POLL_MS = 10;

export interface PhaseOptions {
  readonly label: string;
  /** Total messages per second over all senders. */
  readonly rate: number;
  /** Messages to send: rate × duration by default. */
  readonly messages?: number;
  readonly durationS: number;
  /** Wait at most this long after the last send for deliveries and acks (0 = do not wait). */
  readonly graceS: number;
  /** Whether to wait for deliveries at all (backlog: the receiver is offline). */
  readonly expectDelivery: boolean;
  readonly size: number;
  readonly prepack: boolean;
  /**
   * Self-check: stop scheduling after `durationS` whatever the count (with a rate far above what the
   * generator can do, every message is due at once and it sends as fast as it can).
   */
  readonly saturate?: boolean;
}

/** What every participant is told about a phase (plain data: it crosses to worker processes). */
export interface PhaseSpec {
  readonly label: string;
  readonly run: string;
  readonly rate: number;
  /** Messages of the whole phase (over every participant). */
  readonly total: number;
  readonly durationS: number;
  readonly size: number;
  readonly prepack: boolean;
  readonly saturate: boolean;
}

/** A participant's running counts (progress lines, and when to stop waiting). */
export interface PhaseStatus {
  readonly scheduleDone: boolean;
  readonly sent: number;
  readonly acked: number;
  readonly delivered: number;
  readonly pendingAcks: number;
  readonly receipts: number;
  readonly deliveryP99Ms: number;
  readonly cpuPercent: number;
}

/** A participant's part of a finished phase. */
export interface PhaseShard extends TrackerData {
  readonly generator: ProcessGeneratorStats;
  readonly prepackSeconds: number;
}

/** One generator process's side of the traffic (in process, or a worker seen through IPC). */
export interface TrafficParticipant {
  /** How long before the start the start time must be sent so that it arrives in time (ms). */
  readonly startLeadMs: number;
  /** Set up the phase (and pack its share with --prepack); resolves with the packing time. */
  preparePhase(spec: PhaseSpec): Promise<{ prepackSeconds: number }>;
  /** Run its share of the schedule from `startEpochMs` (wall clock); resolves when all of it is fired. */
  runPhaseSchedule(startEpochMs: number): Promise<void>;
  phaseStatus(): Promise<PhaseStatus>;
  /** End the phase (late deliveries still count in it) and hand over its counts. */
  finishPhase(): Promise<PhaseShard>;
}

export interface PhaseResult {
  readonly label: string;
  readonly run: string;
  readonly targetRate: number;
  readonly durationS: number;
  /** Seconds from the start to the last send, and waited after it. */
  readonly sendSeconds: number;
  readonly graceSeconds: number;
  readonly counts: PhaseCounts;
  /** Messages per second: sent (over the send window), acked and delivered (first to last). */
  readonly rates: { readonly sent: number; readonly acked: number; readonly delivered: number };
  readonly latencyMs: PhaseLatencies;
  readonly generator: MergedGeneratorStats;
  /** Seconds spent packing before the phase (--prepack), else 0. */
  readonly prepackSeconds: number;
}

/** Wall-clock milliseconds with sub-ms resolution (the same clock in every process of the machine). */
export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

function sumStatus(statuses: readonly PhaseStatus[]): PhaseStatus {
  const sum = (pick: (s: PhaseStatus) => number): number => statuses.reduce((a, s) => a + pick(s), 0);
  return {
    scheduleDone: statuses.every((s) => s.scheduleDone),
    sent: sum((s) => s.sent),
    acked: sum((s) => s.acked),
    delivered: sum((s) => s.delivered),
    pendingAcks: sum((s) => s.pendingAcks),
    receipts: sum((s) => s.receipts),
    // the worst process's (a progress line needs no exact merged p99)
    deliveryP99Ms: Math.max(0, ...statuses.map((s) => s.deliveryP99Ms)),
    cpuPercent: sum((s) => s.cpuPercent),
  };
}

async function status(participants: readonly TrafficParticipant[]): Promise<PhaseStatus> {
  return sumStatus(await Promise.all(participants.map((p) => p.phaseStatus())));
}

/** A progress line once a second, from the participants' counts. */
function startPhaseProgress(
  log: Log,
  label: string,
  participants: readonly TrafficParticipant[],
  startEpochMs: number,
): () => void {
  let lastDelivered = 0;
  let lastTick = epochNow();
  return startPolledProgress(log, async () => {
    const s = await status(participants);
    const now = epochNow();
    const rate = ((s.delivered - lastDelivered) * 1000) / (now - lastTick);
    lastDelivered = s.delivered;
    lastTick = now;
    return (
      `[${label} ${((now - startEpochMs) / 1000).toFixed(1)}s] sent ${s.sent} acked ${s.acked} ` +
      `delivered ${s.delivered} (${fmtNum(rate)}/s) p99 ${fmtMs(s.deliveryP99Ms)} ms ` +
      `in flight ${Math.max(0, s.sent - s.delivered)} cpu ${fmtNum(s.cpuPercent)}%`
    );
  });
}

/** Run one phase over `participants` (each sending its share, receiving what comes to its users). */
export async function runTrafficPhase(
  participants: readonly TrafficParticipant[],
  phase: PhaseOptions,
  log: Log,
): Promise<PhaseResult> {
  const total = phase.messages ?? Math.max(1, Math.round(phase.rate * phase.durationS));
  const intervalMs = 1000 / phase.rate;
  const spec: PhaseSpec = {
    label: phase.label,
    run: newRunId(),
    rate: phase.rate,
    total,
    durationS: phase.durationS,
    size: phase.size,
    prepack: phase.prepack,
    saturate: phase.saturate ?? false,
  };
  const prepared = await Promise.all(participants.map((p) => p.preparePhase(spec)));
  const prepackSeconds = Math.max(0, ...prepared.map((p) => p.prepackSeconds));
  if (phase.prepack) {
    log.note(`[${phase.label}] prepacked ${total} messages in ${prepackSeconds.toFixed(1)} s`);
  }

  const startEpochMs = epochNow() + Math.max(...participants.map((p) => p.startLeadMs));
  const stopProgress = startPhaseProgress(log, phase.label, participants, startEpochMs);
  let graceSeconds: number;
  let shards: PhaseShard[];
  try {
    await Promise.all(participants.map((p) => p.runPhaseSchedule(startEpochMs)));
    const sendEnd = epochNow();
    const graceEnd = sendEnd + phase.graceS * 1000;
    let s = await status(participants);
    while (epochNow() < graceEnd) {
      const acksSettled = s.pendingAcks <= 0;
      const deliveredAll = !phase.expectDelivery || s.delivered >= s.sent;
      if (acksSettled && deliveredAll) break;
      await sleep(POLL_MS);
      s = await status(participants);
    }
    // Receipts follow deliveries: give the last ones a moment (stations need not send any).
    const receiptsEnd = Math.min(graceEnd, epochNow() + RECEIPT_WAIT_MS);
    while (s.receipts < s.sent && s.receipts > 0 && epochNow() < receiptsEnd) {
      await sleep(POLL_MS);
      s = await status(participants);
    }
    graceSeconds = (epochNow() - sendEnd) / 1000;
    shards = await Promise.all(participants.map((p) => p.finishPhase()));
  } finally {
    stopProgress();
  }
  const merged = mergeTrackerData(shards);
  // A count over [start, last event] spans count − 1 intervals: add one interval so that an exact
  // schedule reports exactly its rate.
  const windowS = (lastMs: number): number => Math.max(1e-3, (lastMs + intervalMs) / 1000);
  const c = merged.counts;
  return {
    label: phase.label,
    run: spec.run,
    targetRate: phase.rate,
    durationS: round(spec.saturate ? phase.durationS : total / phase.rate, 3),
    sendSeconds: round(merged.lastSendMs / 1000, 3),
    graceSeconds: round(graceSeconds, 3),
    counts: c,
    rates: {
      sent: round(c.sent / windowS(merged.lastSendMs)),
      acked: c.acked === 0 ? 0 : round(c.acked / windowS(merged.lastAckMs)),
      delivered: c.delivered === 0 ? 0 : round(c.delivered / windowS(merged.lastDeliveryMs)),
    },
    latencyMs: merged.latencies,
    generator: mergeGeneratorStats(shards.map((s) => s.generator)),
    prepackSeconds: round(prepackSeconds, 2),
  };
}

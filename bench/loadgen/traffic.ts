/**
 * The traffic engine shared by relay, fanin, backlog and the self-check: connected senders, each with a
 * receiver, and phases of constant-rate open-loop sending. Message n of a phase is due at
 * start + n / rate and goes out from sender n mod S (so every sender runs at rate / S, phases staggered);
 * its text carries the phase's run ID, n and the due time. Receivers record deliveries in the current
 * phase's tracker; senders record the station's receipts.
 */
import { ContentType } from '../../src/protocol/dkd/content-type.ts';
import type { ID } from '../../src/protocol/mkm/identifier.ts';
import type { DimClient } from '../../src/client/dim-client.ts';
import { closeReason, errorCode } from './connect.ts';
import type { Log } from './output.ts';
import { fmtMs, fmtNum, round, startProgress } from './output.ts';
import { newRunId, parseProbe, probeText } from './probe.ts';
import { GeneratorMeter } from './process-stats.ts';
import type { GeneratorStats } from './process-stats.ts';
import { runSchedule, sleep } from './schedule.ts';
import { PhaseTracker } from './tracker.ts';
import type { PhaseCounts, PhaseLatencies } from './tracker.ts';

/** How long to wait for receipts after every message was delivered (at most the grace period). */
const RECEIPT_WAIT_MS = 2000;

export interface TrafficTopology {
  readonly senders: readonly DimClient[];
  /** Receivers' IDs; their clients are listened to with `listenReceiver` (they may connect later). */
  readonly receiverIds: readonly ID[];
  /** Receiver index of sender i. */
  readonly receiverOf: (senderIndex: number) => number;
}

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
  readonly generator: GeneratorStats;
  /** Seconds spent packing before the phase (--prepack), else 0. */
  readonly prepackSeconds: number;
}

export class TrafficRunner {
  readonly #topology: TrafficTopology;
  readonly #log: Log;
  readonly #unsubscribe: Array<() => void> = [];
  #current: PhaseTracker | undefined;
  /** Trackers of earlier phases, so that late messages of the last phase are still counted there. */
  #last: PhaseTracker | undefined;

  constructor(topology: TrafficTopology, log: Log) {
    this.#topology = topology;
    this.#log = log;
    for (const sender of new Set(topology.senders)) {
      this.#unsubscribe.push(
        sender.on('receipt', (r) => this.#tracker()?.onReceipt(r.text)),
        sender.on('close', (info) => {
          if (!info.byClient) this.#tracker()?.onConnectionClosed(closeReason(sender.transport, info));
        }),
      );
    }
  }

  #tracker(): PhaseTracker | undefined {
    return this.#current ?? this.#last;
  }

  /** Count what `receiver` receives (load messages, others, invalid ones, its connection closing). */
  listenReceiver(receiver: DimClient): void {
    this.#unsubscribe.push(
      receiver.on('message', (m) => {
        const tracker = this.#tracker();
        if (tracker === undefined) return;
        const probe = m.content.type === ContentType.TEXT ? parseProbe(m.content.dict['text']) : undefined;
        if (probe === undefined) tracker.otherMessages += 1;
        else tracker.onProbe(probe, m.receivedAt);
      }),
      receiver.on('invalid', () => {
        const tracker = this.#tracker();
        if (tracker !== undefined) tracker.invalid += 1;
      }),
    );
    if (!this.#topology.senders.includes(receiver)) {
      this.#unsubscribe.push(
        receiver.on('close', (info) => {
          if (!info.byClient) this.#tracker()?.onConnectionClosed(closeReason(receiver.transport, info));
        }),
      );
    }
  }

  /** Stop listening (before closing the clients). */
  detach(): void {
    for (const off of this.#unsubscribe.splice(0)) off();
  }

  /** The tracker of the running phase, else of the last one (late deliveries are still counted there). */
  get tracker(): PhaseTracker | undefined {
    return this.#tracker();
  }

  async runPhase(phase: PhaseOptions): Promise<PhaseResult> {
    const { senders, receiverOf } = this.#topology;
    const run = newRunId();
    const tracker = new PhaseTracker(run);
    const total = phase.messages ?? Math.max(1, Math.round(phase.rate * phase.durationS));
    const intervalMs = 1000 / phase.rate;
    tracker.scheduled = total;
    const receiverFor = (n: number): ID => this.#topology.receiverIds[receiverOf(n % senders.length)]!;

    let texts: string[] | undefined;
    let prepackSeconds = 0;
    if (phase.prepack) {
      const t0 = performance.now();
      texts = new Array<string>(total);
      let lastNote = t0;
      for (let n = 0; n < total; n++) {
        const sender = senders[n % senders.length]!;
        const text = probeText(run, n, n * intervalMs, phase.size);
        texts[n] = sender.pack(receiverFor(n), { type: ContentType.TEXT, text }).text;
        if (n % 256 === 255) {
          await sleep(0); // keep the connections serviced
          if (performance.now() - lastNote > 1000) {
            lastNote = performance.now();
            this.#log.note(`[${phase.label}] prepacked ${n + 1}/${total}`);
          }
        }
      }
      prepackSeconds = (performance.now() - t0) / 1000;
      this.#log.note(`[${phase.label}] prepacked ${total} messages in ${prepackSeconds.toFixed(1)} s`);
    }

    this.#current = tracker;
    const meter = new GeneratorMeter();
    tracker.startPerf = performance.now() + 20;
    const fire = (n: number, scheduledPerf: number): void => {
      const sender = senders[n % senders.length]!;
      if (sender.closed) {
        tracker.onNotSent('CLOSED');
        return;
      }
      let promise: Promise<unknown>;
      try {
        // what DimClient.sendText does, split so that a failure to pack does not count as sent
        const text =
          texts?.[n] ??
          sender.pack(receiverFor(n), {
            type: ContentType.TEXT,
            text: probeText(run, n, scheduledPerf - tracker.startPerf, phase.size),
          }).text;
        promise = sender.transport.send(text);
      } catch (err) {
        tracker.onNotSent(errorCode(err));
        return;
      }
      tracker.onSent(scheduledPerf, performance.now());
      promise.then(
        () => tracker.onAck(scheduledPerf, performance.now()),
        (err: unknown) => tracker.onSendError(errorCode(err)),
      );
    };
    let lastDelivered = 0;
    let lastTick = performance.now();
    const stopProgress = startProgress(this.#log, () => {
      const now = performance.now();
      const rate = ((tracker.delivered - lastDelivered) * 1000) / (now - lastTick);
      lastDelivered = tracker.delivered;
      lastTick = now;
      const elapsed = (now - tracker.startPerf) / 1000;
      return (
        `[${phase.label} ${elapsed.toFixed(1)}s] sent ${tracker.sent} acked ${tracker.acked} ` +
        `delivered ${tracker.delivered} (${fmtNum(rate)}/s) p99 ${fmtMs(tracker.delivery.quantileMs(0.99))} ms ` +
        `in flight ${tracker.sent - tracker.delivered} cpu ${fmtNum(meter.cpuPercentNow())}%`
      );
    });
    const schedule = runSchedule(total, intervalMs, tracker.startPerf, fire);
    let stopTimer: NodeJS.Timeout | undefined;
    if (phase.saturate) stopTimer = setTimeout(() => schedule.stop(), phase.durationS * 1000 + 20);
    await schedule.done;
    clearTimeout(stopTimer);
    tracker.scheduled = schedule.fired();
    const sendEnd = Math.max(performance.now(), tracker.lastSendPerf);
    const graceEnd = sendEnd + phase.graceS * 1000;
    while (performance.now() < graceEnd) {
      const acksSettled = tracker.pendingAcks <= 0;
      const deliveredAll = !phase.expectDelivery || tracker.delivered >= tracker.sent;
      if (acksSettled && deliveredAll) break;
      await sleep(10);
    }
    // Receipts follow deliveries: give the last ones a moment (stations need not send any).
    const receiptsEnd = Math.min(graceEnd, performance.now() + RECEIPT_WAIT_MS);
    while (tracker.receipts < tracker.sent && tracker.receipts > 0 && performance.now() < receiptsEnd) {
      await sleep(10);
    }
    stopProgress();
    const graceSeconds = (performance.now() - sendEnd) / 1000;
    const generator = meter.stop();
    this.#last = tracker;
    this.#current = undefined;
    // A count over [start, last event] spans count − 1 intervals: add one interval so that an exact
    // schedule reports exactly its rate.
    const windowS = (lastPerf: number): number =>
      Math.max(1e-3, (lastPerf - tracker.startPerf + intervalMs) / 1000);
    const sendWindow = windowS(tracker.lastSendPerf);
    return {
      label: phase.label,
      run,
      targetRate: phase.rate,
      durationS: round(phase.saturate ? phase.durationS : total / phase.rate, 3),
      sendSeconds: round((tracker.lastSendPerf - tracker.startPerf) / 1000, 3),
      graceSeconds: round(graceSeconds, 3),
      counts: tracker.counts(),
      rates: {
        sent: round(tracker.sent / sendWindow),
        acked: tracker.acked === 0 ? 0 : round(tracker.acked / windowS(tracker.lastAckPerf)),
        delivered: tracker.delivered === 0 ? 0 : round(tracker.delivered / windowS(tracker.lastDeliveryPerf)),
      },
      latencyMs: tracker.latencies(),
      generator,
      prepackSeconds: round(prepackSeconds, 2),
    };
  }
}

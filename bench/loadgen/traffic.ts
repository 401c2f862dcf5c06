/**
 * The traffic engine shared by relay, fanin, backlog and the self-check: one generator process's
 * connected senders, each with a receiver, and its share of phases of constant-rate open-loop sending.
 * Message n of a phase is due at start + n / rate; with one process it goes out from sender n mod S (so
 * every sender runs at rate / S, phases staggered), with --procs N from process n mod N (`ScheduleShare`,
 * process-split.ts). Its text carries the phase's run ID, n and the due time. Receivers record deliveries
 * in the current phase's tracker; senders record the station's receipts. `runTrafficPhase`
 * (traffic-phase.ts) drives the phase over one or several such runners.
 */
import { ContentType } from '../../src/protocol/dkd/content-type.ts';
import type { ID } from '../../src/protocol/mkm/identifier.ts';
import type { DimClient } from '../../src/client/dim-client.ts';
import { closeReason, errorCode } from './connect.ts';
import type { Log } from './output.ts';
import { parseProbe, probeText } from './probe.ts';
import { GeneratorMeter } from './process-stats.ts';
import { localSenderOf } from './process-split.ts';
import { runSchedule, shareSize, sleep, WHOLE_SCHEDULE } from './schedule.ts';
import type { ScheduleHandle, ScheduleShare } from './schedule.ts';
import { runTrafficPhase } from './traffic-phase.ts';
import type {
  PhaseOptions,
  PhaseResult,
  PhaseShard,
  PhaseSpec,
  PhaseStatus,
  TrafficParticipant,
} from './traffic-phase.ts';
import { PhaseTracker } from './tracker.ts';

export type { PhaseOptions, PhaseResult } from './traffic-phase.ts';

export interface TrafficTopology {
  readonly senders: readonly DimClient[];
  /** Receivers' IDs; their clients are listened to with `listenReceiver` (they may connect later). */
  readonly receiverIds: readonly ID[];
  /** Receiver index of sender i. */
  readonly receiverOf: (senderIndex: number) => number;
  /** This process's share of every schedule (default: all of it). */
  readonly share?: ScheduleShare;
}

interface ActivePhase {
  readonly spec: PhaseSpec;
  readonly tracker: PhaseTracker;
  /** Prepacked texts of this share's messages, by ⌊n / N⌋. */
  readonly texts: string[] | undefined;
  readonly prepackSeconds: number;
  meter?: GeneratorMeter;
  schedule?: ScheduleHandle;
  scheduleDone: boolean;
}

export class TrafficRunner implements TrafficParticipant {
  readonly #topology: TrafficTopology;
  readonly #log: Log;
  readonly #unsubscribe: Array<() => void> = [];
  readonly #share: ScheduleShare;
  readonly startLeadMs = 20;
  #phase: ActivePhase | undefined;
  #current: PhaseTracker | undefined;
  /** Trackers of earlier phases, so that late messages of the last phase are still counted there. */
  #last: PhaseTracker | undefined;

  constructor(topology: TrafficTopology, log: Log) {
    this.#topology = topology;
    this.#share = topology.share ?? WHOLE_SCHEDULE;
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

  /** Run a phase with this runner alone (one process). */
  runPhase(phase: PhaseOptions): Promise<PhaseResult> {
    return runTrafficPhase([this], phase, this.#log);
  }

  #receiverFor(localSender: number): ID {
    return this.#topology.receiverIds[this.#topology.receiverOf(localSender)]!;
  }

  async preparePhase(spec: PhaseSpec): Promise<{ prepackSeconds: number }> {
    const { senders } = this.#topology;
    const share = this.#share;
    const tracker = new PhaseTracker(spec.run);
    tracker.scheduled = shareSize(spec.total, share);
    const intervalMs = 1000 / spec.rate;
    let texts: string[] | undefined;
    let prepackSeconds = 0;
    if (spec.prepack) {
      const t0 = performance.now();
      texts = new Array<string>(tracker.scheduled);
      let lastNote = t0;
      for (let k = 0, n = share.index; n < spec.total; k++, n += share.count) {
        const local = localSenderOf(n, share, senders.length);
        const text = probeText(spec.run, n, n * intervalMs, spec.size);
        texts[k] = senders[local]!.pack(this.#receiverFor(local), { type: ContentType.TEXT, text }).text;
        if (k % 256 === 255) {
          await sleep(0); // keep the connections serviced
          if (performance.now() - lastNote > 1000) {
            lastNote = performance.now();
            this.#log.note(`[${spec.label}] prepacked ${k + 1}/${tracker.scheduled}`);
          }
        }
      }
      prepackSeconds = (performance.now() - t0) / 1000;
    }
    this.#phase = { spec, tracker, texts, prepackSeconds, scheduleDone: false };
    return { prepackSeconds };
  }

  async runPhaseSchedule(startEpochMs: number): Promise<void> {
    const phase = this.#active();
    const { spec, tracker, texts } = phase;
    const { senders } = this.#topology;
    const share = this.#share;
    this.#current = tracker;
    phase.meter = new GeneratorMeter();
    tracker.startPerf = startEpochMs - performance.timeOrigin;
    const fire = (n: number, scheduledPerf: number): void => {
      const local = localSenderOf(n, share, senders.length);
      const sender = senders[local]!;
      if (sender.closed) {
        tracker.onNotSent('CLOSED');
        return;
      }
      let promise: Promise<unknown>;
      try {
        // what DimClient.sendText does, split so that a failure to pack does not count as sent
        const text =
          texts?.[Math.floor(n / share.count)] ??
          sender.pack(this.#receiverFor(local), {
            type: ContentType.TEXT,
            text: probeText(spec.run, n, scheduledPerf - tracker.startPerf, spec.size),
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
    const schedule = runSchedule(spec.total, 1000 / spec.rate, tracker.startPerf, fire, share);
    phase.schedule = schedule;
    let stopTimer: NodeJS.Timeout | undefined;
    if (spec.saturate) {
      const end = tracker.startPerf + spec.durationS * 1000;
      stopTimer = setTimeout(() => schedule.stop(), end - performance.now());
    }
    await schedule.done;
    clearTimeout(stopTimer);
    tracker.scheduled = schedule.fired();
    phase.scheduleDone = true;
  }

  async phaseStatus(): Promise<PhaseStatus> {
    const phase = this.#active();
    const t = phase.tracker;
    return {
      scheduleDone: phase.scheduleDone,
      sent: t.sent,
      acked: t.acked,
      delivered: t.delivered,
      pendingAcks: t.pendingAcks,
      receipts: t.receipts,
      deliveryP99Ms: t.delivery.quantileMs(0.99),
      cpuPercent: phase.meter?.cpuPercentNow() ?? 0,
    };
  }

  async finishPhase(): Promise<PhaseShard> {
    const phase = this.#active();
    phase.schedule?.stop();
    const generator = (phase.meter ?? new GeneratorMeter()).stop();
    this.#last = phase.tracker;
    this.#current = undefined;
    this.#phase = undefined;
    return {
      ...phase.tracker.data(),
      generator: { pid: process.pid, ...generator },
      prepackSeconds: phase.prepackSeconds,
    };
  }

  #active(): ActivePhase {
    if (this.#phase === undefined) throw new Error('no phase prepared');
    return this.#phase;
  }
}

/**
 * A shard whose phases run on the TrafficRunner it sets up (relay/fanin and self-check): the four phase
 * calls are forwarded to that runner, which must exist by then.
 */
export class RunnerShard implements TrafficParticipant {
  readonly startLeadMs = 20;
  protected runner: TrafficRunner | undefined;
  readonly #notSetUp: string;

  constructor(notSetUp: string) {
    this.#notSetUp = notSetUp;
  }

  #traffic(): TrafficRunner {
    if (this.runner === undefined) throw new Error(this.#notSetUp);
    return this.runner;
  }

  preparePhase(spec: PhaseSpec): Promise<{ prepackSeconds: number }> {
    return this.#traffic().preparePhase(spec);
  }

  runPhaseSchedule(startEpochMs: number): Promise<void> {
    return this.#traffic().runPhaseSchedule(startEpochMs);
  }

  phaseStatus(): Promise<PhaseStatus> {
    return this.#traffic().phaseStatus();
  }

  finishPhase(): Promise<PhaseShard> {
    return this.#traffic().finishPhase();
  }
}

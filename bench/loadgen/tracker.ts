/**
 * Accounting of one load phase: what was scheduled, written, acknowledged by the station (MTP `OK`),
 * delivered to the receiver (unique sequence numbers), duplicated, and the latencies measured from each
 * message's scheduled send time.
 */
import { Histogram } from './histogram.ts';
import type { HistogramData, LatencySummary } from './histogram.ts';
import type { Probe } from './probe.ts';

export interface PhaseCounts {
  /** Messages the schedule asked for. */
  readonly scheduled: number;
  /** Messages written to a connection. */
  readonly sent: number;
  /** Sends the station acknowledged (MTP `OK`; WebSocket: written). */
  readonly acked: number;
  /** Distinct messages received (and decrypted) by their receiver. */
  readonly delivered: number;
  /** sent − delivered at the end of the phase (after the grace period). */
  readonly lost: number;
  /** Receptions of a message already received. */
  readonly duplicated: number;
  /** Load messages of another run or step (late deliveries, or an old backlog). */
  readonly stale: number;
  /** Other messages received by receivers (not load messages, receipts or handshakes). */
  readonly otherMessages: number;
  /** Receptions the client could not parse, verify or decrypt. */
  readonly invalid: number;
  /** Receipts received by the senders, and their texts. */
  readonly receipts: number;
  readonly receiptTexts: Readonly<Record<string, number>>;
  /** Failed sends by error code (ACK_TIMEOUT, CLOSED, NO_KEY_FOR_RECEIVER…). */
  readonly sendErrors: Readonly<Record<string, number>>;
  /** Connections that closed without the generator asking, by reason. */
  readonly connectionsClosed: Readonly<Record<string, number>>;
}

export interface PhaseLatencies {
  /** Scheduled send → received and decrypted by the receiver. */
  readonly delivery: LatencySummary;
  /** Scheduled send → station's `OK`. */
  readonly ack: LatencySummary;
  /** Scheduled send → actually written: the generator's own lateness. */
  readonly sendLag: LatencySummary;
}

/**
 * A tracker as plain data: one generator process's part of a phase, which the coordinator merges with the
 * other processes' (`mergeTrackerData`). Times are ms since the phase start (null: no such event).
 */
export interface TrackerData extends Omit<PhaseCounts, 'lost'> {
  readonly delivery: HistogramData;
  readonly ack: HistogramData;
  readonly sendLag: HistogramData;
  readonly firstDeliveryMs: number | null;
  readonly lastDeliveryMs: number | null;
  readonly lastSendMs: number | null;
  readonly lastAckMs: number | null;
}

export interface MergedTracker {
  readonly counts: PhaseCounts;
  readonly latencies: PhaseLatencies;
  /** ms since the phase start, 0 when there was no such event. */
  readonly firstDeliveryMs: number;
  readonly lastDeliveryMs: number;
  readonly lastSendMs: number;
  readonly lastAckMs: number;
}

function addCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [key, n] of Object.entries(from)) bump(into, key, n);
}

/**
 * The phase as a whole from its parts: counts add up (each message has one sender and one receiver, and
 * each is in one process), histograms merge, first/last events are the earliest/latest.
 */
export function mergeTrackerData(parts: readonly TrackerData[]): MergedTracker {
  const sum = (pick: (d: TrackerData) => number): number => parts.reduce((a, d) => a + pick(d), 0);
  const texts: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const closed: Record<string, number> = {};
  for (const d of parts) {
    addCounts(texts, d.receiptTexts);
    addCounts(errors, d.sendErrors);
    addCounts(closed, d.connectionsClosed);
  }
  const times = (pick: (d: TrackerData) => number | null): number[] =>
    parts.map(pick).filter((t): t is number => t !== null);
  const latest = (pick: (d: TrackerData) => number | null): number => Math.max(0, ...times(pick));
  const firstDeliveries = times((d) => d.firstDeliveryMs);
  const merged = (pick: (d: TrackerData) => HistogramData): LatencySummary =>
    Histogram.merge(parts.map((d) => Histogram.fromJSON(pick(d)))).summary();
  const sent = sum((d) => d.sent);
  const delivered = sum((d) => d.delivered);
  return {
    counts: {
      scheduled: sum((d) => d.scheduled),
      sent,
      acked: sum((d) => d.acked),
      delivered,
      lost: Math.max(0, sent - delivered),
      duplicated: sum((d) => d.duplicated),
      stale: sum((d) => d.stale),
      otherMessages: sum((d) => d.otherMessages),
      invalid: sum((d) => d.invalid),
      receipts: sum((d) => d.receipts),
      receiptTexts: texts,
      sendErrors: errors,
      connectionsClosed: closed,
    },
    latencies: {
      delivery: merged((d) => d.delivery),
      ack: merged((d) => d.ack),
      sendLag: merged((d) => d.sendLag),
    },
    firstDeliveryMs: firstDeliveries.length === 0 ? 0 : Math.min(...firstDeliveries),
    lastDeliveryMs: latest((d) => d.lastDeliveryMs),
    lastSendMs: latest((d) => d.lastSendMs),
    lastAckMs: latest((d) => d.lastAckMs),
  };
}

function bump(map: Record<string, number>, key: string, by = 1): void {
  map[key] = (map[key] ?? 0) + by;
}

export class PhaseTracker {
  readonly run: string;
  /** performance.now() of the schedule's origin (sentAt 0). */
  startPerf = 0;
  scheduled = 0;
  sent = 0;
  acked = 0;
  delivered = 0;
  duplicated = 0;
  stale = 0;
  otherMessages = 0;
  invalid = 0;
  receipts = 0;
  readonly receiptTexts: Record<string, number> = {};
  readonly sendErrors: Record<string, number> = {};
  readonly connectionsClosed: Record<string, number> = {};
  readonly delivery = new Histogram();
  readonly ack = new Histogram();
  readonly sendLag = new Histogram();
  /** performance.now() of the first and last delivery, the last send and the last ack. */
  firstDeliveryPerf = 0;
  lastDeliveryPerf = 0;
  lastSendPerf = 0;
  lastAckPerf = 0;
  /** Sends not settled yet (neither OK nor failed). */
  pendingAcks = 0;
  #seen = new Uint8Array(1024);

  constructor(run: string) {
    this.run = run;
  }

  onSent(scheduledPerf: number, nowPerf: number): void {
    this.sent += 1;
    this.pendingAcks += 1;
    this.lastSendPerf = nowPerf;
    this.sendLag.recordMs(nowPerf - scheduledPerf);
  }

  onAck(scheduledPerf: number, nowPerf: number): void {
    this.acked += 1;
    this.pendingAcks -= 1;
    this.lastAckPerf = nowPerf;
    this.ack.recordMs(nowPerf - scheduledPerf);
  }

  onSendError(code: string): void {
    this.pendingAcks -= 1;
    bump(this.sendErrors, code);
  }

  /** A send that failed before anything was written (packing, closed connection). */
  onNotSent(code: string): void {
    bump(this.sendErrors, code);
  }

  /** A load message received at `receivedPerf`. */
  onProbe(probe: Probe, receivedPerf: number): void {
    if (probe.run !== this.run) {
      this.stale += 1;
      return;
    }
    const seq = probe.seq;
    if (seq >= this.#seen.length) {
      let size = this.#seen.length;
      while (size <= seq) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.#seen);
      this.#seen = grown;
    }
    if (this.#seen[seq] !== 0) {
      this.duplicated += 1;
      return;
    }
    this.#seen[seq] = 1;
    this.delivered += 1;
    if (this.firstDeliveryPerf === 0) this.firstDeliveryPerf = receivedPerf;
    this.lastDeliveryPerf = receivedPerf;
    this.delivery.recordMs(receivedPerf - (this.startPerf + probe.sentAt));
  }

  onReceipt(text: string | undefined): void {
    this.receipts += 1;
    bump(this.receiptTexts, text ?? '(no text)');
  }

  onConnectionClosed(reason: string): void {
    bump(this.connectionsClosed, reason);
  }

  /** Whether sequence number `seq` was delivered. */
  wasDelivered(seq: number): boolean {
    return seq < this.#seen.length && this.#seen[seq] === 1;
  }

  counts(): PhaseCounts {
    return {
      scheduled: this.scheduled,
      sent: this.sent,
      acked: this.acked,
      delivered: this.delivered,
      lost: Math.max(0, this.sent - this.delivered),
      duplicated: this.duplicated,
      stale: this.stale,
      otherMessages: this.otherMessages,
      invalid: this.invalid,
      receipts: this.receipts,
      receiptTexts: { ...this.receiptTexts },
      sendErrors: { ...this.sendErrors },
      connectionsClosed: { ...this.connectionsClosed },
    };
  }

  /** This process's part of the phase, as plain data. */
  data(): TrackerData {
    const since = (perf: number, any: boolean): number | null => (any ? perf - this.startPerf : null);
    return {
      scheduled: this.scheduled,
      sent: this.sent,
      acked: this.acked,
      delivered: this.delivered,
      duplicated: this.duplicated,
      stale: this.stale,
      otherMessages: this.otherMessages,
      invalid: this.invalid,
      receipts: this.receipts,
      receiptTexts: { ...this.receiptTexts },
      sendErrors: { ...this.sendErrors },
      connectionsClosed: { ...this.connectionsClosed },
      delivery: this.delivery.toJSON(),
      ack: this.ack.toJSON(),
      sendLag: this.sendLag.toJSON(),
      firstDeliveryMs: since(this.firstDeliveryPerf, this.delivered > 0),
      lastDeliveryMs: since(this.lastDeliveryPerf, this.delivered > 0),
      lastSendMs: since(this.lastSendPerf, this.sent > 0),
      lastAckMs: since(this.lastAckPerf, this.acked > 0),
    };
  }

  latencies(): PhaseLatencies {
    return { delivery: this.delivery.summary(), ack: this.ack.summary(), sendLag: this.sendLag.summary() };
  }
}

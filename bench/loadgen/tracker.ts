/**
 * Accounting of one load phase: what was scheduled, written, acknowledged by the station (MTP `OK`),
 * delivered to the receiver (unique sequence numbers), duplicated, and the latencies measured from each
 * message's scheduled send time.
 */
import { Histogram } from './histogram.ts';
import type { LatencySummary } from './histogram.ts';
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

  latencies(): PhaseLatencies {
    return { delivery: this.delivery.summary(), ack: this.ack.summary(), sendLag: this.sendLag.summary() };
  }
}

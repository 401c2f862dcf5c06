/**
 * How a run is split over `--procs N` generator processes. User i of a role (sender i, receiver i) lives in
 * process i mod N, so relay pair i (sender i → receiver i) stays in one process and fanin's one receiver is
 * in process 0. Message n of a phase goes out from process n mod N (`ScheduleShare`), from that process's
 * sender ⌊n / N⌋ mod S_w: every process runs rate / N, and with one process it is sender n mod S as always.
 */
import type { ScheduleShare } from './schedule.ts';

/** The process (0 … procs − 1) hosting user `index` of a role. */
export function processOf(index: number, procs: number): number {
  return index % procs;
}

/** Indices in [0, n) hosted by process `w`. */
export function indicesOf(n: number, w: number, procs: number): number[] {
  const out: number[] = [];
  for (let i = w; i < n; i += procs) out.push(i);
  return out;
}

/** `total` (e.g. --concurrency) split over processes as evenly as possible, the first ones taking the rest. */
export function splitCount(total: number, procs: number): number[] {
  return Array.from({ length: procs }, (_, w) => Math.floor(total / procs) + (w < total % procs ? 1 : 0));
}

/** Local sender (index into the process's senders) that sends global message `n`. */
export function localSenderOf(n: number, share: ScheduleShare, localSenders: number): number {
  return Math.floor(n / share.count) % localSenders;
}

export interface TrafficTopology {
  readonly senders: number;
  readonly receivers: number;
  /** Receiver index of sender i. */
  readonly receiverOf: (senderIndex: number) => number;
}

/** One process's users in a traffic scenario: indices into the global sender and receiver lists. */
export interface TrafficPlan {
  readonly share: ScheduleShare;
  readonly receivers: readonly number[];
  readonly senders: readonly number[];
  /** Global receiver index of each local sender. */
  readonly targets: readonly number[];
  /** Global indices of senders in other processes sending to a local receiver (their keys verify). */
  readonly remoteSenders: readonly number[];
}

/** The plan of every process; throws when a process would have no sender. */
export function planTraffic(topology: TrafficTopology, procs: number): TrafficPlan[] {
  if (!Number.isInteger(procs) || procs < 1) throw new Error(`bad process count ${procs}`);
  if (topology.senders < procs) {
    throw new Error(`--procs ${procs} needs at least ${procs} senders (there are ${topology.senders})`);
  }
  return Array.from({ length: procs }, (_, w) => {
    const senders = indicesOf(topology.senders, w, procs);
    const receivers = indicesOf(topology.receivers, w, procs);
    const remoteSenders: number[] = [];
    for (let i = 0; i < topology.senders; i++) {
      if (processOf(i, procs) !== w && processOf(topology.receiverOf(i), procs) === w) remoteSenders.push(i);
    }
    return {
      share: { index: w, count: procs },
      receivers,
      senders,
      targets: senders.map((i) => topology.receiverOf(i)),
      remoteSenders,
    };
  });
}

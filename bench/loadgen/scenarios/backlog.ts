/**
 * backlog: store `--messages N` for an offline user, then connect that user and time the drain.
 *
 * 1. The receiver connects once (handshake, login) so the station knows its keys and any old backlog is
 *    drained (counted as `predrained`), then disconnects.
 * 2. `--senders S` (default 1) send N messages to it at `--rate R` (constant-rate open loop) and wait for
 *    the station's `OK`s, then `--settle` seconds for the station to finish storing.
 * 3. The receiver connects, handshakes and logs in; the drain time runs from the connect to the last of
 *    the N messages (or `--drain-timeout`).
 */
import { DimClient } from '../../../src/client/dim-client.ts';
import { ContentType } from '../../../src/protocol/dkd/content-type.ts';
import { closeAll, openTransport } from '../connect.ts';
import type { Context, SetupReport } from '../context.ts';
import { directoryOf, loadIdentities, nextConnectionIndex, setupUsers } from '../context.ts';
import type { LatencySummary } from '../histogram.ts';
import { countsText, fmtMs, fmtNum, latencyLine, round, startProgress } from '../output.ts';
import { parseProbe } from '../probe.ts';
import { sleep } from '../schedule.ts';
import { TrafficRunner } from '../traffic.ts';
import type { PhaseResult } from '../traffic.ts';
import type { ScenarioOutcome } from './scenario.ts';

export interface BacklogResult {
  readonly messages: number;
  readonly senders: number;
  /** Old messages drained before the run (an earlier run's backlog). */
  readonly predrained: number;
  readonly setup: SetupReport;
  readonly store: {
    readonly sent: number;
    readonly acked: number;
    readonly sendErrors: Readonly<Record<string, number>>;
    readonly receipts: Readonly<Record<string, number>>;
    readonly seconds: number;
    readonly ackedPerSecond: number;
    readonly ackMs: LatencySummary;
  };
  readonly drain: {
    readonly delivered: number;
    readonly lost: number;
    readonly duplicated: number;
    readonly stale: number;
    readonly invalid: number;
    /** Messages delivered after a later message of the same sender. */
    readonly reordered: number;
    /** Messages received before the handshake's `DIM!` (a station should finish the handshake first). */
    readonly beforeHandshake: number;
    /** Whether every message arrived before --drain-timeout. */
    readonly complete: boolean;
    readonly connectMs: number;
    readonly handshakeMs: number | undefined;
    readonly loginReceipt: string | undefined;
    /** From the start of the connect. */
    readonly firstMessageMs: number | undefined;
    readonly allDeliveredMs: number | undefined;
    /** Delivered messages per second, first to last. */
    readonly messagesPerSecond: number;
  };
  readonly storePhase: PhaseResult;
}

/** Wait until `done()` or the deadline; resolves with whether `done()` became true. */
async function until(done: () => boolean, deadline: number): Promise<boolean> {
  while (!done()) {
    if (performance.now() >= deadline) return false;
    await sleep(5);
  }
  return true;
}

export async function runBacklog(ctx: Context): Promise<ScenarioOutcome> {
  const o = ctx.options;
  const senderCount = o.senders ?? 1;
  const { pool, report: poolReport } = loadIdentities(ctx, senderCount + 1, true);
  const receiverIdentity = pool.identities[0]!;
  const senderIdentities = pool.identities.slice(1, senderCount + 1);
  const directory = directoryOf(pool.identities);
  const opened: DimClient[] = [];
  try {
    // 1. the receiver introduces itself and drains any old backlog
    const pre = await setupUsers(ctx, 'receiver (pre-drain)', [receiverIdentity], directory);
    const preClient = pre.users[0]!.client;
    let predrained = 0;
    let lastPre = performance.now();
    preClient.on('message', () => {
      predrained += 1;
      lastPre = performance.now();
    });
    const preDeadline = performance.now() + o.drainTimeoutS * 1000;
    await until(() => performance.now() - lastPre > 1000, preDeadline);
    await preClient.close();
    if (predrained > 0) ctx.log.note(`[backlog] drained ${predrained} old messages first`);
    await sleep(500); // let the station see the receiver go

    // 2. store
    const s = await setupUsers(ctx, 'senders', senderIdentities, directory);
    opened.push(...s.users.map((u) => u.client));
    const senders = s.users.map((u) => u.client);
    if (!o.verify) {
      for (const identity of senderIdentities) directory.delete(identity.id);
      const station = senders[0]?.stationId;
      if (station !== undefined) directory.delete(station);
    }
    const runner = new TrafficRunner(
      { senders, receiverIds: [receiverIdentity.id], receiverOf: () => 0 },
      ctx.log,
    );
    const storePhase = await runner.runPhase({
      label: 'backlog store',
      rate: o.rate,
      messages: o.messages,
      durationS: o.messages / o.rate,
      graceS: Math.max(o.graceS, o.ackTimeoutMs / 1000),
      expectDelivery: false,
      size: o.size,
      prepack: o.prepack,
    });
    const tracker = runner.tracker!;
    if (tracker.delivered > 0) {
      ctx.warnings.push(
        `${tracker.delivered} messages were delivered while the receiver was offline (the station thought it online?)`,
      );
    }
    await sleep(o.settleS * 1000);
    const receiptsBeforeDrain = { ...tracker.receiptTexts };

    // 3. drain: listen before the handshake, the station may push at once
    const t0 = performance.now();
    const transport = await openTransport(ctx.connect, nextConnectionIndex());
    const connectMs = performance.now() - t0;
    const receiver = new DimClient({
      transport,
      identity: receiverIdentity,
      keyDirectory: directory,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      receiptTimeoutMs: o.receiptTimeoutMs,
      historyLimit: 16,
      agent: 'dim-loadgen',
    });
    opened.push(receiver);
    // the DIM! as received (the handshake promise settles only after the rest of its TCP chunk)
    let successAt: number | undefined;
    let beforeSuccess = 0;
    receiver.on('handshake', (e) => {
      if (e.title === 'DIM!' && successAt === undefined) successAt = e.receivedAt;
    });
    // message n came from sender n mod S: count messages overtaken by a later one of the same sender
    let reordered = 0;
    const highest = new Array<number>(senders.length).fill(-1);
    receiver.on('message', (m) => {
      const probe = m.content.type === ContentType.TEXT ? parseProbe(m.content.dict['text']) : undefined;
      if (probe === undefined || probe.run !== tracker.run) return;
      if (successAt === undefined) beforeSuccess += 1;
      const from = probe.seq % senders.length;
      if (probe.seq < highest[from]! && !tracker.wasDelivered(probe.seq)) reordered += 1;
      highest[from] = Math.max(highest[from]!, probe.seq);
    });
    runner.listenReceiver(receiver);
    const deliveredBefore = tracker.delivered;
    const stopProgress = startProgress(
      ctx.log,
      () =>
        `[backlog drain ${((performance.now() - t0) / 1000).toFixed(1)}s] delivered ${tracker.delivered - deliveredBefore}/${o.messages}`,
    );
    let handshakeMs: number | undefined;
    let loginReceipt: string | undefined;
    try {
      await receiver.handshake(o.stationId === undefined ? {} : { stationId: o.stationId });
      handshakeMs = (successAt ?? performance.now()) - t0;
      if (o.login) {
        // not awaited: the backlog may arrive before the login receipt
        receiver.login().then(
          (text) => {
            loginReceipt = text;
          },
          () => {},
        );
      }
    } catch (err) {
      ctx.warnings.push(`receiver handshake failed: ${(err as Error).message}`);
    }
    const deadline = t0 + o.drainTimeoutS * 1000;
    const complete = await until(() => tracker.delivered - deliveredBefore >= o.messages, deadline);
    stopProgress();
    await sleep(Math.min(500, o.graceS * 1000)); // catch duplicates arriving right after
    runner.detach();
    const delivered = tracker.delivered - deliveredBefore;
    const first = tracker.firstDeliveryPerf;
    const last = tracker.lastDeliveryPerf;
    const result: BacklogResult = {
      messages: o.messages,
      senders: senders.length,
      predrained,
      setup: s.report,
      store: {
        sent: storePhase.counts.sent,
        acked: storePhase.counts.acked,
        sendErrors: storePhase.counts.sendErrors,
        receipts: receiptsBeforeDrain,
        seconds: round((tracker.lastAckPerf - tracker.startPerf) / 1000, 3),
        ackedPerSecond: storePhase.rates.acked,
        ackMs: storePhase.latencyMs.ack,
      },
      drain: {
        delivered,
        lost: Math.max(0, storePhase.counts.sent - tracker.delivered),
        duplicated: tracker.duplicated,
        stale: tracker.stale,
        invalid: tracker.invalid,
        reordered,
        beforeHandshake: beforeSuccess,
        complete,
        connectMs: round(connectMs, 3),
        handshakeMs: handshakeMs === undefined ? undefined : round(handshakeMs, 3),
        loginReceipt,
        firstMessageMs: delivered > 0 ? round(first - t0, 3) : undefined,
        allDeliveredMs: complete ? round(last - t0, 3) : undefined,
        messagesPerSecond: delivered > 1 && last > first ? round(delivered / ((last - first) / 1000)) : 0,
      },
      storePhase,
    };
    const d = result.drain;
    const summary = [
      `backlog: ${o.messages} messages from ${senders.length} sender(s) at ${fmtNum(o.rate)}/s to an offline user${predrained > 0 ? ` (${predrained} old messages drained first)` : ''}`,
      `  store: sent ${result.store.sent}, acked ${result.store.acked} in ${result.store.seconds} s (${fmtNum(result.store.ackedPerSecond)}/s); receipts: ${countsText(result.store.receipts)}`,
      `  ${latencyLine('store OK (from scheduled send)', result.store.ackMs)}`,
      `  drain: delivered ${d.delivered}/${o.messages}${d.complete ? '' : ' (INCOMPLETE)'}, lost ${d.lost}, duplicated ${d.duplicated}, stale ${d.stale}, reordered ${d.reordered}, before DIM! ${d.beforeHandshake}, invalid ${d.invalid}`,
      `  connect ${fmtMs(d.connectMs)} ms, handshake done ${d.handshakeMs === undefined ? '-' : fmtMs(d.handshakeMs)} ms, first message ${d.firstMessageMs === undefined ? '-' : fmtMs(d.firstMessageMs)} ms, all delivered ${d.allDeliveredMs === undefined ? '-' : fmtMs(d.allDeliveredMs)} ms (from the connect); ${fmtNum(d.messagesPerSecond)} msg/s`,
      `  login receipt: ${d.loginReceipt ?? '(none yet)'}`,
    ];
    return { pool: poolReport, result, summary };
  } finally {
    await closeAll(opened);
  }
}

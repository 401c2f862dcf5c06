/**
 * self-check: the generator's own ceiling, without a station, so that a report can show the generator was
 * not the bottleneck.
 *
 * 1. CPU per message for each identity kind: packing a text (sign + encrypt), receiving one (parse +
 *    decrypt, and + verify), timed with the benchmark harness.
 * 2. Relay through an in-process MTP sink (mtp-sink.ts: acks, forwards to the receiver, answers each
 *    message with a pre-packed receipt): `--pairs P` senders → receivers, sending as fast as the
 *    generator can for `--duration` seconds, packing live, then again with prepacked messages. The
 *    delivered rates are what one generator process can drive at most (the sink's own work, a few µs
 *    per message, is included).
 */
import { cpus } from 'node:os';
import { DimClient } from '../../../src/client/dim-client.ts';
import { KeyDirectory } from '../../../src/client/key-directory.ts';
import { createUserIdentity } from '../../../src/client/user-identity.ts';
import type { UserIdentity } from '../../../src/client/user-identity.ts';
import { ContentType } from '../../../src/protocol/dkd/content-type.ts';
import { measure } from '../../harness.ts';
import type { BenchOptions, Case } from '../../harness.ts';
import type { Context } from '../context.ts';
import { loadIdentities } from '../context.ts';
import type { SinkStats } from '../mtp-sink.ts';
import { NullTransport } from '../null-transport.ts';
import { fmtMs, fmtNum, latencyLine, round } from '../output.ts';
import { probeText } from '../probe.ts';
import { cpuText } from '../process-stats.ts';
import { planTraffic } from '../process-split.ts';
import { openShards } from '../shards.ts';
import { runTrafficPhase } from '../traffic-phase.ts';
import type { PhaseResult } from '../traffic-phase.ts';
import { SINK_SHARD_METHODS, sinkShardUsers } from './sink-shard.ts';
import type { SinkShardApi, SinkShardParams } from './sink-shard.ts';
import type { ScenarioOutcome } from './scenario.ts';

export interface CpuCase {
  readonly operation: string;
  readonly kind: string;
  readonly opsPerSec: number;
  readonly usPerOp: number;
}

export interface SelfCheckResult {
  readonly cpu: readonly CpuCase[];
  readonly pairs: number;
  readonly verify: boolean;
  readonly size: number;
  /** Generator processes (--procs): the ceiling is what they relay together, each with its own sink. */
  readonly procs: number;
  readonly live: PhaseResult;
  readonly prepacked: PhaseResult;
  readonly sink: SinkStats;
  /** Messages per second one generator process relays at most (delivered, sender → sink → receiver). */
  readonly ceiling: { readonly live: number; readonly prepacked: number };
}

function cpuCases(
  identities: readonly UserIdentity[],
  station: UserIdentity,
  size: number,
): { cases: Case[]; kinds: string[] } {
  const cases: Case[] = [];
  const kinds: string[] = [];
  const receiverIdentity = station; // any RSA-visa user will do as the receiver
  for (const sender of identities) {
    if (kinds.includes(sender.kind)) continue;
    kinds.push(sender.kind);
    const directory = new KeyDirectory();
    directory.add(receiverIdentity);
    const senderClient = new DimClient({
      transport: new NullTransport(),
      identity: sender,
      keyDirectory: directory,
    });
    const text = probeText('selfcheck', 1, 0, size);
    const content = { type: ContentType.TEXT, text };
    const packed = senderClient.pack(receiverIdentity.id, content).text;
    const receiverFor = (verify: boolean): { transport: NullTransport; count: () => number } => {
      const transport = new NullTransport();
      const dir = new KeyDirectory();
      if (verify) dir.add(sender);
      const client = new DimClient({
        transport,
        identity: receiverIdentity,
        keyDirectory: dir,
        historyLimit: 1,
      });
      let received = 0;
      client.on('message', (m) => {
        if (m.content.dict['text'] === text && m.verified === verify) received += 1;
      });
      return { transport, count: () => received };
    };
    const plain = receiverFor(false);
    const verified = receiverFor(true);
    cases.push(
      {
        group: 'pack (sign + encrypt)',
        impl: sender.kind,
        production: true,
        check: () => senderClient.pack(receiverIdentity.id, content).text.length > size,
        run: () => senderClient.pack(receiverIdentity.id, content).text,
      },
      {
        group: 'receive (parse + decrypt)',
        impl: sender.kind,
        production: true,
        check: () => {
          const before = plain.count();
          plain.transport.deliver(packed);
          return plain.count() === before + 1;
        },
        run: () => plain.transport.deliver(packed),
      },
      {
        group: 'receive + verify',
        impl: sender.kind,
        production: true,
        check: () => {
          const before = verified.count();
          verified.transport.deliver(packed);
          return verified.count() === before + 1;
        },
        run: () => verified.transport.deliver(packed),
      },
    );
  }
  return { cases, kinds };
}

function sumSinkStats(parts: readonly SinkStats[]): SinkStats {
  const sum = (pick: (s: SinkStats) => number): number => parts.reduce((a, s) => a + pick(s), 0);
  return {
    received: sum((s) => s.received),
    forwarded: sum((s) => s.forwarded),
    dropped: sum((s) => s.dropped),
    receipts: sum((s) => s.receipts),
  };
}

export async function runSelfCheck(ctx: Context): Promise<ScenarioOutcome> {
  const o = ctx.options;
  const pairs = o.pairs;
  const { pool, report: poolReport } = loadIdentities(ctx, 2 * pairs, true);
  // the stand-in station (it signs the receipts, and receives in the CPU cases): not a pool user
  const station = createUserIdentity({ kind: 'mkm-ecc', name: 'sink', now: Date.now() / 1000 });

  // 1. CPU per operation and kind
  const short = o.durationS < 2;
  const bench: BenchOptions = {
    json: false,
    quick: short,
    filter: undefined,
    warmupMs: short ? 30 : 150,
    batchMs: short ? 10 : 50,
    rounds: short ? 3 : 7,
  };
  const { cases } = cpuCases(pool.identities, station, o.size);
  const cpu: CpuCase[] = [];
  for (const c of cases) {
    const r = measure(c, bench);
    if (!r.vectorsOk) ctx.warnings.push(`self-check case "${c.group} / ${c.impl}" failed its check`);
    cpu.push({
      operation: c.group,
      kind: c.impl,
      opsPerSec: round(r.opsPerSec),
      usPerOp: round(r.usPerOp, 2),
    });
    ctx.log.note(`[self-check] ${c.group} ${c.impl}: ${fmtNum(r.usPerOp, 1)} µs`);
  }

  // 2. relay through a sink (one per generator process)
  const plans = planTraffic({ senders: pairs, receivers: pairs, receiverOf: (i) => i }, o.procs);
  const parts = plans.map((plan) => {
    const params: SinkShardParams = { pairs, local: plan.senders, share: plan.share };
    return { users: sinkShardUsers(params), params };
  });
  const shardSet = await openShards<'sink', SinkShardApi>(
    ctx,
    'sink',
    pool.identities,
    parts,
    SINK_SHARD_METHODS,
  );
  const shards = shardSet.shards;
  try {
    await Promise.all(shards.map((s) => s.setup()));
    const base = {
      durationS: o.durationS,
      graceS: Math.max(o.graceS, 2),
      expectDelivery: true,
      size: o.size,
    };
    const huge = 1_000_000;
    const live = await runTrafficPhase(
      shards,
      { ...base, label: 'self-check live', rate: huge, prepack: false, saturate: true },
      ctx.log,
    );
    const prepackCount = Math.min(
      200_000,
      Math.max(1000, Math.round(Math.max(live.rates.delivered, live.rates.sent) * o.durationS * 2)),
    );
    const prepacked = await runTrafficPhase(
      shards,
      {
        ...base,
        label: 'self-check prepacked',
        rate: huge,
        messages: prepackCount,
        prepack: true,
        saturate: true,
      },
      ctx.log,
    );
    const sink = sumSinkStats(await Promise.all(shards.map((s) => s.sinkStats())));
    const result: SelfCheckResult = {
      cpu,
      pairs,
      verify: o.verify,
      size: o.size,
      procs: o.procs,
      live,
      prepacked,
      sink,
      ceiling: { live: live.rates.delivered, prepacked: prepacked.rates.delivered },
    };
    for (const phase of [live, prepacked]) {
      if (phase.counts.lost > 0) {
        ctx.warnings.push(`${phase.label}: ${phase.counts.lost} messages not delivered through the sink`);
      }
    }
    const summary = [
      `self-check (no station): ${pairs} pairs through an in-process MTP sink, ${o.size}-byte texts, verify ${o.verify ? 'on' : 'off'}`,
      '  CPU per message (µs):',
      ...cpu.map(
        (c) => `    ${c.operation.padEnd(28)} ${c.kind.padEnd(8)} ${fmtNum(c.usPerOp, 1).padStart(8)}`,
      ),
      ...[live, prepacked].flatMap((p) => [
        `  ${p.label}: sent ${p.counts.sent} (${fmtNum(p.rates.sent)}/s), delivered ${p.counts.delivered} (${fmtNum(p.rates.delivered)}/s), lost ${p.counts.lost}, receipts ${p.counts.receipts}; ${cpuText(p.generator)}`,
        `    ${latencyLine('delivery (saturated: queueing included)', p.latencyMs.delivery)}`,
      ]),
      o.procs === 1
        ? `  ceiling of one generator process: ~${fmtNum(result.ceiling.live)} msg/s packing live, ~${fmtNum(result.ceiling.prepacked)} msg/s prepacked (sender, receiver and receipt work in one process; a run well below these, with send lag p99 ≪ the latencies, measures the station)`
        : `  ceiling of ${o.procs} generator processes together (each with its own sink; ${cpus().length} CPUs here): ~${fmtNum(result.ceiling.live)} msg/s packing live (~${fmtNum(result.ceiling.live / o.procs)} per process), ~${fmtNum(result.ceiling.prepacked)} msg/s prepacked (~${fmtNum(result.ceiling.prepacked / o.procs)} per process); a run well below these, with send lag p99 ≪ the latencies, measures the station`,
      `  sink: received ${sink.received}, forwarded ${sink.forwarded}, receipts ${sink.receipts}, dropped ${sink.dropped}; live p99 ${fmtMs(live.latencyMs.delivery.p99)} ms`,
    ];
    return { pool: poolReport, result, summary };
  } finally {
    await shardSet.close();
  }
}

/**
 * relay: `--pairs P` senders, each sending to its own receiver, together `--rate R` messages per second
 * for `--duration D` seconds (or stepping R up with `--find-max`).
 */
import type { Context } from '../context.ts';
import { runSteadyTraffic, steadySummary } from './steady-traffic.ts';
import type { ScenarioOutcome } from './scenario.ts';

export async function runRelay(ctx: Context): Promise<ScenarioOutcome> {
  const pairs = ctx.options.pairs;
  const { pool, result } = await runSteadyTraffic(ctx, {
    senders: pairs,
    receivers: pairs,
    receiverOf: (i) => i,
  });
  return { pool, result, summary: steadySummary(result) };
}

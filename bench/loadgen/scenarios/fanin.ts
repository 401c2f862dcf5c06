/**
 * fanin: `--senders S` users (default 20) all sending to one receiver, together `--rate R` messages per
 * second for `--duration D` seconds (or stepping R up with `--find-max`).
 */
import type { Context } from '../context.ts';
import { runSteadyTraffic, steadySummary } from './steady-traffic.ts';
import type { ScenarioOutcome } from './scenario.ts';

export const DEFAULT_FANIN_SENDERS = 20;

export async function runFanin(ctx: Context): Promise<ScenarioOutcome> {
  const senders = ctx.options.senders ?? DEFAULT_FANIN_SENDERS;
  const { pool, result } = await runSteadyTraffic(ctx, { senders, receivers: 1, receiverOf: () => 0 });
  return { pool, result, summary: steadySummary(result) };
}

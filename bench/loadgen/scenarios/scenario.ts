/** What a scenario hands back to the CLI. */
import type { PoolReport } from '../context.ts';

export interface ScenarioOutcome {
  /** The identity pool used, if any. */
  readonly pool?: PoolReport;
  /** The scenario's JSON result (the `result` field of the summary). */
  readonly result: unknown;
  /** The human summary, line by line. */
  readonly summary: readonly string[];
}

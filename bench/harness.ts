/**
 * The timing harness shared by the benchmarks (bench/*.bench.ts).
 *
 * Flags: `--json` (markdown table to stderr, JSON document to stdout), `--quick` (shorter warm-up, batches
 * and fewer rounds, for a smoke run) and `--filter=TEXT` (only cases whose group or implementation contains
 * TEXT, case-insensitive).
 *
 * Every case is first checked (`check()`), then warmed up for WARMUP_MS (at least 5 calls; the warm-up also
 * estimates the cost of one call), then timed in ROUNDS rounds of one batch each, the batch size chosen so
 * that a batch takes about BATCH_MS. Results are the median over the rounds of ops/s and of µs/op, plus the
 * fastest and slowest round.
 */
import { cpus } from 'node:os';

export interface BenchOptions {
  /** `--json`: the markdown table goes to stderr and a JSON document to stdout. */
  readonly json: boolean;
  /** `--quick`: 50 ms warm-up, 10 ms batches, 3 rounds (default 200 ms, 50 ms, 11). */
  readonly quick: boolean;
  /** `--filter=TEXT`, lower-cased: only cases whose group or implementation contains this text. */
  readonly filter: string | undefined;
  readonly warmupMs: number;
  readonly batchMs: number;
  readonly rounds: number;
}

/** Parse the command-line flags (unknown arguments are ignored). */
export function parseBenchArgs(argv: readonly string[] = process.argv.slice(2)): BenchOptions {
  const args = new Set(argv);
  const quick = args.has('--quick');
  return {
    json: args.has('--json'),
    quick,
    filter: [...args]
      .find((a) => a.startsWith('--filter='))
      ?.slice('--filter='.length)
      .toLowerCase(),
    warmupMs: quick ? 50 : 200,
    batchMs: quick ? 10 : 50,
    rounds: quick ? 3 : 11,
  };
}

export interface Case {
  group: string;
  impl: string;
  /** Whether production code uses this implementation. */
  production: boolean;
  /** Returns true when the implementation gives the right answers (crypto: on the shared vectors). */
  check: () => boolean;
  run: () => unknown;
}

export interface Result {
  group: string;
  impl: string;
  production: boolean;
  /** Whether `check()` returned true (without throwing). */
  vectorsOk: boolean;
  batch: number;
  rounds: number;
  opsPerSec: number;
  usPerOp: number;
  /** Fastest and slowest round, µs/op. */
  usPerOpMin: number;
  usPerOpMax: number;
}

let sink = 0;

/** Fold a result into a global sink so that the work cannot be optimized away. */
export function consume(value: unknown): void {
  if (value instanceof Uint8Array) sink ^= value.length ^ (value[0] ?? 0);
  else if (value === true) sink ^= 1;
  else if (typeof value === 'string') sink ^= value.length;
  else if (typeof value === 'object' && value !== null) sink ^= 2;
}

/** The current sink value (reported in the JSON output). */
export function sinkValue(): number {
  return sink;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Run `check()`; a throwing check counts as failed. */
export function runCheck(c: Case): boolean {
  try {
    return c.check();
  } catch {
    return false;
  }
}

/** Check (unless `vectorsOk` is given), warm up and time one case. */
export function measure(c: Case, options: BenchOptions, vectorsOk: boolean = runCheck(c)): Result {
  // warm-up, also estimating the cost of one op
  let calls = 0;
  const warmStart = performance.now();
  while (calls < 5 || performance.now() - warmStart < options.warmupMs) {
    consume(c.run());
    calls++;
  }
  const perOpMs = (performance.now() - warmStart) / calls;
  const batch = Math.max(1, Math.round(options.batchMs / perOpMs));
  const opsPerSec: number[] = [];
  const usPerOp: number[] = [];
  for (let r = 0; r < options.rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) consume(c.run());
    const ns = Number(process.hrtime.bigint() - t0);
    opsPerSec.push((batch * 1e9) / ns);
    usPerOp.push(ns / 1e3 / batch);
  }
  return {
    group: c.group,
    impl: c.impl,
    production: c.production,
    vectorsOk,
    batch,
    rounds: options.rounds,
    opsPerSec: median(opsPerSec),
    usPerOp: median(usPerOp),
    usPerOpMin: Math.min(...usPerOp),
    usPerOpMax: Math.max(...usPerOp),
  };
}

/** The cases selected by `--filter`. */
export function selectCases(cases: readonly Case[], options: BenchOptions): Case[] {
  const { filter } = options;
  return cases.filter((c) => !filter || `${c.group} ${c.impl}`.toLowerCase().includes(filter));
}

/** Thrown by runCases in `abortOnFailedCheck` mode, before anything is timed. */
export class CheckFailedError extends Error {
  readonly failed: readonly Case[];
  constructor(failed: readonly Case[]) {
    super(`check failed, nothing timed: ${failed.map((c) => `${c.group} / ${c.impl}`).join('; ')}`);
    this.name = 'CheckFailedError';
    this.failed = failed;
  }
}

export interface RunOptions {
  /**
   * Run every selected check before timing anything and throw CheckFailedError if one fails. Otherwise
   * (the default) a failed check is only reported (`vectorsOk: false`, "WRONG" in the table).
   */
  readonly abortOnFailedCheck?: boolean;
}

/** Measure the selected cases in order; elapsedS covers the checks and the timing. */
export function runCases(
  cases: readonly Case[],
  options: BenchOptions,
  run: RunOptions = {},
): { results: Result[]; elapsedS: number } {
  const started = performance.now();
  const selected = selectCases(cases, options);
  const results: Result[] = [];
  if (run.abortOnFailedCheck) {
    const failed = selected.filter((c) => !runCheck(c));
    if (failed.length > 0) throw new CheckFailedError(failed);
    for (const c of selected) results.push(measure(c, options, true));
  } else {
    for (const c of selected) results.push(measure(c, options));
  }
  return { results, elapsedS: (performance.now() - started) / 1000 };
}

/** Numbers for the table: thousands separators from 100 up, else 3 significant digits or so. */
export function fmt(n: number): string {
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export interface BenchMeta {
  node: string;
  openssl: string;
  cpu: string;
  cpus: number;
  date: string;
  rounds: number;
  batchMs: number;
  warmupMs: number;
  elapsedS: number;
}

export function benchMeta(options: BenchOptions, elapsedS: number): BenchMeta {
  return {
    node: process.version,
    openssl: process.versions.openssl,
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    date: new Date().toISOString(),
    rounds: options.rounds,
    batchMs: options.batchMs,
    warmupMs: options.warmupMs,
    elapsedS: Number(elapsedS.toFixed(1)),
  };
}

/** Column headers of the markdown table; the defaults are the crypto benchmark's. */
export interface TableColumns {
  readonly operation: string;
  readonly implementation: string;
  /** Header of the production column; the column is left out when undefined. */
  readonly production: string | undefined;
  readonly check: string;
  readonly rate: string;
  readonly time: string;
  readonly range: string;
}

export const DEFAULT_COLUMNS: TableColumns = {
  operation: 'operation',
  implementation: 'implementation',
  production: 'production',
  check: 'vectors',
  rate: 'median ops/s',
  time: 'median µs/op',
  range: 'µs/op range',
};

export function markdownTable(results: readonly Result[], columns: TableColumns = DEFAULT_COLUMNS): string {
  const withProduction = columns.production !== undefined;
  const header = [columns.operation, columns.implementation];
  const align = ['---', '---'];
  if (withProduction) {
    header.push(columns.production ?? '');
    align.push(':-:');
  }
  header.push(columns.check, columns.rate, columns.time, columns.range);
  align.push(':-:', '--:', '--:', '--:');
  const row = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const lines = [row(header), `|${align.join('|')}|`];
  for (const r of results) {
    const cells = [r.group, r.impl];
    if (withProduction) cells.push(r.production ? '**yes**' : 'no');
    cells.push(
      r.vectorsOk ? 'ok' : 'WRONG',
      fmt(r.opsPerSec),
      fmt(r.usPerOp),
      `${fmt(r.usPerOpMin)}–${fmt(r.usPerOpMax)}`,
    );
    lines.push(row(cells));
  }
  return lines.join('\n');
}

/** The one-line description of the machine and the timing parameters under the table. */
export function footerLine(meta: BenchMeta): string {
  return `${meta.node} (OpenSSL ${meta.openssl}), ${meta.cpus} × ${meta.cpu}; ${meta.rounds} rounds of ~${meta.batchMs} ms batches after ${meta.warmupMs} ms warm-up; ${meta.elapsedS} s total.`;
}

export interface ReportOptions {
  readonly columns?: TableColumns;
  /** Lines printed after the footer line. */
  readonly notes?: readonly string[];
  /** Extra top-level fields of the JSON document (after `meta`, `results`, `sink`). */
  readonly json?: Record<string, unknown>;
}

/**
 * Print the results: the markdown table and footer to stdout, or with `--json` the table to stderr and
 * `{meta, results, sink, ...}` to stdout. Sets a failing exit code when a check failed.
 */
export function report(
  results: readonly Result[],
  meta: BenchMeta,
  options: BenchOptions,
  extra: ReportOptions = {},
): void {
  const notes = extra.notes && extra.notes.length > 0 ? `${extra.notes.join('\n')}\n` : '';
  const table = `${markdownTable(results, extra.columns)}\n\n${footerLine(meta)}\n${notes}`;
  if (options.json) {
    process.stderr.write(table);
    process.stdout.write(`${JSON.stringify({ meta, results, sink, ...extra.json }, null, 2)}\n`);
  } else {
    process.stdout.write(table);
  }
  if (results.some((r) => !r.vectorsOk)) process.exitCode = 1;
}

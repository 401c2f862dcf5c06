/**
 * dim-loadgen: load for any DIMP station speaking MTP over TCP (or WebSocket), built only on the protocol
 * core (src/protocol), the MTP codec (src/transport/mtp-*.ts) and the client library (src/client).
 *
 *   npm exec -- node bench/loadgen/cli.ts --help
 *   npm exec -- node bench/loadgen/cli.ts relay --target 127.0.0.1:9394 --pairs 10 --rate 200 --duration 30
 *
 * Progress (once a second) and notes go to stderr. The human summary goes to stdout, or with `--json` to
 * stderr while stdout gets one JSON document (schema: bench/loadgen/README.md).
 * Exit status: 0 done (whatever the numbers), 1 the run failed (set-up, connection), 2 bad usage.
 */
import { cpus, hostname, loadavg } from 'node:os';
import { createContext } from './context.ts';
import { targetText } from './connect.ts';
import type { LoadgenOptions, Scenario } from './options.ts';
import { HELP, parseOptions, UsageError } from './options.ts';
import { createLog } from './output.ts';
import { runBacklog } from './scenarios/backlog.ts';
import { runFanin } from './scenarios/fanin.ts';
import { runIdle } from './scenarios/idle.ts';
import { runLogins } from './scenarios/logins.ts';
import { runRelay } from './scenarios/relay.ts';
import type { ScenarioOutcome } from './scenarios/scenario.ts';
import { runSelfCheck } from './scenarios/self-check.ts';
import type { Context } from './context.ts';

export const JSON_SCHEMA_VERSION = 1;

const RUNNERS: Record<Scenario, (ctx: Context) => Promise<ScenarioOutcome>> = {
  relay: runRelay,
  fanin: runFanin,
  logins: runLogins,
  idle: runIdle,
  backlog: runBacklog,
  'self-check': runSelfCheck,
};

function environment(): Record<string, unknown> {
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    hostname: hostname(),
    pid: process.pid,
  };
}

function optionsJson(o: LoadgenOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(o)) out[key] = value === undefined ? null : value;
  out['targets'] = o.targets.map(targetText);
  return out;
}

function finish(stdout: string, code: number): void {
  process.exitCode = code;
  // Exit once stdout is flushed: lingering sockets or timers must not keep a finished run alive.
  process.stdout.write(stdout, () => process.exit(code));
}

async function main(argv: readonly string[]): Promise<void> {
  let options: LoadgenOptions | undefined;
  try {
    options = parseOptions(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`dim-loadgen: ${err.message}\n(see --help)\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  if (options === undefined) {
    process.stdout.write(HELP);
    return;
  }
  const log = createLog(options.quiet);
  const ctx = createContext(options, log);
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const header = {
    tool: 'dim-loadgen',
    schema: JSON_SCHEMA_VERSION,
    scenario: options.scenario,
    startedAt,
  };
  if (options.framing === 'ws' && ['relay', 'fanin', 'backlog'].includes(options.scenario)) {
    ctx.warnings.push('WebSocket has no per-message OK: "acked" counts messages written, not accepted');
  }
  let outcome: ScenarioOutcome;
  try {
    outcome = await RUNNERS[options.scenario](ctx);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`dim-loadgen ${options.scenario}: ${message}\n`);
    const doc = {
      ...header,
      elapsedS: Math.round(performance.now() - t0) / 1000,
      error: message,
      warnings: ctx.warnings,
    };
    finish(options.json ? `${JSON.stringify(doc, null, 2)}\n` : '', 1);
    return;
  }
  const elapsedS = Math.round(performance.now() - t0) / 1000;
  const targets =
    options.scenario === 'self-check' ? 'in-process MTP sink' : options.targets.map(targetText).join(', ');
  const human = [
    `dim-loadgen ${options.scenario} → ${targets} (${options.framing}), ${elapsedS} s`,
    ...outcome.summary,
    ...ctx.warnings.map((w) => `WARNING: ${w}`),
  ].join('\n');
  if (options.json) {
    process.stderr.write(`${human}\n`);
    const doc = {
      ...header,
      elapsedS,
      environment: environment(),
      targets: options.scenario === 'self-check' ? [] : options.targets.map(targetText),
      framing: options.framing,
      options: optionsJson(options),
      pool: outcome.pool ?? null,
      result: outcome.result,
      warnings: ctx.warnings,
    };
    finish(`${JSON.stringify(doc, null, 2)}\n`, 0);
  } else {
    finish(`${human}\n`, 0);
  }
}

await main(process.argv.slice(2));

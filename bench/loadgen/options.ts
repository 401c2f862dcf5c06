/**
 * Command-line options of the load generator (`node bench/loadgen/cli.ts --help`).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { USER_IDENTITY_KINDS } from '../../src/client/user-identity.ts';
import type { UserIdentityKind } from '../../src/client/user-identity.ts';
import { parseTarget } from './connect.ts';
import type { Framing, Target } from './connect.ts';

export const SCENARIOS = ['relay', 'fanin', 'logins', 'idle', 'backlog', 'self-check'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** Scenarios that can run in several generator processes. */
export const PROCS_SCENARIOS: readonly Scenario[] = ['relay', 'fanin', 'logins', 'self-check'];

export const DEFAULT_CACHE_DIR = join(dirname(dirname(fileURLToPath(import.meta.url))), '.cache');

export interface LoadgenOptions {
  readonly scenario: Scenario;
  readonly targets: readonly Target[];
  readonly framing: Framing;
  readonly binds: readonly string[];
  readonly stationId: string | undefined;
  /** Pool size; undefined = as many users as the scenario needs. */
  readonly pool: number | undefined;
  readonly kinds: readonly UserIdentityKind[];
  readonly cacheDir: string;
  readonly json: boolean;
  readonly quiet: boolean;
  /** Generator processes (relay, fanin, logins, self-check); 1 = everything in this process. */
  readonly procs: number;
  readonly login: boolean;
  readonly verify: boolean;
  readonly prepack: boolean;
  readonly connectConcurrency: number;
  readonly connectTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly ackTimeoutMs: number;
  readonly receiptTimeoutMs: number;
  // traffic
  readonly rate: number;
  readonly durationS: number;
  readonly graceS: number;
  readonly pairs: number;
  readonly senders: number | undefined;
  readonly size: number;
  // find-max
  readonly findMax: boolean;
  readonly p99BoundMs: number;
  /** Send-lag p99 (ms) above which a step counts as generator-behind. */
  readonly lagBoundMs: number;
  readonly rateFactor: number;
  readonly rateStep: number | undefined;
  readonly maxSteps: number;
  // logins
  readonly concurrency: number;
  // idle
  readonly connections: number;
  readonly pingIntervalS: number;
  readonly pids: readonly number[];
  /** Hold until this wall-clock time (ms since the epoch) instead of --duration after the set-up. */
  readonly holdUntilMs: number | undefined;
  /** Written (JSON: connected, failed, at) once the set-up is done. */
  readonly readyFile: string | undefined;
  // backlog
  readonly messages: number;
  readonly drainTimeoutS: number;
  readonly settleS: number;
}

export const HELP = `dim-loadgen: a load generator for any DIMP station speaking MTP over TCP (or WebSocket).

usage: node bench/loadgen/cli.ts SCENARIO [options]      (Node 24: npm exec -- node bench/loadgen/cli.ts …)

scenarios:
  relay       --pairs P users send to P others, total --rate R msg/s for --duration D s (constant-rate
              open loop; latency from the scheduled send time). --find-max raises R step by step until
              loss > 0 or delivery p99 > --p99-bound (or the generator falls behind).
  fanin       --senders S users (default 20) → one receiver, total --rate R for --duration D (--find-max too).
  logins      --concurrency C loops of connect → handshake → login → close, for --duration D.
  idle        --connections N connections handshake (and log in), then only PING every --ping-interval s
              (default 16) for --duration D; with --pid PID (repeatable: every gateway) the station's RSS
              per connection (from /proc/PID/status; use a freshly started gateway), and the generator's
              own (heap after a GC with node --expose-gc). --pool below N reuses users (default ≤ 1000).
              For runs spread over several generator processes (bench/idle-connections.sh):
              --hold-until EPOCH_MS holds until that time instead of for --duration, and
              --ready-file PATH is written once this process's connections are set up.
  backlog     --messages N stored for an offline receiver by --senders S (default 1) at --rate R, then,
              --settle s (default 1) after the last OK, the receiver connects: time until all N are
              delivered (at most --drain-timeout s, default 60). The receiver first connects once to
              drain any old backlog.
  self-check  no station: the generator's own ceiling (pack/open per identity kind, and relay through an
              in-process MTP sink that acks, echoes to the receiver and answers each message with a receipt).
              --self-check is the same.

connection:
  --target HOST:PORT     station address; repeat to spread clients over gateways (default 127.0.0.1:9394)
  --framing mtp|ws       transport (default mtp)
  --bind ADDR            local address to connect from; repeat to use several (MTP; beats per-IP limits)
  --station ID           expected station ID (the handshake fails if another station answers)
  --no-login             handshake only, no login command
  --connect-concurrency N  connections being set up at once (default 64)
  --handshake-timeout MS (default 10000)   --ack-timeout MS (default 30000)   --connect-timeout MS (10000)
  --receipt-timeout MS   how long a login waits for its receipt (default 5000)

users:
  --pool N               identities in the pool (default: as many as the scenario needs; fewer = reuse)
  --kinds LIST           identity kinds in turn, from mkm-ecc,eth,mkm-rsa (default all three)
  --cache-dir DIR        identity cache (default bench/.cache: identities-<kind>-<n>.json)

traffic (relay, fanin, backlog):
  --rate R               total messages per second (default 100; backlog 200)
  --duration S           seconds of sending (default 10; idle: seconds of holding, 20; self-check 3)
  --grace S              wait at most this long after the last send for deliveries (default 5)
  --size BYTES           text size of each message (default 100)
  --prepack              pack (sign + encrypt) every message before the run: sending costs only the write
  --verify               receivers verify signatures (user messages and station receipts) as real clients
                         do (default off: it costs the generator ~0.5 ms per ECC signature)
  --find-max             step the rate: --rate-factor F (default 1.5) or --rate-step N, at most --max-steps
                         (default 12); stop on loss, p99 > --p99-bound MS (default 250), errors, or when
                         the generator falls behind its own schedule (send lag p99 > --lag-bound MS,
                         default half the p99 bound, within 20–100)

generator processes (relay, fanin, logins, self-check):
  --procs N              run the users in N worker processes (default 1: all in this one), each sending
                         rate / N of one interleaved schedule; relay pair i and fanin's receiver stay in one
                         process (i mod N); counts and histograms are merged into one report

output:
  --json                 JSON summary on stdout (progress and the human summary go to stderr)
  --quiet                no progress lines
  --help
`;

function num(value: string | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number ≥ ${min}`);
  return n;
}

function int(value: string | undefined, name: string, fallback: number, min = 0): number {
  const n = num(value, name, fallback, min);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer`);
  return n;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parse argv; returns undefined for --help. Throws UsageError. */
export function parseOptions(argv: readonly string[]): LoadgenOptions | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        'self-check': { type: 'boolean' },
        target: { type: 'string', multiple: true },
        framing: { type: 'string' },
        bind: { type: 'string', multiple: true },
        station: { type: 'string' },
        pool: { type: 'string' },
        kinds: { type: 'string' },
        'cache-dir': { type: 'string' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean' },
        procs: { type: 'string' },
        'no-login': { type: 'boolean' },
        verify: { type: 'boolean' },
        prepack: { type: 'boolean' },
        'connect-concurrency': { type: 'string' },
        'connect-timeout': { type: 'string' },
        'handshake-timeout': { type: 'string' },
        'ack-timeout': { type: 'string' },
        'receipt-timeout': { type: 'string' },
        rate: { type: 'string' },
        duration: { type: 'string' },
        grace: { type: 'string' },
        pairs: { type: 'string' },
        senders: { type: 'string' },
        size: { type: 'string' },
        'find-max': { type: 'boolean' },
        'p99-bound': { type: 'string' },
        'lag-bound': { type: 'string' },
        'rate-factor': { type: 'string' },
        'rate-step': { type: 'string' },
        'max-steps': { type: 'string' },
        concurrency: { type: 'string' },
        connections: { type: 'string' },
        'ping-interval': { type: 'string' },
        pid: { type: 'string', multiple: true },
        'hold-until': { type: 'string' },
        'ready-file': { type: 'string' },
        messages: { type: 'string' },
        'drain-timeout': { type: 'string' },
        settle: { type: 'string' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return undefined;
  const positional = parsed.positionals;
  let scenario: string | undefined = v['self-check'] ? 'self-check' : positional[0];
  if (v['self-check'] && positional[0] !== undefined && positional[0] !== 'self-check') {
    throw new UsageError('--self-check takes no scenario');
  }
  if (scenario === undefined) throw new UsageError(`a scenario is required: ${SCENARIOS.join(', ')}`);
  if (scenario === 'selfcheck') scenario = 'self-check';
  if (!(SCENARIOS as readonly string[]).includes(scenario)) {
    throw new UsageError(`unknown scenario "${scenario}": ${SCENARIOS.join(', ')}`);
  }
  if (positional.length > 1) throw new UsageError(`unexpected argument "${positional[1]}"`);
  const framing = v.framing ?? 'mtp';
  if (framing !== 'mtp' && framing !== 'ws') throw new UsageError('--framing must be mtp or ws');
  let targets: Target[];
  try {
    targets = (v.target ?? ['127.0.0.1:9394']).map(parseTarget);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const kinds = (v.kinds ?? USER_IDENTITY_KINDS.join(','))
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k.length > 0);
  for (const kind of kinds) {
    if (!(USER_IDENTITY_KINDS as readonly string[]).includes(kind)) {
      throw new UsageError(`unknown identity kind "${kind}": ${USER_IDENTITY_KINDS.join(', ')}`);
    }
  }
  if (kinds.length === 0) throw new UsageError('--kinds is empty');
  const binds = v.bind ?? [];
  if (binds.length > 0 && framing === 'ws') throw new UsageError('--bind works with --framing mtp only');
  const pids = (v.pid ?? []).map((p) => int(p, 'pid', 0, 1));
  const s = scenario as Scenario;
  const p99BoundMs = num(v['p99-bound'], 'p99-bound', 250, 0);
  const procs = int(v.procs, 'procs', 1, 1);
  if (procs > 1 && !PROCS_SCENARIOS.includes(s)) {
    throw new UsageError(`--procs works with ${PROCS_SCENARIOS.join(', ')} (not ${s})`);
  }
  const rateFactor = num(v['rate-factor'], 'rate-factor', 1.5, 1);
  if (rateFactor <= 1 && v['rate-step'] === undefined) throw new UsageError('--rate-factor must be > 1');
  return {
    scenario: s,
    targets,
    framing,
    binds,
    stationId: v.station,
    pool: v.pool === undefined ? undefined : int(v.pool, 'pool', 0, 1),
    kinds: kinds as UserIdentityKind[],
    cacheDir: resolve(v['cache-dir'] ?? DEFAULT_CACHE_DIR),
    json: v.json ?? false,
    quiet: v.quiet ?? false,
    procs,
    login: !(v['no-login'] ?? false),
    verify: v.verify ?? false,
    prepack: v.prepack ?? false,
    connectConcurrency: int(v['connect-concurrency'], 'connect-concurrency', 64, 1),
    connectTimeoutMs: int(v['connect-timeout'], 'connect-timeout', 10_000, 1),
    handshakeTimeoutMs: int(v['handshake-timeout'], 'handshake-timeout', 10_000, 1),
    ackTimeoutMs: int(v['ack-timeout'], 'ack-timeout', 30_000, 1),
    receiptTimeoutMs: int(v['receipt-timeout'], 'receipt-timeout', 5_000, 0),
    rate: num(v.rate, 'rate', s === 'backlog' ? 200 : 100, 0.001),
    durationS: num(v.duration, 'duration', s === 'idle' ? 20 : s === 'self-check' ? 3 : 10, 0.001),
    graceS: num(v.grace, 'grace', 5, 0),
    pairs: int(v.pairs, 'pairs', 10, 1),
    senders: v.senders === undefined ? undefined : int(v.senders, 'senders', 1, 1),
    size: int(v.size, 'size', 100, 0),
    findMax: v['find-max'] ?? false,
    p99BoundMs,
    lagBoundMs: num(v['lag-bound'], 'lag-bound', Math.max(20, Math.min(100, p99BoundMs / 2)), 0),
    rateFactor,
    rateStep: v['rate-step'] === undefined ? undefined : num(v['rate-step'], 'rate-step', 0, 0.001),
    maxSteps: int(v['max-steps'], 'max-steps', 12, 1),
    concurrency: int(v.concurrency, 'concurrency', 10, 1),
    connections: int(v.connections, 'connections', 100, 1),
    pingIntervalS: num(v['ping-interval'], 'ping-interval', 16, 0.01),
    pids,
    holdUntilMs: v['hold-until'] === undefined ? undefined : int(v['hold-until'], 'hold-until', 0, 1),
    readyFile: v['ready-file'],
    messages: int(v.messages, 'messages', 100, 1),
    drainTimeoutS: num(v['drain-timeout'], 'drain-timeout', 60, 0.001),
    settleS: num(v.settle, 'settle', 1, 0),
  };
}

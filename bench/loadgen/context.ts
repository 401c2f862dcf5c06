/**
 * What every scenario gets: the options, stderr logging, the connection settings, the identity pool, and
 * the bulk set-up of connected users (connect → handshake → login, with timings and failures counted).
 */
import { KeyDirectory } from '../../src/client/key-directory.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import { closeAll, connectUser, failureKey, mapLimit } from './connect.ts';
import type { ConnectConfig, ConnectedUser, ConnectSteps } from './connect.ts';
import { Histogram } from './histogram.ts';
import type { HistogramData, LatencySummary } from './histogram.ts';
import { loadPool } from './identity-pool.ts';
import type { IdentityPool } from './identity-pool.ts';
import type { LoadgenOptions } from './options.ts';
import type { Log } from './output.ts';
import { round, startProgress } from './output.ts';

export interface Context {
  readonly options: LoadgenOptions;
  readonly log: Log;
  readonly connect: ConnectConfig;
  /** Things the reader of the report should know (printed and in the JSON). */
  readonly warnings: string[];
}

export function createContext(options: LoadgenOptions, log: Log): Context {
  return {
    options,
    log,
    warnings: [],
    connect: {
      targets: options.targets,
      framing: options.framing,
      binds: options.binds,
      stationId: options.stationId,
      connectTimeoutMs: options.connectTimeoutMs,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      ackTimeoutMs: options.ackTimeoutMs,
      receiptTimeoutMs: options.receiptTimeoutMs,
    },
  };
}

export interface PoolReport {
  readonly size: number;
  readonly kinds: Readonly<Record<string, number>>;
  readonly generated: number;
  readonly loadSeconds: number;
  readonly cacheDir: string;
}

/**
 * The identity pool: `--pool` users, else `needed`. With `distinct` the scenario needs `needed` different
 * users and a smaller pool is an error; otherwise users are reused in turn.
 */
export function loadIdentities(
  ctx: Context,
  needed: number,
  distinct: boolean,
): { pool: IdentityPool; report: PoolReport } {
  const size = ctx.options.pool ?? needed;
  if (distinct && size < needed) {
    throw new Error(`this scenario needs ${needed} distinct users; --pool ${size} is too small`);
  }
  const pool = loadPool({
    size,
    kinds: ctx.options.kinds,
    cacheDir: ctx.options.cacheDir,
    onProgress: (m) => ctx.log.note(m),
  });
  if (pool.generated > 0) {
    ctx.log.note(
      `generated ${pool.generated} identities in ${pool.loadSeconds.toFixed(1)} s (cached in ${ctx.options.cacheDir})`,
    );
  }
  return {
    pool,
    report: {
      size,
      kinds: pool.byKind,
      generated: pool.generated,
      loadSeconds: round(pool.loadSeconds, 2),
      cacheDir: ctx.options.cacheDir,
    },
  };
}

/** A key directory knowing every identity given (so that anyone can encrypt to anyone). */
export function directoryOf(identities: readonly UserIdentity[]): KeyDirectory {
  const directory = new KeyDirectory();
  for (const identity of identities) {
    if (!directory.has(identity.id)) directory.add(identity);
  }
  return directory;
}

export interface SetupReport {
  readonly label: string;
  readonly requested: number;
  readonly connected: number;
  /** Failures by `step:code` (connect:CONNECT_FAILED, handshake:HANDSHAKE_TIMEOUT…). */
  readonly failures: Readonly<Record<string, number>>;
  readonly seconds: number;
  readonly connectMs: LatencySummary;
  readonly handshakeMs: LatencySummary;
  readonly loginMs: LatencySummary;
  /** Login receipt texts ("(none)" when none came within --receipt-timeout). */
  readonly loginReceipts: Readonly<Record<string, number>>;
}

/** A set-up as plain data (one generator process's part), merged into a report by `setupReportOf`. */
export interface SetupData {
  readonly label: string;
  readonly requested: number;
  readonly connected: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly seconds: number;
  readonly connect: HistogramData;
  readonly handshake: HistogramData;
  readonly login: HistogramData;
  readonly loginReceipts: Readonly<Record<string, number>>;
}

function addCounts(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [key, n] of Object.entries(from)) into[key] = (into[key] ?? 0) + n;
}

/** The report of a set-up done in parts (processes set up their users in parallel: seconds is the longest). */
export function setupReportOf(parts: readonly SetupData[]): SetupReport {
  const failures: Record<string, number> = {};
  const receipts: Record<string, number> = {};
  for (const part of parts) {
    addCounts(failures, part.failures);
    addCounts(receipts, part.loginReceipts);
  }
  const merged = (pick: (d: SetupData) => HistogramData): LatencySummary =>
    Histogram.merge(parts.map((d) => Histogram.fromJSON(pick(d)))).summary();
  return {
    label: parts[0]?.label ?? '',
    requested: parts.reduce((a, d) => a + d.requested, 0),
    connected: parts.reduce((a, d) => a + d.connected, 0),
    failures,
    seconds: Math.max(0, ...parts.map((d) => d.seconds)),
    connectMs: merged((d) => d.connect),
    handshakeMs: merged((d) => d.handshake),
    loginMs: merged((d) => d.login),
    loginReceipts: receipts,
  };
}

/** The note printed once a set-up is done. */
export function noteSetup(log: Log, report: SetupReport): void {
  log.note(
    `[setup ${report.label}] ${report.connected}/${report.requested} connected in ${report.seconds} s` +
      (report.handshakeMs.count > 0 ? `, handshake p50 ${report.handshakeMs.p50} ms` : '') +
      (report.loginMs.count > 0 ? `, login p50 ${report.loginMs.p50} ms` : ''),
  );
}

let connectionCounter = 0;

/** A fresh connection index: targets and local addresses are taken in turn over the whole run. */
export function nextConnectionIndex(): number {
  return connectionCounter++;
}

/**
 * Connect, handshake and log in every identity (at most --connect-concurrency at once). With `required`
 * any failure closes what was opened and throws; otherwise failures are counted and skipped.
 */
export async function setupUsers(
  ctx: Context,
  label: string,
  identities: readonly UserIdentity[],
  directory: KeyDirectory,
  options: { readonly steps?: ConnectSteps; readonly required?: boolean } = {},
): Promise<{ users: ConnectedUser[]; report: SetupReport; data: SetupData }> {
  const steps = options.steps ?? { handshake: true, login: ctx.options.login };
  const required = options.required ?? true;
  const started = performance.now();
  const connect = new Histogram();
  const handshake = new Histogram();
  const login = new Histogram();
  const failures: Record<string, number> = {};
  const receipts: Record<string, number> = {};
  let done = 0;
  const stopProgress = startProgress(
    ctx.log,
    () =>
      `[setup ${label}] ${done}/${identities.length} connected, ${Object.values(failures).reduce((a, b) => a + b, 0)} failed`,
  );
  const settled = await mapLimit(identities, ctx.options.connectConcurrency, async (identity) => {
    try {
      const user = await connectUser(ctx.connect, identity, directory, steps, nextConnectionIndex());
      connect.recordMs(user.connectMs);
      if (user.handshakeMs !== undefined) handshake.recordMs(user.handshakeMs);
      if (user.loginMs !== undefined) {
        login.recordMs(user.loginMs);
        const text = user.loginReceipt ?? '(none)';
        receipts[text] = (receipts[text] ?? 0) + 1;
      }
      done += 1;
      return user;
    } catch (err) {
      const key = failureKey(err);
      failures[key] = (failures[key] ?? 0) + 1;
      throw err;
    }
  });
  stopProgress();
  const users: ConnectedUser[] = [];
  let firstError: unknown;
  for (const result of settled) {
    if (result.status === 'fulfilled') users.push(result.value);
    else firstError ??= result.reason;
  }
  const data: SetupData = {
    label,
    requested: identities.length,
    connected: users.length,
    failures,
    seconds: round((performance.now() - started) / 1000, 2),
    connect: connect.toJSON(),
    handshake: handshake.toJSON(),
    login: login.toJSON(),
    loginReceipts: receipts,
  };
  const report = setupReportOf([data]);
  if (firstError !== undefined && required) {
    await closeAll(users.map((u) => u.client));
    const reason = firstError instanceof Error ? firstError.message : String(firstError);
    throw new Error(
      `set-up of ${label} failed for ${identities.length - users.length}/${identities.length} users (${JSON.stringify(failures)}); first: ${reason}`,
    );
  }
  noteSetup(ctx.log, report);
  return { users, report, data };
}

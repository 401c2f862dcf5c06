/**
 * Smoke tests of the load generator (bench/loadgen/cli.ts): every scenario runs for a second or so with
 * tiny numbers against an in-process station (rate limits raised), through the real CLI, and its JSON
 * summary must be sane. This keeps the tool from rotting; it measures nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestStation } from '../helpers/station-harness.ts';
import type { TestStation } from '../helpers/station-harness.ts';

const cli = fileURLToPath(new URL('../../bench/loadgen/cli.ts', import.meta.url));

interface Latency {
  count: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
}

interface Phase {
  counts: {
    scheduled: number;
    sent: number;
    acked: number;
    delivered: number;
    lost: number;
    duplicated: number;
    invalid: number;
    receipts: number;
    receiptTexts: Record<string, number>;
    sendErrors: Record<string, number>;
  };
  rates: { sent: number; delivered: number };
  latencyMs: { delivery: Latency; ack: Latency; sendLag: Latency };
  generator: { cpuPercent: number; processes?: Array<{ pid: number; cpuPercent: number }> };
  verdict?: string;
}

interface Summary {
  tool: string;
  schema: number;
  scenario: string;
  result: Record<string, unknown>;
  warnings: string[];
  pool: { size: number } | null;
  options: Record<string, unknown>;
  environment: { pid: number };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI (asynchronously: the station lives in this process and must keep serving). */
function runCli(args: readonly string[], timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Whether process `pid` still runs (a zombie waiting for its parent to reap it does not count). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The worker pids of a run from its `[procs] N generator processes: pids a, b` note. */
function workerPids(stderr: string): number[] {
  const m = /generator processes: pids ([\d, ]+)/.exec(stderr);
  return m === null ? [] : m[1]!.split(',').map((p) => Number(p.trim()));
}

/** --procs N: the phase's generator stats name N worker processes (not the coordinator). */
function assertProcesses(generator: Phase['generator'], procs: number, coordinatorPid: number): void {
  const processes = generator.processes ?? [];
  assert.equal(processes.length, procs, JSON.stringify(generator));
  assert.equal(new Set(processes.map((p) => p.pid)).size, procs);
  assert.ok(processes.every((p) => p.pid !== coordinatorPid && p.cpuPercent > 0));
  const sum = processes.reduce((a, p) => a + p.cpuPercent, 0);
  assert.ok(Math.abs(generator.cpuPercent - sum) < 0.5, 'aggregate CPU is the sum');
}

function assertLatency(l: Latency, count: number, name: string): void {
  assert.equal(l.count, count, `${name} count`);
  assert.ok(
    l.min > 0 && l.p50 > 0 && l.p99 >= l.p50 && l.max >= l.p99,
    `${name} latencies: ${JSON.stringify(l)}`,
  );
}

/** A phase of a low-rate run: everything sent is acknowledged and delivered exactly once. */
function assertCleanPhase(phase: Phase, expected: number): void {
  const c = phase.counts;
  assert.equal(c.scheduled, expected);
  assert.equal(c.sent, expected);
  assert.equal(c.acked, c.sent);
  assert.equal(c.delivered, c.sent);
  assert.equal(c.lost, 0);
  assert.equal(c.duplicated, 0);
  assert.equal(c.invalid, 0);
  assert.deepEqual(c.sendErrors, {});
  assert.equal(c.receipts, c.sent, 'one receipt per message');
  assert.deepEqual(Object.keys(c.receiptTexts), ['Message delivered.']);
  assert.ok(phase.rates.sent > 0 && phase.rates.delivered > 0);
  assertLatency(phase.latencyMs.delivery, expected, 'delivery');
  assertLatency(phase.latencyMs.ack, expected, 'ack');
  assert.ok(phase.generator.cpuPercent > 0);
}

describe('load generator (bench/loadgen) against an in-process station', () => {
  let station: TestStation;
  let cacheDir: string;
  let common: string[];

  const run = async (args: readonly string[]): Promise<Summary> => {
    const { code, stdout, stderr } = await runCli([...args, ...common]);
    assert.equal(code, 0, `exit ${code}\nstderr:\n${stderr}`);
    const summary = JSON.parse(stdout) as Summary;
    assert.equal(summary.tool, 'dim-loadgen');
    assert.equal(summary.schema, 1);
    assert.equal(summary.scenario, args[0]);
    return summary;
  };

  before(async () => {
    station = await startTestStation({
      env: { DIM_RATE_MESSAGES_PER_SECOND: '10000', DIM_RATE_BURST: '10000' },
    });
    cacheDir = await mkdtemp(join(tmpdir(), 'dim-loadgen-'));
    common = ['--json', '--quiet', '--target', `127.0.0.1:${station.port}`, '--cache-dir', cacheDir];
  });

  after(async () => {
    await station.close();
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('--help prints the scenarios; a bad scenario is a usage error', async () => {
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    for (const name of [
      'relay',
      'fanin',
      'logins',
      'idle',
      'backlog',
      'self-check',
      '--find-max',
      '--json',
    ]) {
      assert.ok(help.stdout.includes(name), name);
    }
    const bad = await runCli(['nonsense']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown scenario/);
  });

  it('relay: every message acknowledged and delivered once, at a low rate', async () => {
    const s = await run(['relay', '--pairs', '3', '--rate', '30', '--duration', '1', '--grace', '3']);
    const result = s.result as { senders: number; receivers: number; phases: Phase[] };
    assert.equal(result.senders, 3);
    assert.equal(result.receivers, 3);
    assert.equal(result.phases.length, 1);
    assertCleanPhase(result.phases[0]!, 30);
    assert.equal(s.pool?.size, 6);
  });

  it('relay --procs 2: pairs split over two worker processes, one merged report', async () => {
    const s = await run([
      'relay',
      '--procs',
      '2',
      '--pairs',
      '4',
      '--rate',
      '40',
      '--duration',
      '1',
      '--grace',
      '3',
    ]);
    const result = s.result as {
      senders: number;
      receivers: number;
      setup: Array<{ requested: number; connected: number }>;
      phases: Phase[];
    };
    assert.equal(s.options['procs'], 2);
    assert.equal(result.senders, 4);
    assert.equal(result.receivers, 4);
    assert.deepEqual(
      result.setup.map((x) => [x.requested, x.connected]),
      [
        [4, 4],
        [4, 4],
      ],
    );
    assertCleanPhase(result.phases[0]!, 40);
    assertProcesses(result.phases[0]!.generator, 2, s.environment.pid);
  });

  it('relay --procs 2 --find-max --prepack: every step runs in both processes', async () => {
    const s = await run([
      'relay',
      '--procs',
      '2',
      '--prepack',
      '--pairs',
      '2',
      '--rate',
      '20',
      '--duration',
      '0.5',
      '--grace',
      '3',
      '--find-max',
      '--rate-factor',
      '2',
      '--max-steps',
      '2',
      '--p99-bound',
      '5000',
      '--lag-bound',
      '5000',
    ]);
    const result = s.result as { phases: Phase[]; findMax: { maxRate: number } };
    assert.equal(result.phases.length, 2);
    assertCleanPhase(result.phases[0]!, 10);
    assertCleanPhase(result.phases[1]!, 20);
    assert.equal(result.findMax.maxRate, 40);
    for (const phase of result.phases) assertProcesses(phase.generator, 2, s.environment.pid);
  });

  it('--procs 2: a worker that cannot connect fails the run (exit 1) and no worker is left behind', async () => {
    const { code, stdout, stderr } = await runCli([
      'relay',
      '--procs',
      '2',
      '--pairs',
      '2',
      '--duration',
      '1',
      '--json',
      '--target',
      '127.0.0.1:1',
      '--connect-timeout',
      '2000',
      '--cache-dir',
      cacheDir,
    ]);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /generator process \d\/2 \(pid \d+\): set-up of receivers failed/);
    const doc = JSON.parse(stdout) as { error: string };
    assert.match(doc.error, /CONNECT_FAILED|connect/i);
    const pids = workerPids(stderr);
    assert.equal(pids.length, 2, stderr);
    assert.ok(
      pids.every((pid) => !alive(pid)),
      `workers still running: ${pids.filter(alive).join(', ')}`,
    );
  });

  it('relay --find-max (prepacked, WebSocket) steps the rate up', async () => {
    const s = await run([
      'relay',
      '--framing',
      'ws',
      '--prepack',
      '--pairs',
      '2',
      '--rate',
      '20',
      '--duration',
      '0.5',
      '--grace',
      '3',
      '--find-max',
      '--rate-factor',
      '2',
      '--max-steps',
      '2',
      '--p99-bound',
      '5000',
      '--lag-bound',
      '5000',
    ]);
    const result = s.result as { phases: Phase[]; findMax: { maxRate: number; stopReason: string } };
    assert.equal(result.phases.length, 2);
    assertCleanPhase(result.phases[0]!, 10);
    assertCleanPhase(result.phases[1]!, 20);
    assert.deepEqual(
      result.phases.map((p) => p.verdict),
      ['pass', 'pass'],
    );
    assert.equal(result.findMax.maxRate, 40);
    assert.equal(result.findMax.stopReason, 'max-steps');
  });

  it('fanin (receivers verifying signatures): many senders to one receiver', async () => {
    const s = await run([
      'fanin',
      '--senders',
      '4',
      '--rate',
      '40',
      '--duration',
      '1',
      '--grace',
      '3',
      '--verify',
    ]);
    const result = s.result as { senders: number; receivers: number; verify: boolean; phases: Phase[] };
    assert.equal(result.senders, 4);
    assert.equal(result.receivers, 1);
    assert.equal(result.verify, true);
    assertCleanPhase(result.phases[0]!, 40);
  });

  it('logins: handshakes and logins on new connections', async () => {
    const s = await run(['logins', '--concurrency', '2', '--duration', '1']);
    const r = s.result as {
      completed: number;
      handshakes: number;
      logins: number;
      failures: Record<string, number>;
      loginReceipts: Record<string, number>;
      rates: { handshakesPerSecond: number; loginsPerSecond: number };
      latencyMs: { connect: Latency; handshake: Latency; login: Latency; total: Latency };
    };
    assert.ok(r.completed > 0);
    assert.equal(r.handshakes, r.completed);
    assert.equal(r.logins, r.completed);
    assert.deepEqual(r.failures, {});
    assert.deepEqual(r.loginReceipts, { 'Login received.': r.completed });
    assert.ok(r.rates.handshakesPerSecond > 0 && r.rates.loginsPerSecond > 0);
    for (const name of ['connect', 'handshake', 'login', 'total'] as const) {
      assertLatency(r.latencyMs[name], r.completed, name);
    }
  });

  it('logins --procs 2: loops split over two processes, counts merged', async () => {
    const s = await run(['logins', '--procs', '2', '--concurrency', '3', '--duration', '1']);
    const r = s.result as {
      completed: number;
      handshakes: number;
      logins: number;
      failures: Record<string, number>;
      loginReceipts: Record<string, number>;
      latencyMs: { total: Latency; connect: Latency };
      generator: Phase['generator'];
    };
    assert.equal(s.options['procs'], 2);
    assert.ok(r.completed > 1);
    assert.equal(r.handshakes, r.completed);
    assert.equal(r.logins, r.completed);
    assert.deepEqual(r.failures, {});
    assert.deepEqual(r.loginReceipts, { 'Login received.': r.completed });
    assertLatency(r.latencyMs.total, r.completed, 'total');
    assertLatency(r.latencyMs.connect, r.completed, 'connect');
    assertProcesses(r.generator, 2, s.environment.pid);
  });

  it('--procs is refused where it does not apply', async () => {
    const bad = await runCli(['idle', '--procs', '2']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--procs works with relay, fanin, logins, self-check/);
  });

  it('idle: connections stay open and answer PINGs; the station RSS per connection is measured', async () => {
    const s = await run([
      'idle',
      '--connections',
      '5',
      '--duration',
      '1',
      '--ping-interval',
      '0.3',
      '--pid',
      String(process.pid),
    ]);
    const r = s.result as {
      connected: number;
      openAtEnd: number;
      pings: { ok: number; failed: Record<string, number> };
      pingRttMs: Latency;
      connectionsClosed: Record<string, number>;
      memory: { stationRssPerConnection: number | null; before: { stationRssBytes: number } };
    };
    assert.equal(r.connected, 5);
    assert.equal(r.openAtEnd, 5);
    assert.ok(r.pings.ok >= 5, `pings ${r.pings.ok}`);
    assert.deepEqual(r.pings.failed, {});
    assert.deepEqual(r.connectionsClosed, {});
    assertLatency(r.pingRttMs, r.pings.ok, 'ping');
    assert.ok(r.memory.before.stationRssBytes > 0);
    assert.equal(typeof r.memory.stationRssPerConnection, 'number');
  });

  it('backlog: every stored message is delivered when the receiver connects', async () => {
    const s = await run([
      'backlog',
      '--messages',
      '20',
      '--senders',
      '2',
      '--rate',
      '100',
      '--settle',
      '0.2',
      '--drain-timeout',
      '10',
    ]);
    const r = s.result as {
      messages: number;
      store: { sent: number; acked: number; receipts: Record<string, number> };
      drain: {
        delivered: number;
        lost: number;
        duplicated: number;
        complete: boolean;
        firstMessageMs: number;
        allDeliveredMs: number;
      };
    };
    assert.equal(r.store.sent, 20);
    assert.equal(r.store.acked, 20);
    assert.deepEqual(r.store.receipts, { 'Message cached.': 20 });
    assert.equal(r.drain.delivered, 20);
    assert.equal(r.drain.lost, 0);
    assert.equal(r.drain.duplicated, 0);
    assert.equal(r.drain.complete, true);
    assert.ok(r.drain.firstMessageMs > 0 && r.drain.allDeliveredMs >= r.drain.firstMessageMs);
  });

  it('self-check: the generator through an in-process MTP sink, no station', async () => {
    const s = await run(['self-check', '--pairs', '2', '--duration', '0.5']);
    const r = s.result as {
      cpu: Array<{ operation: string; kind: string; usPerOp: number }>;
      live: Phase;
      prepacked: Phase;
      ceiling: { live: number; prepacked: number };
    };
    assert.equal(r.cpu.length, 9, 'three operations × three kinds');
    assert.ok(r.cpu.every((c) => c.usPerOp > 0));
    assert.ok(
      s.warnings.every((w) => !w.includes('failed its check')),
      s.warnings.join('\n'),
    );
    for (const phase of [r.live, r.prepacked]) {
      assert.ok(phase.counts.sent > 0);
      assert.equal(phase.counts.delivered, phase.counts.sent);
      assert.equal(phase.counts.receipts, phase.counts.sent);
    }
    assert.ok(r.ceiling.live > 0 && r.ceiling.prepacked > 0);
  });

  it('self-check --procs 2: the aggregate ceiling of two processes, each with its own sink', async () => {
    const s = await run(['self-check', '--procs', '2', '--pairs', '2', '--duration', '0.5']);
    const r = s.result as {
      procs: number;
      live: Phase;
      prepacked: Phase;
      ceiling: { live: number; prepacked: number };
    };
    assert.equal(r.procs, 2);
    for (const phase of [r.live, r.prepacked]) {
      assert.ok(phase.counts.sent > 0);
      assert.equal(phase.counts.delivered, phase.counts.sent);
      assert.equal(phase.counts.lost, 0);
      assertProcesses(phase.generator, 2, s.environment.pid);
    }
    assert.ok(r.ceiling.live > 0 && r.ceiling.prepacked > 0);
  });
});

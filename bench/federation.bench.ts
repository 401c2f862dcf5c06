/**
 * Federation relay benchmark: `npm exec -- node bench/federation.bench.ts [--messages=N] [--window=W]
 * [--rounds=R] [--json]`.
 *
 * Two stations of ours as real processes (`node workers/station.ts`, embedded engine each), linked both
 * ways (DIM_NEIGHBORS, trusting each other). A on s1 sends N text messages to B:
 *  - relay: B logged in at s2 — station → neighbour → client (s1 routes by B's login record, its bridge
 *    sends over the link, s2 delivers);
 *  - local: B logged in at s1 — the same traffic without federation (baseline).
 * Up to W messages are unacknowledged at a time. Reported per case (median over rounds): throughput
 * (messages/s, first send to last receipt at B), latency (A's send → B receives it: p50/p95/p99) and the
 * CPU time of each station process per message (utime+stime from /proc, so µs of CPU per message).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { DimClient } from '../src/client/dim-client.ts';
import { KeyDirectory } from '../src/client/key-directory.ts';
import { MtpClientTransport } from '../src/client/mtp-client-transport.ts';
import { createUserIdentity } from '../src/client/user-identity.ts';
import type { UserIdentity } from '../src/client/user-identity.ts';
import { createStationIdentity } from '../src/identity/station-identity.ts';
import type { StationIdentity } from '../src/identity/station-identity.ts';
import { writeKeyFile } from '../src/identity/station-key-file.ts';

const repoDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name: string, fallback: number): number => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? fallback : Number(a.slice(name.length + 3));
};
const MESSAGES = arg('messages', 2000);
const WINDOW = arg('window', 64);
const ROUNDS = arg('rounds', 3);
const JSON_OUT = process.argv.includes('--json');
const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => done(port));
    });
  });
}

/** CPU seconds (user + system) a process used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

interface Station {
  readonly identity: StationIdentity;
  readonly port: number;
  child?: ChildProcess;
}

async function startStation(dir: string, s: Station, neighbour: Station): Promise<void> {
  const keyFile = join(dir, `${s.identity.id.name}.json`);
  await writeKeyFile(keyFile, s.identity);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DIM_')) env[k] = v;
  Object.assign(env, {
    DIM_HOST: '127.0.0.1',
    DIM_PORT: String(s.port),
    DIM_KEY_FILE: keyFile,
    DIM_DATA_DIR: dir,
    DIM_LOG_LEVEL: 'warn',
    DIM_OPS_PORT: '0',
    DIM_NEIGHBORS: `${neighbour.identity.id.string}=127.0.0.1:${neighbour.port}`,
    DIM_TRUSTED_STATIONS: neighbour.identity.id.string,
    DIM_RATE_MESSAGES_PER_SECOND: '100000',
    DIM_RATE_BURST: '100000',
  });
  const child = spawn(process.execPath, [join(repoDir, 'workers', 'station.ts')], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  s.child = child;
  await new Promise<void>((done, fail) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (/listening on/.test(out)) done();
    });
    child.once('exit', () => fail(new Error('station exited')));
  });
}

async function connect(s: Station, who: UserIdentity, directory: KeyDirectory): Promise<DimClient> {
  const transport = await MtpClientTransport.connect({ host: '127.0.0.1', port: s.port });
  const client = new DimClient({ transport, identity: who, keyDirectory: directory, historyLimit: 16 });
  await client.handshake();
  await client.login();
  return client;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

interface RoundResult {
  readonly rate: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly cpuS1: number;
  readonly cpuS2: number;
}

/** A sends MESSAGES to B with WINDOW in flight; resolves when B has them all. */
async function round(
  a: DimClient,
  b: DimClient,
  s1: Station,
  s2: Station,
  tag: string,
): Promise<RoundResult> {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let received = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((r) => (done = r));
  const off = b.on('message', (m) => {
    const t = sentAt.get(m.raw.signatureText);
    if (t === undefined) return;
    sentAt.delete(m.raw.signatureText);
    latencies.push(performance.now() - t);
    received += 1;
    if (received === MESSAGES) done();
  });
  const cpu0 = [cpuSeconds(s1.child?.pid as number), cpuSeconds(s2.child?.pid as number)];
  const start = performance.now();
  let inflight = 0;
  let next = 0;
  await new Promise<void>((finished) => {
    const pump = (): void => {
      while (inflight < WINDOW && next < MESSAGES) {
        const packed = a.pack(b.id, { type: 1, text: `${tag} ${next} ${'x'.repeat(80)}` });
        sentAt.set(packed.message.signatureText, performance.now());
        next += 1;
        inflight += 1;
        a.transport.send(packed.text).then(
          () => {
            inflight -= 1;
            if (next >= MESSAGES && inflight === 0) finished();
            else pump();
          },
          (err: unknown) => {
            throw err;
          },
        );
      }
    };
    pump();
  });
  await Promise.race([
    all,
    sleep(120_000).then(() => Promise.reject(new Error(`only ${received} received`))),
  ]);
  const elapsed = (performance.now() - start) / 1000;
  const cpu1 = [cpuSeconds(s1.child?.pid as number), cpuSeconds(s2.child?.pid as number)];
  off();
  latencies.sort((x, y) => x - y);
  return {
    rate: MESSAGES / elapsed,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
    cpuS1: ((cpu1[0]! - cpu0[0]!) / MESSAGES) * 1e6,
    cpuS2: ((cpu1[1]! - cpu0[1]!) / MESSAGES) * 1e6,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dim-fed-bench-'));
  const now = Date.now() / 1000;
  const s1: Station = {
    identity: createStationIdentity({ name: 'bench1', host: '127.0.0.1', rsaBits: 2048, now }),
    port: await freePort(),
  };
  const s2: Station = {
    identity: createStationIdentity({ name: 'bench2', host: '127.0.0.1', rsaBits: 2048, now }),
    port: await freePort(),
  };
  try {
    await startStation(dir, s1, s2);
    await startStation(dir, s2, s1);
    await sleep(2000); // links up
    const directory = new KeyDirectory();
    const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now });
    const bobRemote = createUserIdentity({ kind: 'mkm-ecc', name: 'bob', now });
    const bobLocal = createUserIdentity({ kind: 'mkm-ecc', name: 'carol', now });
    for (const u of [alice, bobRemote, bobLocal]) directory.add(u);
    const a = await connect(s1, alice, directory);
    const remote = await connect(s2, bobRemote, directory);
    const local = await connect(s1, bobLocal, directory);
    await sleep(1000); // s1 learns where bob is (his login broadcast relayed by s2)
    const probe = await a.sendText(bobRemote.id, 'probe');
    const text = (await a.waitReceipt(probe, 5000))?.text;
    if (text !== 'Message redirected.') throw new Error(`relay not set up: ${String(text)}`);
    const results: Record<string, RoundResult[]> = { relay: [], local: [] };
    for (let r = 0; r < ROUNDS; r++) {
      results['local']!.push(await round(a, local, s1, s2, `local ${r}`));
      results['relay']!.push(await round(a, remote, s1, s2, `relay ${r}`));
    }
    const summary = Object.fromEntries(
      Object.entries(results).map(([name, rs]) => [
        name,
        {
          rate: median(rs.map((x) => x.rate)),
          p50: median(rs.map((x) => x.p50)),
          p95: median(rs.map((x) => x.p95)),
          p99: median(rs.map((x) => x.p99)),
          cpuS1: median(rs.map((x) => x.cpuS1)),
          cpuS2: median(rs.map((x) => x.cpuS2)),
        },
      ]),
    );
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoDir }).toString().trim();
    const meta = {
      commit,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      messages: MESSAGES,
      window: WINDOW,
      rounds: ROUNDS,
    };
    if (JSON_OUT) process.stdout.write(`${JSON.stringify({ meta, summary, results })}\n`);
    const lines = [
      `federation bench — commit ${commit}, ${meta.cores}× ${meta.cpu}, ${MESSAGES} msgs, window ${WINDOW}, median of ${ROUNDS}`,
      '| case | msg/s | p50 ms | p95 ms | p99 ms | s1 CPU µs/msg | s2 CPU µs/msg |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...Object.entries(summary).map(
        ([name, s]) =>
          `| ${name} | ${s.rate.toFixed(0)} | ${s.p50.toFixed(1)} | ${s.p95.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.cpuS1.toFixed(0)} | ${s.cpuS2.toFixed(0)} |`,
      ),
    ];
    (JSON_OUT ? process.stderr : process.stdout).write(`${lines.join('\n')}\n`);
    await Promise.all([a, remote, local].map((c) => c.close()));
  } finally {
    for (const s of [s1, s2]) s.child?.kill('SIGTERM');
    await sleep(500);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

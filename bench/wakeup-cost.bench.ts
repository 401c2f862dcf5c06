/**
 * What one round trip to Redis costs in CPU when nothing else is going on — the unit a relayed message
 * pays many times over in the cluster at a low rate (bench/RESULTS.md, issue 9: "the cost is per hop and
 * per wake-up"). A Node process sends one command every `--interval` ms (a paced loop, like a message
 * every 10 ms at 100 msg/s) and waits for its reply; the same loop without the command is the baseline.
 * Reported per round trip, the baseline subtracted: CPU µs in the Node process (user + kernel, from
 * process.cpuUsage) and in redis-server (from /proc/<pid>/stat). Rounds alternate (with, without).
 *
 *   node bench/wakeup-cost.bench.ts [--count N] [--interval MS] [--rounds N] [--json]
 *
 * Commands: PING (the bare round trip), XADD of a 600-byte field (a publish), and a blocking
 * XREAD … BLOCK woken by another connection's XADD (a tail's read: two connections, two wake-ups in Node).
 * Started here: one redis-server on a free loopback port (no persistence: the write to the AOF is not what
 * is measured).
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { startRedisServer } from '../test/helpers/redis-server.ts';
import { median } from './harness.ts';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const COUNT = flag('--count', 1000);
const INTERVAL_MS = flag('--interval', 5);
const ROUNDS = flag('--rounds', 3);
const JSON_OUT = process.argv.includes('--json');
const PAYLOAD = 'x'.repeat(600);

function ticks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (after the state field)
}
const HZ = 100; // clock ticks per second (getconf CLK_TCK on Linux)

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Sample {
  readonly nodeUs: number;
  readonly redisUs: number;
}

/** CPU per iteration of a paced loop running `step` (µs), in this process and in Redis. */
async function paced(redisPid: number, step: () => Promise<unknown>): Promise<Sample> {
  const cpu0 = process.cpuUsage();
  const r0 = ticks(redisPid);
  for (let i = 0; i < COUNT; i++) {
    await step();
    await sleep(INTERVAL_MS);
  }
  const cpu = process.cpuUsage(cpu0);
  const r1 = ticks(redisPid);
  return { nodeUs: (cpu.user + cpu.system) / COUNT, redisUs: (((r1 - r0) / HZ) * 1e6) / COUNT };
}

const server = await startRedisServer();
const client = new Redis({ port: server.port, enableAutoPipelining: true });
const writer = new Redis({ port: server.port });
const reader = new Redis({ port: server.port });
await Promise.all([client.ping(), writer.ping(), reader.ping()]);
const pid = Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1]);
let tailId = '$';
const cases: Record<string, () => Promise<unknown>> = {
  baseline: async () => undefined,
  PING: () => client.ping(),
  XADD: () => client.xadd('bench:wake', 'MAXLEN', '~', 1000, '*', 'msg', PAYLOAD),
  'XREAD woken by XADD': async () => {
    const read = reader.xread('COUNT', 10, 'BLOCK', 1000, 'STREAMS', 'bench:tail', tailId);
    await sleep(1); // the read is blocked when the XADD arrives
    await writer.xadd('bench:tail', 'MAXLEN', '~', 1000, '*', 'msg', PAYLOAD);
    const reply = (await read) as [string, [string, string[]][]][] | null;
    tailId = reply?.[0]?.[1].at(-1)?.[0] ?? tailId;
  },
};
const samples = new Map<string, Sample[]>(Object.keys(cases).map((k) => [k, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, step] of Object.entries(cases)) samples.get(name)!.push(await paced(pid, step));
}
const base = samples.get('baseline')!;
const rows = [...samples].map(([name, s]) => ({
  name,
  nodeUs: median(s.map((x) => x.nodeUs)),
  redisUs: median(s.map((x) => x.redisUs)),
  // each round against its own baseline round
  nodeNetUs: median(s.map((x, i) => x.nodeUs - base[i]!.nodeUs)),
  redisNetUs: median(s.map((x, i) => x.redisUs - base[i]!.redisUs)),
}));
await Promise.all([client.quit(), writer.quit(), reader.quit()]);
await server.dispose();
if (JSON_OUT) {
  console.log(JSON.stringify({ count: COUNT, intervalMs: INTERVAL_MS, rounds: ROUNDS, rows }, null, 2));
} else {
  console.log(
    `${COUNT} iterations every ${INTERVAL_MS} ms, ${ROUNDS} alternating rounds; µs of CPU per iteration (medians)`,
  );
  console.log('case                    node  node-baseline   redis  redis-baseline');
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(22)} ${r.nodeUs.toFixed(1).padStart(6)} ${r.nodeNetUs.toFixed(1).padStart(14)} ${r.redisUs.toFixed(1).padStart(7)} ${r.redisNetUs.toFixed(1).padStart(15)}`,
    );
  }
}

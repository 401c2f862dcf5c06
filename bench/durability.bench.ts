/**
 * The cost of each durability mode (src/redis/durability.ts) on the write that precedes a client's OK: a
 * message published to an inbound stream through RedisMessageBus (XADD, plus WAIT in the replica mode).
 *
 *   node bench/durability.bench.ts [--quick] [--json]
 *
 * Setups, started here on free loopback ports (data directories under the OS temp directory — say which
 * file system that is when reporting, fsync costs depend on it):
 *  - write:   one redis-server, appendonly yes, appendfsync everysec (the compose file's setting);
 *  - fsync:   one redis-server, appendonly yes, appendfsync always;
 *  - replica: a master (everysec) and one replica (`replicaof`), WAIT 1 after each write;
 *  - with `--cluster`, also a local Redis Cluster (3 masters, 3 replicas) in the write and replica modes.
 * Rounds alternate between the setups (A B C A B C …). Per round: the latency of one publish at a time
 * (median µs over the round's publishes) and the throughput with 64 publishes in flight. Reported: the
 * median over rounds, and the ratio to the write mode.
 */
import { cpus } from 'node:os';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';
import { RedisMessageBus } from '../src/bus/redis-message-bus.ts';
import { Durability } from '../src/redis/durability.ts';
import type { DurabilityMode } from '../src/redis/durability.ts';
import { createRedisKeys } from '../src/redis/redis-keys.ts';
import { RedisCluster } from '../test/helpers/redis-cluster.ts';
import { startRedisServer } from '../test/helpers/redis-server.ts';
import type { RedisServer } from '../test/helpers/redis-server.ts';

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const withCluster = args.has('--cluster');
const ROUNDS = quick ? 3 : 7;
const SEQUENTIAL = quick ? 300 : 2000;
const CONCURRENT = quick ? 2000 : 20_000;
const IN_FLIGHT = 64;
const PAYLOAD = 'x'.repeat(600); // about the size of a small encrypted text message

interface Setup {
  readonly name: string;
  readonly mode: DurabilityMode;
  readonly bus: RedisMessageBus;
  readonly stop: () => Promise<void>;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function waitSynced(replica: RedisServer): Promise<void> {
  const client = new Redis(replica.url);
  try {
    for (let i = 0; i < 200; i++) {
      if (/master_link_status:up/.test(await client.info('replication'))) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error('replica did not sync');
  } finally {
    client.disconnect();
  }
}

/** A setup publishing to the Redis at `url`: `stop` closes the bus, then `dispose` stops the servers. */
function setupOn(name: string, mode: DurabilityMode, url: string, dispose: () => Promise<void>): Setup {
  const bus = new RedisMessageBus({ url, durability: new Durability({ mode, replicaTimeoutMs: 1000 }) });
  return {
    name,
    mode,
    bus,
    stop: async () => {
      await bus.close();
      await dispose();
    },
  };
}

async function standalone(name: string, mode: DurabilityMode): Promise<Setup> {
  const appendfsync = mode === 'fsync' ? 'always' : 'everysec';
  const master = await startRedisServer({ appendonly: true, appendfsync });
  let replica: RedisServer | undefined;
  if (mode === 'replica') {
    replica = await startRedisServer({
      appendonly: true,
      appendfsync,
      args: ['--replicaof', '127.0.0.1', String(master.port)],
    });
    await waitSynced(replica);
  }
  return setupOn(name, mode, master.url, async () => {
    await replica?.dispose();
    await master.dispose();
  });
}

async function cluster(name: string, mode: DurabilityMode): Promise<Setup> {
  const redis = await RedisCluster.start({ appendfsync: 'everysec' });
  return setupOn(name, mode, redis.url, () => redis.dispose());
}

async function sequential(bus: RedisMessageBus, stream: string, n: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await bus.publish(stream, { msg: PAYLOAD });
    times.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  return median(times);
}

async function concurrent(bus: RedisMessageBus, stream: string, n: number): Promise<number> {
  let next = 0;
  const t = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < n) {
        next += 1;
        await bus.publish(stream, { msg: PAYLOAD });
      }
    }),
  );
  return n / (Number(process.hrtime.bigint() - t) / 1e9);
}

async function main(): Promise<void> {
  const setups: Setup[] = [];
  try {
    setups.push(await standalone('write (everysec)', 'write'));
    setups.push(await standalone('fsync (always)', 'fsync'));
    setups.push(await standalone('replica (WAIT 1)', 'replica'));
    if (withCluster) {
      setups.push(await cluster('cluster write', 'write'));
      setups.push(await cluster('cluster replica (WAIT 1)', 'replica'));
    }
    const keys = createRedisKeys('bench:');
    const latency = new Map<string, number[]>();
    const rate = new Map<string, number[]>();
    for (const s of setups) {
      // warm-up (connections, script cache, AOF file creation)
      await sequential(s.bus, keys.inboundStream(0), 200);
      latency.set(s.name, []);
      rate.set(s.name, []);
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of setups) {
        const stream = keys.inboundStream(round % 4);
        latency.get(s.name)!.push(await sequential(s.bus, stream, SEQUENTIAL));
        rate.get(s.name)!.push(await concurrent(s.bus, stream, CONCURRENT));
      }
    }
    const base = setups[0]!.name;
    const rows = setups.map((s) => {
      const lat = median(latency.get(s.name)!);
      const ops = median(rate.get(s.name)!);
      return {
        setup: s.name,
        mode: s.mode,
        latencyUs: Math.round(lat),
        latencyRatio: +(lat / median(latency.get(base)!)).toFixed(2),
        opsPerSecond: Math.round(ops),
        opsRatio: +(ops / median(rate.get(base)!)).toFixed(2),
        latencyRounds: latency.get(s.name)!.map(Math.round),
        opsRounds: rate.get(s.name)!.map(Math.round),
      };
    });
    let fs = 'unknown';
    try {
      fs = execFileSync('df', ['-T', tmpdir()], { encoding: 'utf8' }).split('\n')[1]?.split(/\s+/)[1] ?? fs;
    } catch {
      // keep unknown
    }
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, data on ${fs}`;
    const table = [
      `durability: one publish (XADD ${PAYLOAD.length} B) before the client's OK — ${machine}; ${ROUNDS} rounds, medians`,
      '',
      '| setup | µs per publish, one at a time | × write | publishes/s, 64 in flight | × write |',
      '|---|---:|---:|---:|---:|',
      ...rows.map(
        (r) => `| ${r.setup} | ${r.latencyUs} | ${r.latencyRatio} | ${r.opsPerSecond} | ${r.opsRatio} |`,
      ),
    ].join('\n');
    if (args.has('--json')) {
      process.stderr.write(`${table}\n`);
      process.stdout.write(`${JSON.stringify({ machine, rounds: ROUNDS, rows }, null, 2)}\n`);
    } else {
      process.stdout.write(`${table}\n`);
    }
  } finally {
    await Promise.all(setups.map((s) => s.stop()));
  }
}

await main();

/**
 * A real local Redis Cluster for a test file: `masters × (1 + replicas)` redis-server processes with
 * `--cluster-enabled yes` on free loopback ports (each with its own directory, append-only file and cluster
 * bus port), joined with `redis-cli --cluster create … --cluster-replicas N --cluster-yes`, ready once every
 * node reports `cluster_state:ok` and every replica is in sync. `kill()` of a node (kill -9) makes the
 * cluster fail over to its replica after `nodeTimeoutMs`; `start()` brings it back (it rejoins as a
 * replica). Every process is killed when the test process exits; call `dispose()` in `after`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import { freePort, startRedisServer } from './redis-server.ts';
import type { RedisServer } from './redis-server.ts';

const run = promisify(execFile);

export interface RedisClusterOptions {
  /** Masters (default 3). */
  readonly masters?: number;
  /** Replicas per master (default 1). */
  readonly replicas?: number;
  /** `cluster-node-timeout` (ms, default 1500): how long a master may be unreachable before failover. */
  readonly nodeTimeoutMs?: number;
  /** `appendfsync` of every node (default always). */
  readonly appendfsync?: 'always' | 'everysec' | 'no';
}

export interface RedisClusterNode {
  readonly server: RedisServer;
  readonly port: number;
  /** `host:port`. */
  readonly address: string;
}

/** One line of CLUSTER NODES. */
interface NodeRow {
  readonly id: string;
  readonly address: string;
  readonly flags: string[];
  readonly master: string;
  readonly slots: [number, number][];
}

function parseNodes(text: string): NodeRow[] {
  return text
    .trim()
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const [id, addr, flags, master, , , , , ...slots] = line.split(' ');
      return {
        id: id!,
        address: addr!.split('@')[0]!,
        flags: flags!.split(','),
        master: master!,
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [a, b] = s.split('-');
            return [Number(a), Number(b ?? a)] as [number, number];
          }),
      };
    });
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

export class RedisCluster {
  readonly nodes: RedisClusterNode[];
  readonly nodeTimeoutMs: number;
  /** Replicas per master the cluster was created with. */
  readonly replicas: number;
  #disposed = false;

  private constructor(nodes: RedisClusterNode[], nodeTimeoutMs: number, replicas: number) {
    this.nodes = nodes;
    this.nodeTimeoutMs = nodeTimeoutMs;
    this.replicas = replicas;
  }

  /** `DIM_REDIS_URL` for the station: every node as a seed, comma-separated. */
  get url(): string {
    return this.nodes.map((n) => `redis://${n.address}`).join(',');
  }

  static async start(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const masters = options.masters ?? 3;
    const replicas = options.replicas ?? 1;
    const nodeTimeoutMs = options.nodeTimeoutMs ?? 1500;
    const servers = await Promise.all(
      Array.from({ length: masters * (1 + replicas) }, () =>
        startRedisServer({
          appendonly: true,
          ...(options.appendfsync ? { appendfsync: options.appendfsync } : {}),
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            String(nodeTimeoutMs),
            // a restarted old master must not refuse to serve as a replica because its data is "too old"
            '--cluster-replica-validity-factor',
            '0',
          ],
          // the cluster bus port defaults to port + 10000, which may be taken or past 65535: choose one
          argsFor: async () => ['--cluster-port', String(await freePort())],
        }),
      ),
    );
    const nodes = servers.map((server) => ({
      server,
      port: server.port,
      address: `127.0.0.1:${server.port}`,
    }));
    const cluster = new RedisCluster(nodes, nodeTimeoutMs, replicas);
    try {
      await run(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...nodes.map((n) => n.address),
          '--cluster-replicas',
          String(replicas),
          '--cluster-yes',
        ],
        { timeout: 30_000 },
      );
      await cluster.waitHealthy(30_000);
    } catch (err) {
      await cluster.dispose();
      throw err;
    }
    return cluster;
  }

  /** A one-shot command on one node (a short-lived connection). */
  async #ask(node: RedisClusterNode, ...args: string[]): Promise<string> {
    const client = new Redis({
      host: '127.0.0.1',
      port: node.port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: true,
      retryStrategy: () => null,
      connectTimeout: 1000,
      commandTimeout: 2000,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return String(await client.call(args[0]!, ...args.slice(1)));
    } finally {
      client.disconnect();
    }
  }

  /** The running nodes' view of the cluster (from the first that answers). */
  async topology(): Promise<NodeRow[]> {
    for (const node of this.nodes) {
      if (!node.server.running) continue;
      try {
        return parseNodes(await this.#ask(node, 'CLUSTER', 'NODES'));
      } catch {
        // try the next one
      }
    }
    throw new Error('no cluster node answers');
  }

  /** The node currently serving `key`'s slot as master (asked of the running nodes). */
  async masterOf(key: string): Promise<RedisClusterNode> {
    const slot = calculateSlot(key);
    const rows = await this.topology();
    const row = rows.find(
      (r) =>
        r.flags.includes('master') &&
        !r.flags.includes('fail') &&
        r.slots.some(([a, b]) => slot >= a && slot <= b),
    );
    const node = row && this.nodes.find((n) => n.address === row.address);
    if (!node) throw new Error(`no master serves slot ${slot}`);
    return node;
  }

  /**
   * Wait until every running node reports `cluster_state:ok`, agrees on one master per slot range, every
   * running node is either a master serving slots or a replica in sync (`master_link_status:up`, so a
   * restarted old master counts only once it has been turned into a replica and has synced), and — when
   * every node runs — every master has as many in-sync replicas as the cluster was created with (a WAIT
   * of the replica durability mode can then succeed everywhere).
   */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        last = (await this.#unhealthy()) ?? '';
        if (last === '') return;
      } catch (err) {
        last = String(err);
      }
      await sleep(100);
    }
    throw new Error(`redis cluster not healthy after ${timeoutMs} ms: ${last}`);
  }

  /** What keeps the cluster from being healthy (see waitHealthy), or undefined. */
  async #unhealthy(): Promise<string | undefined> {
    const running = this.nodes.filter((n) => n.server.running);
    const infos = await Promise.all(running.map((n) => this.#ask(n, 'CLUSTER', 'INFO')));
    const bad = infos.findIndex((info) => !/cluster_state:ok/.test(info));
    if (bad >= 0) return `${running[bad]!.address} is not ok`;
    const rows = await this.topology();
    const masters = rows.filter(
      (r) => r.flags.includes('master') && !r.flags.includes('fail') && r.slots.length > 0,
    );
    const inSync = new Map<string, number>(masters.map((m) => [m.id, 0]));
    for (const node of running) {
      const row = rows.find((r) => r.address === node.address);
      if (row === undefined) return `${node.address} is not in the cluster's view yet`;
      if (masters.includes(row)) continue;
      if (!row.flags.includes('slave')) return `${node.address} is neither a serving master nor a replica`;
      const info = await this.#ask(node, 'INFO', 'replication');
      if (!/master_link_status:up/.test(info)) return `replica ${node.address} is not in sync`;
      inSync.set(row.master, (inSync.get(row.master) ?? 0) + 1);
    }
    if (running.length === this.nodes.length) {
      const short = masters.find((m) => (inSync.get(m.id) ?? 0) < this.replicas);
      if (short) return `master ${short.address} has fewer than ${this.replicas} replica(s) in sync`;
    }
    return undefined;
  }

  /** Wait until `key`'s slot is served by a master other than `old` (a failover happened). */
  async waitFailover(key: string, old: RedisClusterNode, timeoutMs = 30_000): Promise<RedisClusterNode> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const master = await this.masterOf(key);
        if (master !== old) {
          const info = await this.#ask(master, 'CLUSTER', 'INFO');
          if (/cluster_state:ok/.test(info)) return master;
        }
      } catch {
        // not settled yet
      }
      await sleep(100);
    }
    throw new Error(`no failover of ${key}'s slot away from ${old.address} within ${timeoutMs} ms`);
  }

  /** A cluster client for inspecting state from the test (caller disconnects it). */
  client(): Cluster {
    const client = new Cluster(
      this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
      { redisOptions: { maxRetriesPerRequest: 1 }, retryDelayOnClusterDown: 100, retryDelayOnFailover: 100 },
    );
    client.on('error', () => undefined);
    return client;
  }

  /** Kill every node and delete their directories. Idempotent. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await Promise.all(this.nodes.map((n) => n.server.dispose()));
  }
}

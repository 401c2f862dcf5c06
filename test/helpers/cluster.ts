/**
 * A real multi-process station for end-to-end tests: a private Redis — one redis-server, or a real local
 * Redis Cluster of six (`{ redis: 'cluster' }`, test/helpers/redis-cluster.ts) — and one child process per role
 * (`node workers/station.ts gateway|dispatcher|storage`, the Node binary running the tests), all sharing one
 * station key file created here before any process starts. Every child's stdout/stderr is captured; tests
 * wrap their bodies in `cluster.withLogs(…)` so that a failure prints what the processes said. A suite on the
 * usual topology gets its cluster from `clusterFixture` (its own before/after hooks).
 *
 * Role processes can be started, stopped (SIGTERM), killed (SIGKILL, a crash) and restarted (same name and
 * port unless told otherwise). A gateway is ready when it prints its `listening` line; a dispatcher or storage
 * worker when it has read from every shard of its consumer group (seen in `XINFO CONSUMERS`). `dispose()`
 * (call it in `after`) kills every child and the redis-server; they are also killed when the test process
 * exits, so a failing test never leaves one behind.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { Redis } from 'ioredis';
import type { Cluster as ClusterClient } from 'ioredis';
import { DimClient } from '../../src/client/dim-client.ts';
import type { DimClientOptions, ReceivedMessage } from '../../src/client/dim-client.ts';
import type { ID } from '../../src/protocol/mkm/identifier.ts';
import { KeyDirectory } from '../../src/client/key-directory.ts';
import { MtpClientTransport } from '../../src/client/mtp-client-transport.ts';
import { createUserIdentity } from '../../src/client/user-identity.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import { WsClientTransport } from '../../src/client/ws-client-transport.ts';
import { DISPATCH_GROUP } from '../../src/dispatch/dispatcher.ts';
import { createStationIdentity } from '../../src/identity/station-identity.ts';
import type { StationIdentity } from '../../src/identity/station-identity.ts';
import { writeKeyFile } from '../../src/identity/station-key-file.ts';
import { createRedisKeys } from '../../src/redis/redis-keys.ts';
import type { RedisKeys } from '../../src/redis/redis-keys.ts';
import { STORAGE_GROUP } from '../../src/storage/storage-worker.ts';
import { RedisCluster } from './redis-cluster.ts';
import type { RedisClusterOptions } from './redis-cluster.ts';
import { startRedisServer } from './redis-server.ts';
import type { RedisServer } from './redis-server.ts';
import { repoDir } from './vectors.ts';

export type ClusterRole = 'gateway' | 'dispatcher' | 'storage';

/** Which Redis the station runs on: one redis-server, or a local Redis Cluster (3 masters, 3 replicas). */
export type RedisKind = 'standalone' | 'cluster';

/**
 * The Redis kinds the end-to-end suites run on: both unless `TEST_REDIS` names one (`standalone`,
 * `cluster`). Suites loop over it (`for (const redis of REDIS_KINDS) describe(…)`).
 */
export const REDIS_KINDS: readonly RedisKind[] = (() => {
  const wanted = process.env['TEST_REDIS'];
  if (wanted === 'standalone' || wanted === 'cluster') return [wanted];
  if (wanted !== undefined && wanted !== '' && wanted !== 'both') {
    throw new Error(`TEST_REDIS must be standalone, cluster or both, got ${JSON.stringify(wanted)}`);
  }
  return ['standalone', 'cluster'];
})();

const STATION_ENTRY = join(repoDir, 'workers', 'station.ts');
// generous: the machine running the tests may be loaded (several test suites, benchmarks)
const READY_TIMEOUT_MS = 45_000;
const STOP_TIMEOUT_MS = 5_000;
const OUTPUT_LIMIT = 256 * 1024;
/** The admin API token of every test cluster process. */
export const OPS_TOKEN = 'test-ops-token-0123456789';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** Poll `check` until it returns a truthy value; rejects naming `what` after `timeoutMs`. */
export async function waitUntil<T>(
  check: () => T | Promise<T>,
  timeoutMs: number,
  what: string,
  intervalMs = 25,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.unref();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((done) => child.once('exit', () => done()));
}

/** The environment of a child: ours without DIM_* settings or the test runner's context, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('DIM_') || name === 'NODE_TEST_CONTEXT') continue;
    out[name] = value;
  }
  return { ...out, ...env };
}

export interface RoleProcessOptions {
  readonly role: ClusterRole;
  /** DIM_INSTANCE_NAME (gateway ID, consumer names). */
  readonly name: string;
  /** Gateways: the listen port (default a free one, kept across restarts). */
  readonly port?: number;
  /** Extra environment for this process. */
  readonly env?: Record<string, string>;
}

/** One station process running one role. */
export class RoleProcess {
  readonly role: ClusterRole;
  readonly #cluster: Cluster;
  readonly #env: Record<string, string>;
  #name: string;
  #port: number | undefined;
  #child: ChildProcess | undefined;
  #output = '';
  #starts = 0;
  #opsUrl: string | undefined;

  constructor(cluster: Cluster, options: RoleProcessOptions) {
    this.#cluster = cluster;
    this.role = options.role;
    this.#name = options.name;
    this.#port = options.port;
    this.#env = { ...options.env };
  }

  get name(): string {
    return this.#name;
  }

  /** The gateway's port (after the first start). */
  get port(): number {
    if (this.#port === undefined) throw new Error(`${this.#name} has no port (not a started gateway)`);
    return this.#port;
  }

  /** The process's ops server (`ops server …` on stdout), once started. */
  get opsUrl(): string {
    if (this.#opsUrl === undefined) throw new Error(`${this.#name} has not reported its ops server`);
    return this.#opsUrl;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && !exited(this.#child);
  }

  /** Everything the process printed, every incarnation, with start/exit markers. */
  get output(): string {
    return this.#output;
  }

  #append(text: string): void {
    this.#output += text;
    if (this.#output.length > OUTPUT_LIMIT) this.#output = this.#output.slice(-OUTPUT_LIMIT);
  }

  /** Spawn and wait until ready; rejects (with the output) if the process exits or is not ready in time. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.#name} is already running`);
    if (this.role === 'gateway') this.#port ??= await freePort();
    const env = childEnv({
      ...this.#cluster.env,
      DIM_INSTANCE_NAME: this.#name,
      ...(this.role === 'gateway' ? { DIM_HOST: '127.0.0.1', DIM_PORT: String(this.#port) } : {}),
      ...this.#env,
    });
    this.#starts += 1;
    const spawnedAt = Date.now();
    const child = spawn(process.execPath, [STATION_ENTRY, this.role], {
      cwd: this.#cluster.dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    this.#child = child;
    this.#append(`--- ${this.#name} (${this.role}) start #${this.#starts} pid ${child.pid} ---\n`);
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      stdout = (stdout + text).slice(-65_536);
      const ops = /"msg":"ops server (\S+) /.exec(stdout);
      if (ops) this.#opsUrl = ops[1];
      this.#append(text);
    });
    child.stderr?.on('data', (chunk: Buffer) => this.#append(chunk.toString()));
    child.once('exit', (code, signal) => {
      live.delete(child);
      this.#append(`--- ${this.#name} exited (code ${code}, signal ${signal}) ---\n`);
    });
    const failed = (): Error =>
      new Error(`${this.#name} (${this.role}) exited before it was ready:\n${this.#output}`);
    try {
      if (this.role === 'gateway') {
        await waitUntil(
          () => {
            if (exited(child)) throw failed();
            return /listening on \S+:\d+/.test(stdout);
          },
          READY_TIMEOUT_MS,
          `${this.#name} to listen`,
        );
      } else {
        await waitUntil(
          async () => {
            if (exited(child)) throw failed();
            return this.#cluster.consumerSeenSince(this.role, this.#name, spawnedAt);
          },
          READY_TIMEOUT_MS,
          `${this.#name} to read its streams`,
          50,
        );
      }
    } catch (err) {
      await this.kill();
      throw err;
    }
  }

  /** SIGTERM (ordered drain) and wait for the exit; SIGKILL after a timeout. Idempotent. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined || exited(child)) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await waitExit(child);
    clearTimeout(timer);
  }

  /** kill -9: a crash. Waits for the exit. Idempotent. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined || exited(child)) return;
    child.kill('SIGKILL');
    await waitExit(child);
  }

  /** Stop (SIGTERM, or SIGKILL with `crash`) if running, then start again; optionally under another name. */
  async restart(options: { readonly name?: string; readonly crash?: boolean } = {}): Promise<void> {
    if (options.crash) await this.kill();
    else await this.stop();
    if (options.name !== undefined) this.#name = options.name;
    await this.start();
  }
}

export interface ClusterOptions {
  /** The Redis to run on (default standalone). */
  readonly redis?: RedisKind;
  /** Options of the Redis Cluster (`redis: 'cluster'`). */
  readonly redisCluster?: RedisClusterOptions;
  /** Redis append-only persistence (default true; a Redis Cluster always has it). */
  readonly appendonly?: boolean;
  /** Inbound/store shards (default 4). */
  readonly shards?: number;
  /** Extra environment for every process. */
  readonly env?: Record<string, string>;
}

export interface ConnectOptions extends Partial<Omit<DimClientOptions, 'transport' | 'identity'>> {
  readonly framing?: 'mtp' | 'ws';
  /** Acknowledge the station's pushes (default true). */
  readonly autoAck?: boolean;
}

/** The processes of the usual topology (`Cluster.startDefault`). */
export interface DefaultProcesses {
  readonly gateway1: RoleProcess;
  readonly gateway2: RoleProcess;
  readonly dispatcher: RoleProcess;
  readonly storage: RoleProcess;
}

export class Cluster {
  readonly redisKind: RedisKind;
  /** The redis-server (standalone). */
  readonly redis: RedisServer | undefined;
  /** The Redis Cluster (`redis: 'cluster'`). */
  readonly redisCluster: RedisCluster | undefined;
  /** DIM_REDIS_URL of the processes. */
  readonly redisUrl: string;
  readonly identity: StationIdentity;
  /** Working directory of the processes; holds the key file. */
  readonly dir: string;
  readonly keyFile: string;
  readonly shards: number;
  readonly keys: RedisKeys;
  /** A connection (a cluster client on a cluster) for inspecting the station's Redis state from the test. */
  readonly inspect: Redis | ClusterClient;
  /** Environment of every process. */
  readonly env: Record<string, string>;
  readonly processes: RoleProcess[] = [];
  readonly #clients = new Set<DimClient>();
  #disposed = false;

  private constructor(
    redis: RedisServer | RedisCluster,
    identity: StationIdentity,
    dir: string,
    keyFile: string,
    options: ClusterOptions,
  ) {
    if (redis instanceof RedisCluster) {
      this.redisKind = 'cluster';
      this.redis = undefined;
      this.redisCluster = redis;
      this.redisUrl = redis.url;
      this.inspect = redis.client();
    } else {
      this.redisKind = 'standalone';
      this.redis = redis;
      this.redisCluster = undefined;
      this.redisUrl = redis.url;
      this.inspect = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
    }
    this.identity = identity;
    this.dir = dir;
    this.keyFile = keyFile;
    this.shards = options.shards ?? 4;
    this.keys = createRedisKeys('dim:');
    this.env = {
      DIM_REDIS_URL: this.redisUrl,
      DIM_REDIS_PREFIX: 'dim:',
      DIM_KEY_FILE: keyFile,
      DIM_DATA_DIR: dir,
      DIM_SHARDS: String(this.shards),
      DIM_LOG_LEVEL: 'warn',
      // every process's ops server on a free port (reported on stdout); drains short enough for stop()
      DIM_OPS_PORT: '0',
      DIM_OPS_TOKEN: OPS_TOKEN,
      DIM_DRAIN_WINDOW_MS: '1000',
      ...options.env,
    };
  }

  /** A private Redis (server or cluster) and the station identity (RSA-1024 visa key); no process yet. */
  static async create(options: ClusterOptions = {}): Promise<Cluster> {
    const dir = mkdtempSync(join(tmpdir(), 'dim-cluster-'));
    try {
      const identity = createStationIdentity({
        name: 'cluster-test',
        host: '127.0.0.1',
        rsaBits: 1024,
        now: Date.now() / 1000,
      });
      const keyFile = join(dir, 'station.json');
      await writeKeyFile(keyFile, identity);
      const redis =
        options.redis === 'cluster'
          ? await RedisCluster.start(options.redisCluster)
          : await startRedisServer({ appendonly: options.appendonly ?? true });
      return new Cluster(redis, identity, dir, keyFile, options);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Add a role process (not started). */
  add(options: RoleProcessOptions): RoleProcess {
    const proc = new RoleProcess(this, options);
    this.processes.push(proc);
    return proc;
  }

  /** Add and start a role process. */
  async start(options: RoleProcessOptions): Promise<RoleProcess> {
    const proc = this.add(options);
    await proc.start();
    return proc;
  }

  /** The usual topology: two gateways, one dispatcher, one storage worker, started at once. */
  async startDefault(): Promise<DefaultProcesses> {
    const [gateway1, gateway2, dispatcher, storage] = await Promise.all([
      this.start({ role: 'gateway', name: 'gateway-1' }),
      this.start({ role: 'gateway', name: 'gateway-2' }),
      this.start({ role: 'dispatcher', name: 'dispatcher-1' }),
      this.start({ role: 'storage', name: 'storage-1' }),
    ]);
    return { gateway1, gateway2, dispatcher, storage };
  }

  /** Whether `consumer` of the role's group has read every shard stream since `since` (ms). */
  async consumerSeenSince(role: ClusterRole, consumer: string, since: number): Promise<boolean> {
    if (role === 'gateway') return true;
    const group = role === 'dispatcher' ? DISPATCH_GROUP : STORAGE_GROUP;
    for (let shard = 0; shard < this.shards; shard++) {
      const stream = role === 'dispatcher' ? this.keys.inboundStream(shard) : this.keys.storeStream(shard);
      let rows: unknown[];
      try {
        rows = (await this.inspect.xinfo('CONSUMERS', stream, group)) as unknown[];
      } catch {
        return false; // no stream or group yet
      }
      const now = Date.now();
      const seen = rows.some((row) => {
        const fields = row as unknown[];
        const info = new Map<string, unknown>();
        for (let i = 0; i + 1 < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1]);
        return info.get('name') === consumer && now - Number(info.get('idle')) >= since;
      });
      if (!seen) return false;
    }
    return true;
  }

  /** Connect a DIM client to a gateway (MTP unless told; closed by `dispose()`). */
  async connect(
    gateway: RoleProcess,
    identity: UserIdentity,
    directory: KeyDirectory,
    options: ConnectOptions = {},
  ): Promise<DimClient> {
    const { framing = 'mtp', autoAck = true, ...rest } = options;
    const transport =
      framing === 'mtp'
        ? await MtpClientTransport.connect({ host: '127.0.0.1', port: gateway.port, autoAck })
        : await WsClientTransport.connect({ host: '127.0.0.1', port: gateway.port, autoAck });
    const client = new DimClient({
      transport,
      identity,
      keyDirectory: directory,
      handshakeTimeoutMs: 10_000,
      receiptTimeoutMs: 10_000,
      ...rest,
    });
    this.#clients.add(client);
    return client;
  }

  /** Everything every process printed. */
  logs(): string {
    return this.processes.map((p) => p.output).join('');
  }

  /** Run a test body; on failure print every process's output, then rethrow. */
  async withLogs<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      process.stderr.write(`\n===== station process output =====\n${this.logs()}\n===== end =====\n`);
      throw err;
    }
  }

  /** Close every client, kill every process and the redis-server, delete the directory. Idempotent. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await Promise.all([...this.#clients].map((c) => c.close().catch(() => undefined)));
    await Promise.all(this.processes.map((p) => p.kill()));
    this.inspect.disconnect();
    await this.redis?.dispose();
    await this.redisCluster?.dispose();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A suite's cluster on the usual topology (`clusterFixture`); its fields are there once `before` has run. */
export interface ClusterFixture extends DefaultProcesses {
  readonly cluster: Cluster;
  /** `cluster.withLogs(body)`, the body given this fixture (`async ({ cluster, gateway1 }) => …`). */
  withLogs<T>(body: (fixture: ClusterFixture) => Promise<T>): Promise<T>;
}

/**
 * The cluster of the calling `describe`: a `before` hook creates it (`Cluster.create(options)`) and starts
 * the usual topology (`startDefault()`), an `after` hook disposes of it.
 */
export function clusterFixture(options: ClusterOptions = {}): ClusterFixture {
  let cluster: Cluster | undefined;
  let processes: DefaultProcesses | undefined;
  before(async () => {
    cluster = await Cluster.create(options);
    processes = await cluster.startDefault();
  });
  after(async () => {
    await cluster?.dispose();
  });
  const started = (): { cluster: Cluster; processes: DefaultProcesses } => {
    if (cluster === undefined || processes === undefined) throw new Error('the cluster has not been started');
    return { cluster, processes };
  };
  const fixture: ClusterFixture = {
    get cluster() {
      return started().cluster;
    },
    get gateway1() {
      return started().processes.gateway1;
    },
    get gateway2() {
      return started().processes.gateway2;
    },
    get dispatcher() {
      return started().processes.dispatcher;
    },
    get storage() {
      return started().processes.storage;
    },
    withLogs: (body) => started().cluster.withLogs(() => body(fixture)),
  };
  return fixture;
}

/** Alice and Bob, two new MKM ECC users, and a key directory that knows both. */
export function aliceAndBob(): { directory: KeyDirectory; alice: UserIdentity; bob: UserIdentity } {
  const directory = new KeyDirectory();
  const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: Date.now() / 1000 });
  const bob = createUserIdentity({ kind: 'mkm-ecc', name: 'bob', now: Date.now() / 1000 });
  directory.add(alice);
  directory.add(bob);
  return { directory, alice, bob };
}

/** Messages from `sender` that `client` receives from now on (attach before the handshake). */
export function collect(client: DimClient, sender: ID): ReceivedMessage[] {
  const got: ReceivedMessage[] = [];
  client.on('message', (m) => {
    if (m.sender.isSameAs(sender)) got.push(m);
  });
  return got;
}

/** The signatures of `messages`, each once (a duplicate delivery repeats its signature). */
export function uniqueSignatures(messages: readonly ReceivedMessage[]): Set<string> {
  return new Set(messages.map((m) => m.raw.signatureText));
}

/**
 * Wait until `got` holds every message the station acknowledged (`sent.acked`, filled by `sendTracked`); on
 * a timeout the error also lists the texts of the missing ones.
 */
export async function waitForAcked(
  got: readonly ReceivedMessage[],
  sent: { readonly texts: ReadonlyMap<string, string>; readonly acked: ReadonlySet<string> },
  timeoutMs: number,
  what: string,
): Promise<void> {
  const missing = (): string[] => {
    const received = uniqueSignatures(got);
    return [...sent.acked].filter((sig) => !received.has(sig));
  };
  await waitUntil(() => missing().length === 0, timeoutMs, what).catch((err: unknown) => {
    const texts = missing().map((sig) => sent.texts.get(sig));
    throw new Error(`${(err as Error).message}; missing: ${texts.join(', ')}`);
  });
}

/**
 * Send `text` from `client` to `to` without waiting, recording its signature in `texts`, and in `acked`
 * once the station's OK arrives (a send that is never acknowledged is owed nothing). Returns the send.
 */
export function sendTracked(
  client: DimClient,
  to: ID,
  text: string,
  texts: Map<string, string>,
  acked: Set<string>,
): Promise<void> {
  const packed = client.pack(to, { type: 1, text });
  const sig = packed.message.signatureText;
  texts.set(sig, text);
  return client.transport.send(packed.text).then(
    () => void acked.add(sig),
    () => undefined,
  );
}

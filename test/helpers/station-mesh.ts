/**
 * Several stations of ours as real processes (`node workers/station.ts`, every role), each with its own
 * identity, port and Redis key prefix on one private redis-server (separate stations: nothing shared but
 * the server process), linked as neighbours the way an operator would: DIM_NEIGHBORS and
 * DIM_TRUSTED_STATIONS. Stations can be killed with SIGKILL and restarted (same name, port and identity).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DimClient } from '../../src/client/dim-client.ts';
import type { DimClientOptions } from '../../src/client/dim-client.ts';
import type { KeyDirectory } from '../../src/client/key-directory.ts';
import { MtpClientTransport } from '../../src/client/mtp-client-transport.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import type { LinkStateRecord } from '../../src/federation/federation-store.ts';
import { createStationIdentity } from '../../src/identity/station-identity.ts';
import type { StationIdentity } from '../../src/identity/station-identity.ts';
import { writeKeyFile } from '../../src/identity/station-key-file.ts';
import { createRedisKeys } from '../../src/redis/redis-keys.ts';
import type { RedisKeys } from '../../src/redis/redis-keys.ts';
import { freePort, sleep, waitUntil } from './cluster.ts';
import { startRedisServer } from './redis-server.ts';
import type { RedisServer } from './redis-server.ts';
import { repoDir } from './vectors.ts';

const STATION_ENTRY = join(repoDir, 'workers', 'station.ts');
const OUTPUT_LIMIT = 256 * 1024;
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface MeshStationSpec {
  readonly name: string;
  /** Names of the stations it links to. */
  readonly neighbours: readonly string[];
  /** Names of the stations whose relays it takes unverified. */
  readonly trusts?: readonly string[];
  readonly env?: Record<string, string>;
}

export class MeshStation {
  readonly name: string;
  readonly identity: StationIdentity;
  readonly keyFile: string;
  readonly port: number;
  readonly keys: RedisKeys;
  readonly #mesh: StationMesh;
  readonly spec: MeshStationSpec;
  #child: ChildProcess | undefined;
  #output = '';

  constructor(
    mesh: StationMesh,
    spec: MeshStationSpec,
    identity: StationIdentity,
    keyFile: string,
    port: number,
  ) {
    this.#mesh = mesh;
    this.spec = spec;
    this.name = spec.name;
    this.identity = identity;
    this.keyFile = keyFile;
    this.port = port;
    this.keys = createRedisKeys(`${spec.name}:`);
  }

  get id(): string {
    return this.identity.id.string;
  }

  get output(): string {
    return this.#output;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async start(): Promise<void> {
    const mesh = this.#mesh;
    const neighbours = this.spec.neighbours.map((n) => {
      const s = mesh.station(n);
      return `${s.id}=127.0.0.1:${s.port}`;
    });
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env))
      if (!k.startsWith('DIM_') && k !== 'NODE_TEST_CONTEXT') env[k] = v;
    Object.assign(env, {
      DIM_REDIS_URL: mesh.redis.url,
      DIM_REDIS_PREFIX: `${this.name}:`,
      DIM_KEY_FILE: this.keyFile,
      DIM_DATA_DIR: mesh.dir,
      DIM_HOST: '127.0.0.1',
      DIM_PORT: String(this.port),
      DIM_INSTANCE_NAME: this.name,
      DIM_SHARDS: '2',
      DIM_LOG_LEVEL: 'info',
      DIM_NEIGHBORS: neighbours.join(','),
      DIM_TRUSTED_STATIONS: (this.spec.trusts ?? []).map((n) => mesh.station(n).id).join(','),
      DIM_FEDERATION_MAX_BACKOFF_MS: '1000',
      // several stations on one machine: each ops server on a free port
      DIM_OPS_PORT: '0',
      ...this.spec.env,
    });
    const child = spawn(process.execPath, [STATION_ENTRY], {
      cwd: mesh.dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    this.#child = child;
    this.#append(`--- ${this.name} start pid ${child.pid} ---\n`);
    let stdout = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout = (stdout + chunk.toString()).slice(-262_144);
      this.#append(chunk.toString());
    });
    child.stderr?.on('data', (chunk: Buffer) => this.#append(chunk.toString()));
    child.once('exit', (code, signal) => {
      live.delete(child);
      this.#append(`--- ${this.name} exited (${code}, ${signal}) ---\n`);
    });
    await waitUntil(
      () => {
        if (!this.running) throw new Error(`${this.name} exited:\n${this.#output}`);
        return /listening on \S+:\d+/.test(stdout);
      },
      60_000,
      `${this.name} to listen`,
    );
  }

  #append(text: string): void {
    this.#output = (this.#output + text).slice(-OUTPUT_LIMIT);
  }

  /** SIGKILL (a crash), waiting for the exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.running) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.running) return;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** The link states this station's bridge published. */
  async links(): Promise<LinkStateRecord[]> {
    const all = await this.#mesh.inspect.hgetall(this.keys.federationLinks());
    return Object.values(all).map((v) => JSON.parse(v) as LinkStateRecord);
  }

  /** Wait until every configured link is up. */
  async linksUp(timeoutMs = 20_000): Promise<void> {
    const want = this.spec.neighbours.map((n) => this.#mesh.station(n).id);
    await waitUntil(
      async () => {
        const links = await this.links();
        return want.every((id) => links.some((l) => l.neighbour === id && l.state === 'up'));
      },
      timeoutMs,
      `${this.name}'s links up`,
      50,
    );
  }

  /** The station's stored login records of `user` (terminal → record). */
  async loginStations(user: string): Promise<string[]> {
    const all = await this.#mesh.inspect.hgetall(this.keys.login(user));
    return Object.values(all).map((v) => (JSON.parse(v) as { station?: string }).station ?? '');
  }

  /** Messages stored here for `user`. */
  async stored(user: string): Promise<number> {
    return this.#mesh.inspect.zcard(this.keys.inbox(user));
  }

  /** Entries ever queued here for `neighbour` (the stream's `entries-added`: trimming does not lower it). */
  async queueLength(neighbour: MeshStation): Promise<number> {
    try {
      const info = (await this.#mesh.inspect.call(
        'XINFO',
        'STREAM',
        this.keys.federationQueue(neighbour.id),
      )) as unknown[];
      const at = info.indexOf('entries-added');
      return Number(info[at + 1]);
    } catch {
      return 0; // no such stream yet
    }
  }

  /** Messages queued for `neighbour` and not yet acknowledged by it. */
  async queued(neighbour: MeshStation): Promise<number> {
    return this.#mesh.inspect.zcard(this.keys.federationQueued(neighbour.id));
  }

  async connect(
    identity: UserIdentity,
    directory: KeyDirectory,
    options: Partial<DimClientOptions> = {},
  ): Promise<DimClient> {
    const transport = await MtpClientTransport.connect({ host: '127.0.0.1', port: this.port });
    const client = new DimClient({ transport, identity, keyDirectory: directory, ...options });
    this.#mesh.clients.add(client);
    return client;
  }
}

export class StationMesh {
  readonly redis: RedisServer;
  readonly dir: string;
  readonly inspect: Redis;
  readonly clients = new Set<DimClient>();
  readonly #stations = new Map<string, MeshStation>();

  private constructor(redis: RedisServer, dir: string) {
    this.redis = redis;
    this.dir = dir;
    this.inspect = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  }

  /** Identities, key files and ports for every station; no process started yet. */
  static async create(specs: readonly MeshStationSpec[]): Promise<StationMesh> {
    const dir = mkdtempSync(join(tmpdir(), 'dim-mesh-'));
    const redis = await startRedisServer({ appendonly: true });
    const mesh = new StationMesh(redis, dir);
    for (const spec of specs) {
      const identity = createStationIdentity({
        name: spec.name,
        host: '127.0.0.1',
        rsaBits: 1024,
        now: Date.now() / 1000,
      });
      const keyFile = join(dir, `${spec.name}.json`);
      await writeKeyFile(keyFile, identity);
      mesh.#stations.set(spec.name, new MeshStation(mesh, spec, identity, keyFile, await freePort()));
    }
    return mesh;
  }

  station(name: string): MeshStation {
    const s = this.#stations.get(name);
    if (s === undefined) throw new Error(`no station ${name}`);
    return s;
  }

  get stations(): MeshStation[] {
    return [...this.#stations.values()];
  }

  /** Run `body`; on failure print every station's output. */
  async withLogs(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      for (const s of this.stations) process.stderr.write(`\n===== ${s.name} =====\n${s.output}\n`);
      throw err;
    }
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.clients].map((c) => c.close().catch(() => undefined)));
    await Promise.all(this.stations.map((s) => s.kill()));
    this.inspect.disconnect();
    await this.redis.dispose();
    await sleep(10);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

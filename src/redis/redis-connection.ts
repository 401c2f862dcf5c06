/**
 * Connection profiles: how the station reaches Redis, standalone or Redis Cluster, and the one place that
 * creates, duplicates and closes its ioredis clients.
 *
 * `DIM_REDIS_URL` syntax (parsed by `parseRedisTarget`):
 *  - one `redis://[[user]:password@]host:port[/db]` (or `rediss://` for TLS) URL: a standalone Redis;
 *  - several such URLs separated by commas: the seed nodes of a Redis Cluster (any reachable one is
 *    enough; the client discovers the others from `CLUSTER SLOTS`), e.g.
 *    `redis://10.0.0.1:7000,redis://10.0.0.2:7000,redis://10.0.0.3:7000`. Credentials and TLS come from
 *    the first URL; a database number is refused (a cluster has only database 0);
 *  - a single seed node of a cluster is written `redis+cluster://host:port` (or `rediss+cluster://`).
 *
 * Every client runs the station's way: offline queue disabled (a command issued while disconnected waits,
 * bounded, for the reconnection — see when-ready.ts — then fails), no per-request retries, a command
 * timeout, reconnecting forever with backoff, auto-pipelining on a standalone Redis (commands issued in the
 * same tick share one write; not on a cluster, see createRedisClient). A cluster client follows MOVED/ASK redirections and refreshes its slot table after a
 * failover by itself.
 */
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';

/** A standalone connection or a cluster client: both run commands, pipelines and scripts the same way. */
export type RedisClient = Redis | Cluster;

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

export interface RedisTarget {
  readonly kind: 'standalone' | 'cluster';
  readonly nodes: readonly RedisNode[];
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
  /** Standalone only (default 0). */
  readonly db: number;
  /** `host:port` of the first node, for messages (never the credentials). */
  readonly display: string;
}

export class RedisTargetError extends Error {
  readonly code = 'REDIS_URL_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'RedisTargetError';
  }
}

const SCHEMES: Readonly<Record<string, { tls: boolean; cluster: boolean }>> = {
  'redis:': { tls: false, cluster: false },
  'rediss:': { tls: true, cluster: false },
  'redis+cluster:': { tls: false, cluster: true },
  'rediss+cluster:': { tls: true, cluster: true },
};

/** Parse `DIM_REDIS_URL` (see the module comment). Throws RedisTargetError naming what is wrong. */
export function parseRedisTarget(value: string): RedisTarget {
  const parts = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parts.length === 0) throw new RedisTargetError('no Redis URL given');
  const urls = parts.map((part) => {
    let url: URL;
    try {
      url = new URL(part);
    } catch {
      throw new RedisTargetError(`not a URL: ${JSON.stringify(part.replace(/\/\/[^@/]*@/, '//…@'))}`);
    }
    const scheme = SCHEMES[url.protocol];
    if (!scheme) {
      throw new RedisTargetError(
        `unsupported scheme ${url.protocol} (use redis://, rediss://, redis+cluster:// or rediss+cluster://)`,
      );
    }
    if (url.hostname === '') throw new RedisTargetError(`no host in ${url.protocol}// URL`);
    return { url, scheme };
  });
  const first = urls[0]!;
  const cluster = urls.length > 1 || first.scheme.cluster;
  const tls = first.scheme.tls;
  if (urls.some((u) => u.scheme.tls !== tls)) {
    throw new RedisTargetError('cluster seed URLs must all use TLS (rediss://) or none');
  }
  const dbs = urls.map(({ url }) => {
    const path = url.pathname.replace(/^\//, '');
    if (path === '') return 0;
    const n = Number(path);
    if (!Number.isSafeInteger(n) || n < 0) throw new RedisTargetError(`bad database number ${path}`);
    if (cluster && n !== 0) throw new RedisTargetError('a Redis Cluster has only database 0');
    return n;
  });
  const db = dbs[0]!;
  const nodes = urls.map(({ url }) => ({
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 6379 : Number(url.port),
  }));
  const username = first.url.username === '' ? undefined : decodeURIComponent(first.url.username);
  const password = first.url.password === '' ? undefined : decodeURIComponent(first.url.password);
  return {
    kind: cluster ? 'cluster' : 'standalone',
    nodes,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    tls,
    db,
    display: `${nodes[0]!.host}:${nodes[0]!.port}${cluster ? ` (cluster, ${nodes.length} seed nodes)` : ''}`,
  };
}

export interface ClientProfile {
  /** A command without a reply after this long fails (ms). */
  readonly commandTimeoutMs: number;
  /** Longest pause between reconnection attempts (ms; attempts never stop). */
  readonly maxReconnectDelayMs: number;
  /** Batch the commands issued in one tick into one write (default true; standalone Redis only). */
  readonly autoPipelining?: boolean;
  /** ioredis options over the profile's (per node, for a cluster). */
  readonly redis?: RedisOptions;
}

/** The credentials and TLS of `target`, as ioredis options of a connection (each node's, for a cluster). */
export function authOptions(target: RedisTarget): RedisOptions {
  return {
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    ...(target.tls ? { tls: {} } : {}),
  };
}

/** ioredis's reconnect delay (retryStrategy, clusterRetryStrategy): from 50 ms, doubling, at most `maxDelayMs`. */
export function reconnectDelay(maxDelayMs: number): (times: number) => number {
  return (times) => Math.min(maxDelayMs, 50 * 2 ** Math.min(times, 10));
}

/** The per-connection options every station client uses (for a cluster: the options of each node). */
function nodeOptions(target: RedisTarget, profile: ClientProfile): RedisOptions {
  return {
    ...authOptions(target),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // CLIENT SETINFO needs Redis 7.2; on older servers its error would leave a command timer running.
    disableClientInfo: true,
    commandTimeout: profile.commandTimeoutMs,
    connectTimeout: Math.max(1000, profile.commandTimeoutMs),
    // standalone: commands issued in one tick go out as one write (for a cluster see createRedisClient)
    enableAutoPipelining: target.kind === 'standalone' && (profile.autoPipelining ?? true),
    retryStrategy: reconnectDelay(profile.maxReconnectDelayMs),
    // ioredis keeps a 2 s timer after disconnecting a connection whose socket already failed.
    disconnectTimeout: 200,
    ...profile.redis,
  };
}

/** A new client for `target` (connecting at once). */
export function createRedisClient(target: RedisTarget, profile: ClientProfile): RedisClient {
  const options = nodeOptions(target, profile);
  if (target.kind === 'standalone') {
    const node = target.nodes[0]!;
    return new Redis({ ...options, host: node.host, port: node.port, db: target.db });
  }
  const clusterOptions: ClusterOptions = {
    redisOptions: options,
    enableOfflineQueue: false,
    enableReadyCheck: true,
    // No auto-pipelining on a cluster: ioredis groups auto-pipelined commands by the slot of their first
    // argument and handles MOVED per batch, so during a failover whole batches fail, and a batch that never
    // settles holds every later command for those nodes (seen here: a dispatcher stuck after a failover;
    // ioredis issues #2075, #2109). Single commands are redirected one by one and recover.
    enableAutoPipelining: false,
    scaleReads: 'master',
    // Redirections (MOVED/ASK) and a cluster electing a new master (CLUSTERDOWN, TRYAGAIN) are retried
    // within the command timeout; slot tables are refreshed on MOVED.
    maxRedirections: 16,
    retryDelayOnMoved: 0,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: Math.max(1000, profile.commandTimeoutMs),
    clusterRetryStrategy: reconnectDelay(profile.maxReconnectDelayMs),
  };
  return new Cluster(
    target.nodes.map((n) => ({ host: n.host, port: n.port })),
    clusterOptions,
  );
}

/** A second client like `client` (same target), with other per-connection options (e.g. for blocking reads). */
export function duplicateClient(client: RedisClient, overrides: RedisOptions = {}): RedisClient {
  if (client instanceof Cluster) {
    const { enableAutoPipelining, ...rest } = overrides;
    return client.duplicate([], {
      redisOptions: { ...client.options.redisOptions, ...rest },
      ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
    });
  }
  return client.duplicate(overrides);
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/**
 * Close a client politely: QUIT (pending replies still arrive) if it is connected, bounded by `timeoutMs`,
 * then disconnect whatever is left (reconnection timers, a socket still opening). Idempotent.
 */
export async function quitClient(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      client.quit().catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }
  client.disconnect();
}

/**
 * The server connections behind a client: the standalone connection itself, or one connection per master
 * of the cluster (for per-server checks such as CONFIG GET; they exist once the client is ready).
 */
export function masterConnections(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

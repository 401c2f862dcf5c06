/**
 * Opening the shards of a scenario (shard-api.ts): with one part, the shard lives in this process; with
 * several (--procs N), each lives in a worker process (worker-pool.ts) and the coordinator holds a proxy
 * whose methods are IPC calls. Either way the scenario code calls the same methods.
 */
import type { UserIdentity } from '../../src/client/user-identity.ts';
import { userIdentityToJSON } from '../../src/client/user-identity.ts';
import type { Context } from './context.ts';
import { REMOTE_START_LEAD_MS } from './shard-api.ts';
import { createShard } from './shard-registry.ts';
import type { ShardKind, ShardParams } from './shard-registry.ts';
import type { WorkerInit } from './worker.ts';
import { closeWorkers, startWorkers } from './worker-pool.ts';
import type { RemoteWorker } from './worker-pool.ts';

export interface ShardPart<K extends ShardKind> {
  /** Pool indices of the users the part needs. */
  readonly users: readonly number[];
  readonly params: ShardParams[K];
}

export interface ShardSet<T> {
  readonly shards: readonly T[];
  /** Worker processes' pids (empty in process). */
  readonly pids: readonly number[];
  /** Close every shard (and stop the workers); never throws. */
  close(): Promise<void>;
}

function remoteProxy<T>(worker: RemoteWorker, methods: readonly string[]): T {
  const proxy: Record<string, unknown> = { startLeadMs: REMOTE_START_LEAD_MS };
  for (const method of methods) proxy[method] = (...args: unknown[]) => worker.call(method, ...args);
  return proxy as T;
}

/**
 * One shard per part: in this process when there is one part, else in as many worker processes.
 * `methods` are those the coordinator calls (`close` among them).
 */
export async function openShards<K extends ShardKind, T extends { close(): Promise<void> }>(
  ctx: Context,
  kind: K,
  pool: readonly UserIdentity[],
  parts: ReadonlyArray<ShardPart<K>>,
  methods: readonly string[],
): Promise<ShardSet<T>> {
  if (parts.length === 1) {
    const part = parts[0]!;
    const identities = new Map(part.users.map((i) => [i, pool[i]!] as const));
    const shard = createShard(kind, ctx, identities, part.params) as T;
    return { shards: [shard], pids: [], close: () => shard.close().catch(() => {}) };
  }
  const workers = startWorkers(parts.length);
  try {
    await Promise.all(
      workers.map((worker, w) => {
        const part = parts[w]!;
        const init: WorkerInit<K> = {
          kind,
          options: ctx.options,
          identities: part.users.map((i) => [i, userIdentityToJSON(pool[i]!)] as const),
          params: part.params,
        };
        return worker.call('init', init);
      }),
    );
  } catch (err) {
    await closeWorkers(workers);
    throw err;
  }
  ctx.log.note(`[procs] ${workers.length} generator processes: pids ${workers.map((w) => w.pid).join(', ')}`);
  return {
    shards: workers.map((w) => remoteProxy<T>(w, methods)),
    pids: workers.map((w) => w.pid ?? 0),
    close: () => closeWorkers(workers),
  };
}

/**
 * A generator worker process (`--procs N`; started by worker-pool.ts, never by hand): it hosts one shard
 * (shard-registry.ts) and runs the coordinator's calls on it, one IPC message each way per call. It prints
 * nothing (the coordinator reports), exits when the coordinator closes it or goes away, and leaves Ctrl-C
 * to the coordinator (which stops it).
 */
import { userIdentityFromJSON } from '../../src/client/user-identity.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import { createContext } from './context.ts';
import type { LoadgenOptions } from './options.ts';
import { createLog } from './output.ts';
import { createShard } from './shard-registry.ts';
import type { ShardKind, ShardParams } from './shard-registry.ts';
import type { WorkerRequest, WorkerResponse } from './worker-pool.ts';

export interface WorkerInit<K extends ShardKind = ShardKind> {
  readonly kind: K;
  readonly options: LoadgenOptions;
  /** [pool index, identity JSON] of the users this process needs. */
  readonly identities: ReadonlyArray<readonly [number, unknown]>;
  readonly params: ShardParams[K];
}

type Shard = Record<string, unknown>;

let shard: Shard | undefined;

function init(request: WorkerInit): void {
  const options: LoadgenOptions = { ...request.options, quiet: true };
  const ctx = createContext(options, createLog(true));
  const identities = new Map<number, UserIdentity>();
  for (const [index, json] of request.identities) identities.set(index, userIdentityFromJSON(json));
  shard = createShard(request.kind, ctx, identities, request.params) as Shard;
}

async function handle(request: WorkerRequest): Promise<unknown> {
  if (request.method === 'init') {
    init(request.args[0] as WorkerInit);
    return undefined;
  }
  if (shard === undefined) throw new Error(`"${request.method}" before init`);
  const method = shard[request.method];
  if (typeof method !== 'function') throw new Error(`the shard has no method "${request.method}"`);
  return await (method as (...args: unknown[]) => unknown).apply(shard, [...request.args]);
}

function reply(response: WorkerResponse, then?: () => void): void {
  process.send?.(response, undefined, undefined, () => then?.());
}

if (process.send === undefined) {
  process.stderr.write('bench/loadgen/worker.ts is started by the load generator (--procs), not by hand\n');
  process.exit(2);
}
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => {});
process.on('message', (request: WorkerRequest) => {
  handle(request).then(
    (result) =>
      reply({ id: request.id, result }, request.method === 'close' ? () => process.exit(0) : undefined),
    (err: unknown) => reply({ id: request.id, error: err instanceof Error ? err.message : String(err) }),
  );
});

/**
 * The kinds of shard a generator process can host, and how one is made: in process (one generator
 * process) or in a worker (worker.ts) from the coordinator's `init`.
 */
import type { UserIdentity } from '../../src/client/user-identity.ts';
import type { Context } from './context.ts';
import { LoginsShard } from './scenarios/logins-shard.ts';
import type { LoginsShardParams } from './scenarios/logins-shard.ts';
import { SinkShard } from './scenarios/sink-shard.ts';
import type { SinkShardParams } from './scenarios/sink-shard.ts';
import { SteadyShard } from './scenarios/steady-shard.ts';
import type { SteadyShardParams } from './scenarios/steady-shard.ts';

export interface ShardParams {
  steady: SteadyShardParams;
  logins: LoginsShardParams;
  sink: SinkShardParams;
}

export type ShardKind = keyof ShardParams;

/** Make a shard of `kind` from its pool users (by pool index) and parameters. */
export function createShard<K extends ShardKind>(
  kind: K,
  ctx: Context,
  identities: ReadonlyMap<number, UserIdentity>,
  params: ShardParams[K],
): object {
  switch (kind) {
    case 'steady':
      return new SteadyShard(ctx, identities, params as SteadyShardParams);
    case 'logins':
      return new LoginsShard(ctx, identities, params as LoginsShardParams);
    case 'sink':
      return new SinkShard(ctx, identities, params as SinkShardParams);
    default:
      throw new Error(`unknown shard kind "${String(kind)}"`);
  }
}

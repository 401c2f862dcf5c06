/**
 * Durability modes: when a write the station acknowledges (a published message, a stored one) counts as
 * done, and so when the client's `OK` is sent.
 *
 *  - `write` (default): once the Redis master has applied it. A power loss or a kill -9 of the master can
 *    lose what the persistence setting had not yet written (`appendfsync everysec`: up to about a second);
 *    a failover can lose what the replica had not yet received.
 *  - `fsync`: once it is in the master's append-only file on disk. Requires every master to run
 *    `appendonly yes` with `appendfsync always` (Redis replies only after the fsync); the station checks it
 *    at startup and refuses to start otherwise. Survives a crash or power loss of the master (restarted on
 *    its disk); a failover to a replica can still lose the last writes.
 *  - `replica`: once at least one replica has it (`WAIT 1 <timeout>`, sent on the connection that made the
 *    write — for a cluster, to the master of the written key's slot). Survives the loss of the master and a
 *    failover to that replica. When no replica confirms within the timeout the write fails (the client gets
 *    no OK and retries; a retried message is deduplicated by signature).
 */
import type { ChainableCommander } from 'ioredis';
import { masterConnections } from './redis-connection.ts';
import type { RedisClient } from './redis-connection.ts';

export type DurabilityMode = 'write' | 'fsync' | 'replica';

export const DURABILITY_MODES: readonly DurabilityMode[] = ['write', 'fsync', 'replica'];

export interface DurabilityOptions {
  readonly mode: DurabilityMode;
  /** `replica`: how long WAIT waits for a replica (ms, default 1000). */
  readonly replicaTimeoutMs?: number;
  /** `replica`: how many replicas must have the write (default 1). */
  readonly replicas?: number;
}

export class DurabilityError extends Error {
  readonly code: 'DURABILITY_NOT_REPLICATED' | 'DURABILITY_SERVER_CONFIG';
  constructor(code: DurabilityError['code'], message: string) {
    super(message);
    this.name = 'DurabilityError';
    this.code = code;
  }
}

export const DURABILITY_DEFAULTS = { replicaTimeoutMs: 1000, replicas: 1 } as const;

export class Durability {
  readonly mode: DurabilityMode;
  readonly replicaTimeoutMs: number;
  readonly replicas: number;

  constructor(options: DurabilityOptions = { mode: 'write' }) {
    this.mode = options.mode;
    this.replicaTimeoutMs = Math.max(
      1,
      Math.floor(options.replicaTimeoutMs ?? DURABILITY_DEFAULTS.replicaTimeoutMs),
    );
    this.replicas = Math.max(1, Math.floor(options.replicas ?? DURABILITY_DEFAULTS.replicas));
  }

  /** Whether writes need a WAIT after them. */
  get waits(): boolean {
    return this.mode === 'replica';
  }

  /** Append the WAIT of the replica mode to a pipeline holding writes (no-op in other modes). */
  appendWait(pipeline: ChainableCommander): ChainableCommander {
    return this.waits
      ? pipeline.call('WAIT', String(this.replicas), String(this.replicaTimeoutMs))
      : pipeline;
  }

  /** Check the reply of the WAIT appended by `appendWait`. Throws DurabilityError when not replicated. */
  checkWaitReply(reply: unknown): void {
    if (!this.waits) return;
    const acked = Number(reply);
    if (!(acked >= this.replicas)) {
      throw new DurabilityError(
        'DURABILITY_NOT_REPLICATED',
        `write not confirmed by ${this.replicas} replica(s) within ${this.replicaTimeoutMs} ms (got ${acked})`,
      );
    }
  }

  /**
   * After a write of `key` has been applied: in the replica mode, WAIT on the connection that wrote it (for
   * a cluster, the master of the key's slot: the pipeline is routed by its keyed EXISTS). Throws
   * DurabilityError when no replica confirms in time.
   */
  async afterWrite(client: RedisClient, key: string): Promise<void> {
    if (!this.waits) return;
    const replies = await this.appendWait(client.pipeline().exists(key)).exec();
    const [routed, waited] = replies ?? [];
    if (!routed || !waited) throw new DurabilityError('DURABILITY_NOT_REPLICATED', 'no reply to WAIT');
    // an error of the keyed command (MOVED after a failover) means the WAIT ran on some other node
    if (routed[0]) throw routed[0];
    if (waited[0]) throw waited[0];
    this.checkWaitReply(waited[1]);
  }

  /**
   * Startup check of the servers: `fsync` requires `appendonly yes` and `appendfsync always` on every
   * master; `replica` requires (warns through the returned problems) connected replicas. Returns the
   * problems that do not prevent running (e.g. no replica connected right now); throws DurabilityError for
   * those that do.
   */
  async checkServers(client: RedisClient): Promise<string[]> {
    if (this.mode === 'write') return [];
    const problems: string[] = [];
    for (const node of masterConnections(client)) {
      const where = `${node.options.host}:${node.options.port}`;
      if (this.mode === 'fsync') {
        let config: string[];
        try {
          config = (await node.call('CONFIG', 'GET', 'append*')) as string[];
        } catch (err) {
          throw new DurabilityError(
            'DURABILITY_SERVER_CONFIG',
            `durability fsync: cannot read the persistence settings of ${where} (${(err as Error).message})`,
          );
        }
        const settings = new Map<string, string>();
        for (let i = 0; i + 1 < config.length; i += 2) settings.set(String(config[i]), String(config[i + 1]));
        if (settings.get('appendonly') !== 'yes' || settings.get('appendfsync') !== 'always') {
          throw new DurabilityError(
            'DURABILITY_SERVER_CONFIG',
            `durability fsync needs appendonly yes and appendfsync always on ${where}, it runs appendonly ${settings.get('appendonly')} appendfsync ${settings.get('appendfsync')}`,
          );
        }
      } else {
        const info = String(await node.call('INFO', 'replication'));
        const connected = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0);
        if (connected < this.replicas) {
          problems.push(
            `${where} has ${connected} connected replica(s), the replica mode needs ${this.replicas}`,
          );
        }
      }
    }
    return problems;
  }
}

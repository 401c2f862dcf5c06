/**
 * The push queue on BullMQ (Redis engine). Producer and worker each get their own ioredis connections
 * (the worker's blocking ones with `maxRetriesPerRequest: null`, as BullMQ requires). The key prefix comes
 * from the station's Redis prefix and is one hash tag (`{dim:push}`), so every key of the queue lives in
 * one Redis Cluster slot, as BullMQ's Lua scripts need; on a cluster `DIM_REDIS_URL` the connections are
 * cluster clients.
 *
 * Retry policy: `attempts` runs, custom backoff (exponential with jitter, Retry-After honoured: see
 * retryDelay). The last 1,000 completed jobs are kept (a job re-added after its removal finds its batch
 * done in PushState and sends nothing), failed ones a week for inspection. A worker that dies holding a job loses its lock; after `lockDurationMs` the stalled-job check
 * of any live worker puts the job back (up to `maxStalledCount` times), and the batch it had taken is
 * resent to the devices not yet recorded as notified.
 */
import { Queue, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import { authOptions, parseRedisTarget, reconnectDelay } from '../redis/redis-connection.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { PushRetryError, retryDelay } from './push-queue.ts';
import type { PushJob, PushJobHandler, PushQueue, RetryPolicy } from './push-queue.ts';

export const PUSH_QUEUE_NAME = 'push';
const BACKOFF_TYPE = 'dim-push';

export interface BullPushQueueOptions {
  readonly url: string;
  readonly keys: RedisKeys;
  readonly policy: RetryPolicy;
  readonly logger?: Logger;
  readonly redis?: RedisOptions;
}

/** Reconnect delays of the queue's connections: from 50 ms, doubling, at most 1 s. */
const retryStrategy = reconnectDelay(1000);

/**
 * A connection for BullMQ on the station's `DIM_REDIS_URL`: one server, or a Redis Cluster (several nodes
 * or `redis+cluster://`; the queue's keys share the `{…push}` hash tag, so its scripts run on one node).
 * Unlike the station's own clients, commands wait for a reconnection (BullMQ's blocking worker needs it).
 */
function connection(url: string, options: RedisOptions, log: Logger, role: string): Redis | Cluster {
  const target = parseRedisTarget(url);
  const redis =
    target.kind === 'standalone'
      ? new Redis(url, { retryStrategy, ...options })
      : new Cluster(
          target.nodes.map((n) => ({ host: n.host, port: n.port })),
          {
            redisOptions: {
              ...authOptions(target),
              retryStrategy,
              ...options,
            },
            clusterRetryStrategy: retryStrategy,
            // a failover: redirections and CLUSTERDOWN are retried while a replica takes over
            retryDelayOnFailover: 200,
            retryDelayOnClusterDown: 200,
          },
        );
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.warn(
      { code: 'PUSH_QUEUE_REDIS_DOWN', role, err: err.message },
      'push queue connection lost; reconnecting',
    );
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info({ code: 'PUSH_QUEUE_REDIS_BACK', role }, 'push queue connection back');
  });
  return redis;
}

export class BullPushQueue implements PushQueue {
  readonly queue: Queue;
  readonly #redis: Redis | Cluster;
  #closing: Promise<void> | undefined;

  constructor(options: BullPushQueueOptions) {
    const log = (options.logger ?? silentLogger).child({ module: 'push-queue' });
    // the producer fails fast (the dispatcher retries its entry) rather than queueing commands offline
    this.#redis = connection(options.url, { maxRetriesPerRequest: 1, ...options.redis }, log, 'producer');
    this.queue = new Queue<PushJob>(PUSH_QUEUE_NAME, {
      connection: this.#redis,
      prefix: options.keys.pushQueuePrefix(),
      defaultJobOptions: {
        attempts: options.policy.attempts,
        backoff: { type: BACKOFF_TYPE },
        // a re-added job after removal finds its batch done (PushState) and sends nothing
        removeOnComplete: { count: 1000 },
        removeOnFail: { age: 7 * 24 * 3600 },
      },
    });
  }

  async add(jobId: string, job: PushJob, delayMs: number): Promise<void> {
    await this.queue.add('notify', job, { jobId, delay: Math.max(0, delayMs) });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.queue.close();
      this.#redis.disconnect();
    })();
    return this.#closing;
  }
}

export interface BullPushWorkerOptions extends BullPushQueueOptions {
  readonly handler: PushJobHandler;
  readonly concurrency: number;
  /** A job whose worker stopped renewing its lock for this long is recovered (ms, default 30 s). */
  readonly lockDurationMs?: number;
  /** How many times a job may stall before it fails (default 5). */
  readonly maxStalledCount?: number;
}

export class BullPushWorker {
  readonly worker: Worker;
  readonly #redis: Redis | Cluster;
  readonly #log: Logger;
  #closing: Promise<void> | undefined;

  constructor(options: BullPushWorkerOptions) {
    this.#log = (options.logger ?? silentLogger).child({ module: 'push-worker' });
    this.#redis = connection(
      options.url,
      { maxRetriesPerRequest: null, ...options.redis },
      this.#log,
      'worker',
    );
    const lockDuration = options.lockDurationMs ?? 30_000;
    const policy = options.policy;
    this.worker = new Worker<PushJob>(
      PUSH_QUEUE_NAME,
      async (job: Job<PushJob>) => {
        await options.handler(job.id as string, job.data, job.attemptsMade + 1);
      },
      {
        connection: this.#redis,
        prefix: options.keys.pushQueuePrefix(),
        concurrency: options.concurrency,
        lockDuration,
        stalledInterval: Math.max(500, Math.floor(lockDuration / 2)),
        maxStalledCount: options.maxStalledCount ?? 5,
        autorun: false,
        settings: {
          backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) =>
            retryDelay(policy, attemptsMade, err instanceof PushRetryError ? err.retryAfterMs : undefined),
        },
      },
    );
    this.worker.on('failed', (job, err) => {
      if (job === undefined) return;
      if (job.attemptsMade >= (job.opts.attempts ?? 1))
        this.#log.error(
          { code: 'PUSH_JOB_FAILED', jobId: job.id, attempts: job.attemptsMade, err: err.message },
          'push job failed for good',
        );
    });
    this.worker.on('stalled', (jobId) => {
      this.#log.warn({ code: 'PUSH_JOB_STALLED', jobId }, 'recovered a push job whose worker stopped');
    });
    this.worker.on('error', (err) => {
      this.#log.warn({ code: 'PUSH_WORKER_ERROR', err: err.message }, 'push worker error');
    });
  }

  start(): void {
    void this.worker.run().catch((err: unknown) => {
      this.#log.error({ code: 'PUSH_WORKER_STOPPED', err: String(err) }, 'push worker stopped');
    });
  }

  /** Stop taking jobs, let running ones finish. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.worker.close();
      this.#redis.disconnect();
    })();
    return this.#closing;
  }
}

/**
 * The BullMQ push queue on a real local Redis Cluster (the station's `DIM_REDIS_URL` naming its nodes): a
 * job added by the producer runs once on the worker, a retried job runs again after its backoff, a job ID
 * added twice runs once, and every key of the queue sits in the one slot of its hash tag.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { BullPushQueue, BullPushWorker } from '../../../src/push/bullmq-push-queue.ts';
import { PushRetryError } from '../../../src/push/push-queue.ts';
import type { PushJob } from '../../../src/push/push-queue.ts';
import { createRedisKeys } from '../../../src/redis/redis-keys.ts';
import { waitUntil } from '../../helpers/cluster.ts';
import { RedisCluster } from '../../helpers/redis-cluster.ts';

const policy = { attempts: 3, backoffMs: 100, maxBackoffMs: 200, jitter: 0 };

describe('push queue (BullMQ) on a Redis Cluster', { timeout: 120_000 }, () => {
  let cluster: RedisCluster;
  before(async () => {
    cluster = await RedisCluster.start();
  });
  after(async () => {
    await cluster?.dispose();
  });

  it('runs added jobs once, retries a failing one, and keeps every key in one slot', async () => {
    const keys = createRedisKeys('pq:');
    const runs: { id: string; job: PushJob; attempt: number }[] = [];
    const worker = new BullPushWorker({
      url: cluster.url,
      keys,
      policy,
      concurrency: 4,
      handler: async (id, job, attempt) => {
        runs.push({ id, job, attempt });
        if (job.user === 'flaky@x' && attempt === 1) throw new PushRetryError('provider said 503');
      },
    });
    const queue = new BullPushQueue({ url: cluster.url, keys, policy });
    try {
      worker.start();
      await queue.add('job-a', { user: 'alice@x' }, 0);
      await queue.add('job-a', { user: 'alice@x' }, 0); // same ID: not added again
      await queue.add('job-f', { user: 'flaky@x' }, 0);
      await waitUntil(
        () => runs.filter((r) => r.id === 'job-f').length >= 2,
        20_000,
        'the retried job to run again',
      );
      await waitUntil(() => runs.some((r) => r.id === 'job-a'), 20_000, 'the first job to run');
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(runs.filter((r) => r.id === 'job-a').length, 1, 'a job ID runs once');
      assert.deepEqual(
        runs.filter((r) => r.id === 'job-f').map((r) => r.attempt),
        [1, 2],
        'retried once after its backoff',
      );
      const prefix = keys.pushQueuePrefix();
      const found: string[] = [];
      for (const node of cluster.nodes) {
        const redis = new Redis({ port: node.port, lazyConnect: true });
        try {
          await redis.connect();
          found.push(...(await redis.keys(`${prefix}*`)));
        } finally {
          redis.disconnect();
        }
      }
      assert.ok(found.length > 0, 'the queue keeps keys on the cluster');
      assert.equal(new Set(found.map((k) => calculateSlot(k))).size, 1, 'one slot for every queue key');
    } finally {
      await queue.close();
      await worker.close();
    }
  });
});

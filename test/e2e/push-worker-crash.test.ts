/**
 * The push worker as a separate process on BullMQ: killed with SIGKILL in the middle of a batch, its jobs
 * are recovered by another worker process (stalled-job check) and every notification is still sent; the
 * duplicates (notifications in flight at the kill, resent) are counted. Also: a dispatcher retry (the same
 * message stored twice, concurrently or later) pushes once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load-config.ts';
import { createRedisBackend } from '../../src/engine/redis-backend.ts';
import type { RedisBackend } from '../../src/engine/redis-backend.ts';
import { silentLogger } from '../../src/ops/logger.ts';
import { parseReliableMessage } from '../../src/protocol/dkd/reliable-message.ts';
import { parseId } from '../../src/protocol/mkm/identifier.ts';
import type { ID } from '../../src/protocol/mkm/identifier.ts';
import { PushService } from '../../src/push/push-service.ts';
import { IdentityDirectory } from '../../src/storage/identity-directory.ts';
import { sleep, waitUntil } from '../helpers/cluster.ts';
import { randomApnsToken, startPushProviders, TEST_TOPIC } from '../helpers/push-harness.ts';
import type { PushProvidersHarness } from '../helpers/push-harness.ts';
import { startRedisServer } from '../helpers/redis-server.ts';
import type { RedisServer } from '../helpers/redis-server.ts';

const WORKER = new URL('../../workers/push.ts', import.meta.url).pathname;
const USERS = 300;
const CONCURRENCY = 16;

const address = (i: number): string => `0x${i.toString(16).padStart(40, '0')}`;
const sender = parseId(`bob@${address(999_999)}`);

function message(receiver: ID, n: number): ReturnType<typeof parseReliableMessage> {
  return parseReliableMessage(
    JSON.stringify({
      sender: sender.string,
      receiver: receiver.string,
      time: Date.now() / 1000,
      type: 1,
      data: 'AAAA',
      signature: `sig-${receiver.string}-${n}`,
    }),
  );
}

describe('push worker process killed mid-batch (BullMQ stalled-job recovery)', { timeout: 180_000 }, () => {
  let redis: RedisServer;
  let push: PushProvidersHarness;
  let backend: RedisBackend;
  let producer: PushService;
  let dataDir: string;
  const workers: ChildProcess[] = [];
  const prefix = `crash${process.pid}:`;
  let env: Record<string, string>;

  function startWorker(): ChildProcess {
    const child = spawn(process.execPath, [WORKER], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
    child.stderr?.on('data', (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
    child.once('exit', (code, signal) => {
      if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM')
        process.stderr.write(`push worker exited ${code} ${signal}\n${output}\n`);
    });
    workers.push(child);
    return child;
  }

  before(async () => {
    redis = await startRedisServer();
    push = await startPushProviders({ apnsLatencyMs: 100 });
    dataDir = mkdtempSync(join(tmpdir(), 'dim-push-worker-'));
    env = {
      ...push.env,
      DIM_REDIS_URL: redis.url,
      DIM_REDIS_PREFIX: prefix,
      DIM_DATA_DIR: dataDir,
      DIM_LOG_LEVEL: 'warn',
      DIM_PUSH_LOCK_MS: '2000',
      DIM_PUSH_CONCURRENCY: String(CONCURRENCY),
      DIM_PUSH_COALESCE_MS: '0',
      DIM_PUSH_BACKOFF_MS: '200',
    };
    backend = await createRedisBackend({ url: redis.url, prefix });
    const config = loadConfig(env, process.cwd());
    producer = await PushService.create({
      config: config.push,
      engine: { kind: 'redis', redis: backend.redis, url: redis.url },
      keys: backend.keys,
      accounts: backend.accounts,
      directory: new IdentityDirectory(backend.identities),
      produce: true,
      consume: false,
      logger: silentLogger,
    });
  });

  after(async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    await producer?.close();
    await backend?.close();
    await push?.close();
    await redis?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** A new token at the local APNs, registered as `receiver`'s iOS device (on `terminal` if given). */
  async function registerDevice(receiver: ID, terminal?: string): Promise<string> {
    const token = randomApnsToken();
    push.apns.register(token, TEST_TOPIC);
    await producer.devices.put(receiver.string, {
      platform: 'ios',
      token,
      channel: 'apns',
      topic: TEST_TOPIC,
      ...(terminal === undefined ? {} : { terminal }),
      time: Date.now(),
    });
    return token;
  }

  it('kill -9 of the worker mid-batch: every notification is still sent (duplicates counted)', async (t) => {
    const tokens: string[] = [];
    const receivers: ID[] = [];
    for (let i = 0; i < USERS; i++) {
      const receiver = parseId(`user${i}@${address(i + 1)}`);
      tokens.push(await registerDevice(receiver, 'iphone'));
      receivers.push(receiver);
    }
    const first = startWorker();
    await Promise.all(receivers.map((r, i) => producer.hook?.messageStored(message(r, i), r, [])));
    await waitUntil(() => push.apns.delivered200 >= 40, 30_000, 'the first worker to be mid-batch');
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const atKill = push.apns.delivered200;
    assert.ok(atKill < USERS, `the worker was killed mid-batch (${atKill} of ${USERS} sent)`);
    startWorker();
    await waitUntil(() => tokens.every((tok) => push.apns.count(tok) >= 1), 60_000, 'every notification');
    await sleep(1500);
    const duplicates = tokens.reduce((sum, tok) => sum + push.apns.count(tok) - 1, 0);
    t.diagnostic(`sent before the kill: ${atKill}; notifications: ${USERS}; duplicates: ${duplicates}`);
    assert.ok(tokens.every((tok) => push.apns.count(tok) >= 1));
    // only notifications in flight when the process died can be sent twice
    assert.ok(duplicates <= CONCURRENCY, `${duplicates} duplicates`);
  });

  it('a dispatcher retry (the same message stored again) pushes once', async () => {
    const receiver = parseId(`retry@${address(777_777)}`);
    const token = await registerDevice(receiver);
    const m = message(receiver, 1);
    await Promise.all([
      producer.hook?.messageStored(m, receiver, []),
      producer.hook?.messageStored(m, receiver, []),
    ]);
    await waitUntil(() => push.apns.count(token) >= 1, 20_000, 'the notification');
    await producer.hook?.messageStored(m, receiver, []);
    await sleep(1500);
    assert.equal(push.apns.count(token), 1);
  });
});

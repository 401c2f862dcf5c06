/**
 * Push notification benchmarks: `node bench/push.bench.ts [--quick]`.
 *
 * 1. Throughput: N push jobs (one user, one iPhone each) queued on BullMQ; one push worker (this process:
 *    BullMQ worker + PushSender + the APNs client) drains them to a local APNs server running in another
 *    process, over one HTTP/2 connection. Reported: notifications/s from the worker's start to the last
 *    one received, connections used, and whether the client ever exceeded the server's stream limit. The
 *    APNs client alone (no queue: `send` with up to 1,000 in flight) is measured too, as its ceiling.
 * 2. Latency: a station (Redis engine, every role in this process, 1 s coalescing window) and a DIM client
 *    sending one message to each of M offline users at a steady rate; for each, the time from the sender
 *    receiving "Message cached." to the local APNs server (same process) receiving the notification.
 *
 * `--only=throughput|latency`; PUSH_BENCH_CONCURRENCY (default 256) sets the worker's concurrency.
 * Needs redis-server and openssl on PATH. Prints a table and a JSON line.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { KeyDirectory } from '../src/client/key-directory.ts';
import { createUserIdentity } from '../src/client/user-identity.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { createRedisBackend } from '../src/engine/redis-backend.ts';
import { silentLogger } from '../src/ops/logger.ts';
import { parseReliableMessage } from '../src/protocol/dkd/reliable-message.ts';
import { parseId } from '../src/protocol/mkm/identifier.ts';
import { ApnsProvider } from '../src/push/apns-provider.ts';
import { ApnsProviderToken } from '../src/push/apns-token.ts';
import { PushService } from '../src/push/push-service.ts';
import { IdentityDirectory } from '../src/storage/identity-directory.ts';
import { randomApnsToken, startPushProviders, TEST_TOPIC } from '../test/helpers/push-harness.ts';
import { startRedisServer } from '../test/helpers/redis-server.ts';
import { connectClient, startTestStation } from '../test/helpers/station-harness.ts';

const quick = process.argv.includes('--quick');
const JOBS = quick ? 5000 : 20_000;
const USERS = quick ? 100 : 300;
const RATE = 30; // messages per second in the latency run
const CONCURRENCY = Number(process.env['PUSH_BENCH_CONCURRENCY'] ?? 256);
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface Counts {
  delivered: number;
  connections: number;
  violations: number;
  maxInflight: number;
}

function ask(child: ChildProcess): Promise<Counts> {
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      const msg = m as Counts & { type: string };
      if (msg.type !== 'count') return;
      child.off('message', on);
      resolve(msg);
    };
    child.on('message', on);
    child.send({ type: 'count' });
  });
}

async function throughput(): Promise<Record<string, number>> {
  const redis = await startRedisServer();
  const push = await startPushProviders({ record: false });
  const tokens = Array.from({ length: JOBS }, () => randomApnsToken());
  const server = fork(new URL('./push-apns-server.ts', import.meta.url).pathname, [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve) => {
    server.on('message', (m) => {
      const msg = m as { type: string; port: number };
      if (msg.type === 'ready') resolve(msg.port);
    });
    server.send({
      type: 'setup',
      setup: {
        tls: push.creds.tls,
        keys: [
          {
            keyId: push.creds.apns.keyId,
            teamId: push.creds.apns.teamId,
            publicKey: push.creds.apns.publicKey.export({ type: 'spki', format: 'pem' }),
          },
        ],
        topic: TEST_TOPIC,
        tokens,
      },
    });
  });
  const url = `https://localhost:${port}`;
  const out: Record<string, number> = {};

  // the APNs client alone
  {
    const provider = new ApnsProvider({
      token: new ApnsProviderToken(
        readFileSync(push.creds.apns.file, 'utf8'),
        push.creds.apns.keyId,
        push.creds.apns.teamId,
      ),
      topic: TEST_TOPIC,
      sandbox: false,
      productionUrl: url,
      ca: push.creds.tls.ca,
    });
    const n = Math.min(JOBS, 10_000);
    const notification = {
      title: 'Text Message',
      body: 'Dear alice: bob sent you a text message.',
      badge: 1,
      count: 1,
      conversation: 'bob@x',
      sender: 'bob@x',
      time: Date.now(),
    };
    await provider.send({
      device: { platform: 'ios', token: tokens[0] as string, channel: 'apns', time: Date.now() },
      notification,
      receiver: 'a',
      deliveryId: 'warm',
    });
    const started = performance.now();
    let next = 1;
    await Promise.all(
      Array.from({ length: 1000 }, async () => {
        while (next < n) {
          const i = next++;
          await provider.send({
            device: { platform: 'ios', token: tokens[i] as string, channel: 'apns', time: Date.now() },
            notification,
            receiver: 'a',
            deliveryId: `d${i}`,
          });
        }
      }),
    );
    out['clientPerSecond'] = Math.round((n - 1) / ((performance.now() - started) / 1000));
    await provider.close();
  }

  // queue N jobs, then one worker drains them
  const before = await ask(server);
  const env = {
    ...push.env,
    DIM_PUSH_APNS_URL: url,
    DIM_REDIS_URL: redis.url,
    DIM_PUSH_COALESCE_MS: '0',
    DIM_PUSH_CONCURRENCY: String(CONCURRENCY),
    DIM_PUSH_RATE_PER_SECOND: '100000',
  };
  const config = loadConfig(env, process.cwd());
  const backend = await createRedisBackend({ url: redis.url, prefix: 'bench:' });
  const common = {
    config: config.push,
    engine: { kind: 'redis' as const, redis: backend.redis, url: redis.url },
    keys: backend.keys,
    accounts: backend.accounts,
    directory: new IdentityDirectory(backend.identities),
    logger: silentLogger,
  };
  const producer = await PushService.create({ ...common, produce: true, consume: false });
  const now = Date.now();
  for (let i = 0; i < JOBS; i += 500) {
    await Promise.all(
      tokens.slice(i, i + 500).map(async (token, k) => {
        const user = parseId(`u${i + k}@0x${(i + k + 1).toString(16).padStart(40, '0')}`);
        await producer.devices.put(user.string, {
          platform: 'ios',
          token,
          channel: 'apns',
          topic: TEST_TOPIC,
          time: now,
        });
        const message = parseReliableMessage(
          JSON.stringify({
            sender: `bob@0x${'f'.repeat(40)}`,
            receiver: user.string,
            time: Date.now() / 1000,
            type: 1,
            data: 'AA',
            signature: `s${i + k}`,
          }),
        );
        await producer.hook?.messageStored(message, user, []);
      }),
    );
  }
  await producer.close();
  const worker = await PushService.create({ ...common, produce: false, consume: true });
  const started = performance.now();
  worker.start();
  let counts = await ask(server);
  while (counts.delivered - before.delivered < JOBS) {
    await sleep(20);
    counts = await ask(server);
  }
  const seconds = (performance.now() - started) / 1000;
  out['workerPerSecond'] = Math.round(JOBS / seconds);
  out['workerConnections'] = counts.connections - before.connections;
  out['streamLimitViolations'] = counts.violations;
  out['maxInflightStreams'] = counts.maxInflight;
  await worker.close();
  await backend.close();
  server.send({ type: 'stop' });
  await push.close();
  await redis.dispose();
  return out;
}

async function latency(): Promise<Record<string, number>> {
  const redis = await startRedisServer();
  const push = await startPushProviders();
  const backend = await createRedisBackend({ url: redis.url, prefix: 'lat:' });
  const station = await startTestStation({
    backend,
    env: { ...push.env, DIM_REDIS_URL: redis.url, DIM_REDIS_PREFIX: 'lat:', DIM_PUSH_COALESCE_MS: '1000' },
  });
  const directory = new KeyDirectory();
  const sender = createUserIdentity({ kind: 'eth', name: 'bob', now: Date.now() / 1000 });
  directory.add(sender);
  const tokenOf = new Map<string, string>();
  const cachedAt = new Map<string, number>();
  const users = [];
  for (let i = 0; i < USERS; i++) {
    const user = createUserIdentity({ kind: 'eth', name: `u${i}`, now: Date.now() / 1000 });
    directory.add(user);
    const token = randomApnsToken();
    push.apns.register(token, TEST_TOPIC);
    await station.node.push?.devices.put(user.id.string, {
      platform: 'ios',
      token,
      channel: 'apns',
      topic: TEST_TOPIC,
      time: Date.now(),
    });
    tokenOf.set(user.id.string, token);
    users.push(user);
  }
  const client = await connectClient(station.port, 'mtp', sender, directory);
  await client.handshake();
  const interval = 1000 / RATE;
  const start = performance.now();
  await Promise.all(
    users.map(async (user, i) => {
      await sleep(Math.max(0, start + i * interval - performance.now()));
      const sent = await client.sendText(user.id, `hello ${i}`);
      const receipt = await client.waitReceipt(sent, 10_000);
      if (receipt?.text !== 'Message cached.') throw new Error(`unexpected receipt ${receipt?.text}`);
      cachedAt.set(tokenOf.get(user.id.string) as string, receipt.receivedAt);
    }),
  );
  const deadline = Date.now() + 30_000;
  while (push.apns.delivered200 < USERS && Date.now() < deadline) await sleep(50);
  const samples: number[] = [];
  for (const request of push.apns.requests) {
    const t0 = cachedAt.get(request.token);
    if (t0 !== undefined && request.status === 200) samples.push(request.at - t0);
  }
  samples.sort((a, b) => a - b);
  await client.close();
  await station.close();
  await push.close();
  await redis.dispose();
  return {
    messages: USERS,
    notified: samples.length,
    p50Ms: Math.round(percentile(samples, 50)),
    p90Ms: Math.round(percentile(samples, 90)),
    p99Ms: Math.round(percentile(samples, 99)),
    maxMs: Math.round(samples.at(-1) ?? NaN),
  };
}

const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
const t = only === 'latency' ? {} : await throughput();
const l = only === 'throughput' ? {} : await latency();
const meta = {
  date: new Date().toISOString(),
  commit,
  node: process.version,
  cpus: os.cpus().length,
  load: os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' '),
};
process.stdout.write(
  [
    `push benchmark  ${meta.date}  commit ${commit}  node ${meta.node}  cpus ${meta.cpus}  load ${meta.load}`,
    `APNs client alone (1,000 in flight, one connection): ${t['clientPerSecond']} notifications/s`,
    `one push worker (BullMQ, concurrency ${CONCURRENCY}), ${JOBS} jobs: ${t['workerPerSecond']} notifications/s over ${t['workerConnections']} connection(s); max in-flight streams ${t['maxInflightStreams']}, limit violations ${t['streamLimitViolations']}`,
    `"Message cached." -> APNs request, 1 s window, ${l['messages']} messages at ${RATE}/s: p50 ${l['p50Ms']} ms, p90 ${l['p90Ms']} ms, p99 ${l['p99Ms']} ms, max ${l['maxMs']} ms (${l['notified']} notified)`,
    JSON.stringify({ meta, throughput: t, latency: l }),
    '',
  ].join('\n'),
);
process.exit(0);

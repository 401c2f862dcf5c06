/**
 * Readiness follows Redis: a gateway whose Redis stops turns not-ready (/readyz 503 naming Redis, /healthz
 * still 200) and stops accepting connections (refused, so a balancer retries elsewhere); when Redis comes
 * back it is ready again and accepts clients, and the station relays messages. The admin API refuses
 * requests without the token. dimctl reports an unreachable Redis with exit code 3.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Cluster, waitUntil } from '../helpers/cluster.ts';
import type { RoleProcess } from '../helpers/cluster.ts';
import { dimctl, getText } from '../helpers/ops.ts';

/** Whether a TCP connection to the port is accepted. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('readiness follows Redis', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let gateway: RoleProcess;

  before(async () => {
    cluster = await Cluster.create();
    [gateway] = await Promise.all([
      cluster.start({ role: 'gateway', name: 'gateway-1' }),
      cluster.start({ role: 'dispatcher', name: 'dispatcher-1' }),
      cluster.start({ role: 'storage', name: 'storage-1' }),
    ]);
  });

  after(async () => {
    await cluster?.dispose();
  });

  it('/readyz flips to 503 when Redis stops and back to 200 when it returns; the listener follows', () =>
    cluster.withLogs(async () => {
      const ready = await getText(`${gateway.opsUrl}/readyz`);
      assert.equal(ready.status, 200, ready.text);
      assert.equal(JSON.parse(ready.text).checks.redis.ok, true);
      assert.equal(await accepts(gateway.port), true);

      await cluster.redis.stop();
      const down = await waitUntil(
        async () => {
          const r = await getText(`${gateway.opsUrl}/readyz`);
          return r.status === 503 ? r : undefined;
        },
        20_000,
        '/readyz to turn 503',
        200,
      );
      const report = JSON.parse(down.text) as {
        ready: boolean;
        checks: Record<string, { ok: boolean; detail?: string }>;
      };
      assert.equal(report.ready, false);
      assert.equal(report.checks['redis']?.ok, false);
      assert.match(report.checks['redis']?.detail ?? '', /redis/);
      assert.equal((await getText(`${gateway.opsUrl}/healthz`)).status, 200, 'still alive');
      await waitUntil(
        async () => !(await accepts(gateway.port)),
        10_000,
        'the gateway to stop accepting',
        200,
      );
      const unavailable = await dimctl(cluster, ['status']);
      assert.equal(unavailable.code, 3, `unreachable Redis: exit 3 (${unavailable.stderr})`);
      assert.match(unavailable.stderr, /redis/i);

      await cluster.redis.start();
      await waitUntil(
        async () => (await getText(`${gateway.opsUrl}/readyz`)).status === 200,
        30_000,
        '/readyz to turn 200 again',
        200,
      );
      await waitUntil(() => accepts(gateway.port), 10_000, 'the gateway to accept again', 200);
      assert.match(gateway.output, /NOT_READY/);
      // and it serves: a probe relays a message through it
      const probe = await dimctl(undefined, ['probe', `127.0.0.1:${gateway.port}`, '--timeout', '20000']);
      assert.equal(probe.code, 0, `${probe.stdout}\n${probe.stderr}`);
    }));

  it('the admin API needs the bearer token', () =>
    cluster.withLogs(async () => {
      const none = await fetch(`${gateway.opsUrl}/admin/status`);
      assert.equal(none.status, 401);
      const wrong = await fetch(`${gateway.opsUrl}/admin/drain`, {
        method: 'POST',
        headers: { Authorization: 'Bearer not-the-token-at-all' },
      });
      assert.equal(wrong.status, 401);
      assert.equal(gateway.running, true, 'a refused drain does nothing');
      const unknown = await fetch(`${gateway.opsUrl}/nothing-here`);
      assert.equal(unknown.status, 404);
    }));
});

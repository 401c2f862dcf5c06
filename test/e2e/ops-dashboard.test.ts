/**
 * The live queue dashboard in a real headless Chromium, served by a gateway's ops server of a running
 * multi-process cluster: it shows the cluster's gateways, streams and counters, and the numbers move (over
 * server-sent events, without reloading) when clients exchange messages. A screenshot is kept in
 * test-artifacts/ops-dashboard.png.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyDirectory } from '../../src/client/key-directory.ts';
import { createUserIdentity } from '../../src/client/user-identity.ts';
import { Cluster, waitUntil } from '../helpers/cluster.ts';
import type { RoleProcess } from '../helpers/cluster.ts';
import { HeadlessChromium } from '../helpers/chromium.ts';
import { repoDir } from '../helpers/vectors.ts';

interface PageState {
  updates: number;
  accepted: number;
  rate: string;
  connections: string;
  gatewaysAlive: string;
  gateways: { id: string; state: string }[];
  streams: string[];
  conn: string;
}

const STATE = `(() => {
  const t = (id) => document.getElementById(id).textContent;
  return {
    updates: Number(document.body.dataset.updates || 0),
    accepted: Number(t('accepted')),
    rate: t('rate'),
    connections: t('connections'),
    gatewaysAlive: t('gateways-alive'),
    gateways: [...document.querySelectorAll('#gateways tr')].map((r) => ({
      id: r.dataset.gateway,
      state: r.children[1].textContent,
    })),
    streams: [...document.querySelectorAll('#streams tr')].map((r) => r.dataset.stream),
    conn: t('conn'),
  };
})()`;

describe('ops dashboard in headless Chromium', { timeout: 600_000 }, () => {
  let cluster: Cluster;
  let gateway1: RoleProcess;
  let gateway2: RoleProcess;
  let browser: HeadlessChromium | undefined;

  before(async () => {
    cluster = await Cluster.create();
    ({ gateway1, gateway2 } = await cluster.startDefault());
  });

  after(async () => {
    await browser?.close();
    await cluster?.dispose();
  });

  it('shows the running cluster and its numbers move with traffic', () =>
    cluster.withLogs(async () => {
      const directory = new KeyDirectory();
      const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: Date.now() / 1000 });
      const bob = createUserIdentity({ kind: 'mkm-ecc', name: 'bob', now: Date.now() / 1000 });
      directory.add(alice);
      directory.add(bob);
      const a = await cluster.connect(gateway1, alice, directory);
      const b = await cluster.connect(gateway2, bob, directory);
      await a.handshake();
      await b.handshake();

      browser = await HeadlessChromium.open(`${gateway1.opsUrl}/dashboard`);
      const page = browser;
      const state = (): Promise<PageState> => page.evaluate<PageState>(STATE);
      const first = await waitUntil(
        async () => {
          const s = await state().catch(() => undefined);
          // the connection counts come from each gateway's announcement, refreshed within a second of a change
          return s !== undefined && s.updates >= 2 && s.gateways.length === 2 && s.connections === '2'
            ? s
            : undefined;
        },
        60_000,
        'the dashboard to show the cluster',
        250,
      );
      assert.deepEqual(first.gateways.map((g) => g.id).sort(), ['gateway-1', 'gateway-2']);
      for (const g of first.gateways) assert.equal(g.state, 'up');
      assert.equal(first.gatewaysAlive, '2 / 2');
      assert.equal(first.connections, '2');
      for (let shard = 0; shard < 4; shard++) {
        assert.ok(first.streams.includes(`inbound:${shard}`), `inbound:${shard} shown`);
        assert.ok(first.streams.includes(`store:${shard}`), `store:${shard} shown`);
      }
      assert.ok(first.streams.includes('deliver:gateway-2'));
      assert.match(first.conn, /live/);

      // traffic: the numbers move without a reload
      const N = 30;
      let sawRate = false;
      const watcher = (async () => {
        while (!sawRate) {
          const s = await state();
          if (Number(s.rate) > 0) sawRate = true;
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      const mark = b.mark();
      const sends = [];
      for (let i = 0; i < N; i++) sends.push(await a.sendText(bob.id, `dashboard ${i}`));
      const last = sends.at(-1)!;
      await b.waitForMessage((m) => m.raw.signatureText === last.message.signatureText, 30_000, {
        since: mark,
      });
      const moved = await waitUntil(
        async () => {
          const s = await state();
          return s.accepted >= first.accepted + N ? s : undefined;
        },
        30_000,
        `the accepted count to grow by ${N}`,
        250,
      );
      await waitUntil(() => sawRate, 30_000, 'the messages/s tile to show traffic', 100);
      await watcher;
      assert.ok(moved.updates > first.updates, 'updated live');

      const shot = await page.screenshot();
      assert.ok(shot.length > 10_000 && shot.subarray(1, 4).toString() === 'PNG', 'a PNG screenshot');
      const dir = join(repoDir, 'test-artifacts');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'ops-dashboard.png'), shot);
    }));
});

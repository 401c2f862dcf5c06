/**
 * Offline delivery that real clients read on first try (issue 13). The project's client library is made to
 * behave like dimples 1.5.9 reconnecting to collect what was stored for it: its session state flips to
 * "accepted" some ms after `DIM!`, and until then it drops its own queries (so a message whose sender it
 * cannot verify before the flip stays unread); after the flip it sends `login`. It knows nothing of the
 * people who wrote while it was away.
 *
 * Before the hardening the station pushed the backlog right after `DIM!` (before the flip) and without
 * the senders' identities: every stored message stayed unread.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DimClient, ReceivedMessage } from '../../src/client/dim-client.ts';
import { createMemoryBackend } from '../../src/engine/memory-backend.ts';
import { connectClient, startTestStation } from '../helpers/station-harness.ts';
import type { Framing, TestStation } from '../helpers/station-harness.ts';
import { closeQuietly, delay, KeyDirectory, newUser, until } from '../helpers/gateway-e2e.ts';

const open: DimClient[] = [];
const stations: TestStation[] = [];

afterEach(async () => {
  await closeQuietly(open.splice(0));
  await Promise.all(stations.splice(0).map((s) => s.close()));
});

/** How long after `DIM!` the dimples-like client's state flips to accepted. */
const FLIP_MS = 300;

interface Reading {
  readonly text: string;
  /** ms after the flip (negative: before it). */
  readonly afterFlip: number;
  /** Readable on arrival: its sender verified from what the client had (no query needed). */
  readonly readable: boolean;
  readonly attached: boolean;
}

/**
 * Connect `user` like dimples: handshake, state flips FLIP_MS after `DIM!`, messages arriving before the
 * flip from senders it cannot verify are unread (their queries were dropped); after the flip, `login`
 * unless `silent`.
 */
async function dimplesLike(
  port: number,
  framing: Framing,
  user: ReturnType<typeof newUser>,
  silent = false,
): Promise<{ client: DimClient; readings: Reading[]; flippedAt: () => number }> {
  const client = await connectClient(port, framing, user, new KeyDirectory());
  open.push(client);
  const readings: Reading[] = [];
  let flipAt = Infinity;
  client.on('message', (m: ReceivedMessage) => {
    const text = m.content.dict['text'];
    if (typeof text !== 'string' || !text.startsWith('stored ')) return;
    const afterFlip = m.receivedAt - flipAt;
    readings.push({
      text,
      afterFlip,
      // an unverifiable message before the flip: its meta/visa queries are dropped, it stays unread
      readable: m.verified,
      attached: m.raw.dict['meta'] !== undefined && m.raw.dict['visa'] !== undefined,
    });
  });
  await client.handshake();
  flipAt = performance.now() + FLIP_MS;
  await delay(FLIP_MS);
  if (!silent) await client.login();
  return { client, readings, flippedAt: () => flipAt };
}

for (const framing of ['mtp', 'ws'] as const) {
  describe(`offline delivery to a dimples-like client (${framing})`, () => {
    it('the backlog waits for the login after the state flip, and the first message of each sender carries its meta and visa: every stored message is readable on arrival', async () => {
      const station = await startTestStation({ backend: createMemoryBackend() });
      stations.push(station);
      const shared = new KeyDirectory();
      const bob = newUser('mkm-ecc', 'bob');
      shared.add(bob);
      const writers = [newUser('mkm-ecc', 'alice'), newUser('eth'), newUser('mkm-rsa', 'carol')];
      for (const [w, writer] of writers.entries()) {
        const c = await connectClient(station.port, 'mtp', writer, shared);
        open.push(c);
        await c.handshake();
        for (let i = 0; i < 3; i += 1) {
          const sent = await c.sendText(bob.id, `stored ${w}.${i}`);
          assert.equal((await c.waitReceipt(sent))?.text, 'Message cached.');
        }
        await c.close();
      }
      const { readings } = await dimplesLike(station.port, framing, bob);
      await until(() => readings.length >= 9, 10_000, 'the nine stored messages');
      for (const r of readings) {
        assert.ok(r.afterFlip >= 0, `${r.text} arrived ${-r.afterFlip} ms before the state flip`);
        assert.ok(r.readable, `${r.text} could not be verified on arrival`);
      }
      // one attachment per sender, on its first message of the drain
      assert.equal(readings.filter((r) => r.attached).length, writers.length);
      assert.deepEqual(
        readings.map((r) => r.text),
        writers.flatMap((_, w) => [0, 1, 2].map((i) => `stored ${w}.${i}`)),
        'in order',
      );
    });

    it('a client that says nothing after DIM! gets its backlog after DIM_BACKLOG_DELAY_MS', async () => {
      const station = await startTestStation({
        backend: createMemoryBackend(),
        env: { DIM_BACKLOG_DELAY_MS: '1200' },
      });
      stations.push(station);
      const shared = new KeyDirectory();
      const bob = newUser('mkm-ecc', 'bob');
      shared.add(bob);
      const alice = await connectClient(station.port, 'mtp', newUser('mkm-ecc', 'alice'), shared);
      open.push(alice);
      await alice.handshake();
      await alice.waitReceipt(await alice.sendText(bob.id, 'stored while away'));
      const { readings, flippedAt } = await dimplesLike(station.port, framing, bob, true);
      await until(() => readings.length >= 1, 10_000, 'the stored message');
      const sinceDim = (readings[0] as Reading).afterFlip + FLIP_MS;
      assert.ok(sinceDim >= 1000, `pushed ${sinceDim} ms after DIM! (deadline 1200 ms)`);
      assert.ok((readings[0] as Reading).readable);
      assert.ok(flippedAt() > 0);
    });
  });
}

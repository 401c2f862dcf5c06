/**
 * kill -9 of the dispatcher process while traffic flows between two online users: messages the gateway
 * acknowledged stay in the inbound stream (pending at the dead dispatcher, or unread) and reach the receiver
 * once a dispatcher runs again — the same one restarted (it resumes its own pending entries), or another
 * one (it reclaims them after DIM_BUS_CLAIM_IDLE_MS).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DimClient } from '../../src/client/dim-client.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import { DISPATCH_GROUP } from '../../src/dispatch/dispatcher.ts';
import {
  aliceAndBob,
  clusterFixture,
  collect,
  sendTracked,
  sleep,
  uniqueSignatures,
  waitForAcked,
  waitUntil,
  REDIS_KINDS,
} from '../helpers/cluster.ts';
import type { RoleProcess } from '../helpers/cluster.ts';

interface Flow {
  /** signature → text of every message sent. */
  readonly texts: Map<string, string>;
  /** Signatures the station acknowledged (MTP OK). */
  readonly acked: Set<string>;
}

/**
 * A sends `n` messages to B without waiting for the OKs, pausing `pause(i)` ms after message `i` (0: a
 * burst), and awaiting `at(i)` before it (to crash or restart processes mid-stream); resolves when every
 * send settled.
 */
async function flow(
  a: DimClient,
  to: UserIdentity,
  n: number,
  pause: (i: number) => number,
  at: (i: number) => Promise<void>,
): Promise<Flow> {
  const texts = new Map<string, string>();
  const acked = new Set<string>();
  const sends: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    await at(i);
    sends.push(sendTracked(a, to.id, `flow ${i}`, texts, acked));
    const ms = pause(i);
    if (ms > 0) await sleep(ms);
  }
  await Promise.all(sends);
  return { texts, acked };
}

for (const redis of REDIS_KINDS) {
  describe(`station cluster: kill -9 of the dispatcher (${redis} Redis)`, { timeout: 90_000 }, () => {
    const CLAIM_IDLE_MS = 1000;
    // Replacement dispatchers reclaim a dead one's pending entries after 1 s instead of 30 s.
    const fixture = clusterFixture({ redis, env: { DIM_BUS_CLAIM_IDLE_MS: String(CLAIM_IDLE_MS) } });

    /** Inbound entries read by `consumer` and not acknowledged (its pending entries, every shard). */
    async function pendingAt(consumer: string): Promise<number> {
      const { cluster } = fixture;
      let total = 0;
      for (let shard = 0; shard < cluster.shards; shard++) {
        const rows = (await cluster.inspect.xpending(
          cluster.keys.inboundStream(shard),
          DISPATCH_GROUP,
          '-',
          '+',
          10_000,
          consumer,
        )) as unknown[];
        total += rows.length;
      }
      return total;
    }

    /**
     * A on gateway 1 sends 60 messages to B on gateway 2 (both online): paced, with a burst of 30 in the
     * middle; once B has the burst's first message, `crash()` (the dispatcher dies with the rest in hand),
     * and `revive()` a little later while A keeps sending. Every acknowledged message must reach B, live.
     */
    async function crashMidStream(crash: () => Promise<void>, revive: () => Promise<void>): Promise<void> {
      const { cluster, gateway1, gateway2 } = fixture;
      const N = 60;
      const { directory, alice, bob } = aliceAndBob();
      const a = await cluster.connect(gateway1, alice, directory);
      const b = await cluster.connect(gateway2, bob, directory);
      const onB = collect(b, alice.id);
      await a.handshake();
      await b.handshake();
      assert.equal(await a.login(), 'Login received.');
      assert.equal(await b.login(), 'Login received.');

      const receipts = new Map<string, string>(); // signature of A's message → receipt text
      a.on('receipt', (r) => {
        const sig = r.origin?.['signature'];
        if (typeof sig === 'string' && r.text !== undefined) receipts.set(sig, r.text);
      });
      let beforeCrash = 0;
      const sent = await flow(
        a,
        bob,
        N,
        (i) => (i >= 15 && i < 45 ? 0 : 40),
        async (i) => {
          if (i === 45) {
            await waitUntil(
              () => onB.some((m) => m.content.dict['text'] === 'flow 15'),
              10_000,
              'B to get the first message of the burst',
              1,
            );
            beforeCrash = onB.length;
            await crash();
          }
          if (i === 52) await revive();
        },
      );
      assert.equal(sent.acked.size, N, 'the gateways stayed up: every message was acknowledged');

      await waitForAcked(onB, sent, 15_000, 'B to receive every acknowledged message');
      for (const m of onB) {
        assert.equal(m.content.dict['text'], sent.texts.get(m.raw.signatureText), 'only exact copies');
        assert.equal(m.verified, true);
      }
      // The sender is told about every message too.
      await waitUntil(
        () => [...sent.acked].every((sig) => receipts.get(sig) === 'Message delivered.'),
        10_000,
        'A to get "Message delivered." for every message',
      );
      process.stdout.write(
        `# dispatcher crash: ${beforeCrash} delivered before the kill, ${onB.length} received in all (${onB.length - uniqueSignatures(onB).size} duplicates)\n`,
      );
      await Promise.all([a.close(), b.close()]);
    }

    it('restarted under the same name, it resumes its pending entries', () =>
      fixture.withLogs(async ({ dispatcher }) => {
        let held = 0;
        await crashMidStream(
          async () => {
            await dispatcher.kill();
            held = await pendingAt(dispatcher.name);
          },
          () => dispatcher.start(),
        );
        process.stdout.write(`# the dispatcher died holding ${held} entries\n`);
        assert.ok(held > 0, 'the dispatcher died holding entries');
        assert.equal(await pendingAt(dispatcher.name), 0, 'the restarted dispatcher finished them');
      }));

    it("replaced by a dispatcher of another name, the dead one's pending entries are reclaimed", () =>
      fixture.withLogs(async ({ cluster, dispatcher }) => {
        const dead = dispatcher.name;
        let held = 0;
        let replacement: RoleProcess | undefined;
        await crashMidStream(
          async () => {
            await dispatcher.kill();
            held = await pendingAt(dead);
          },
          async () => {
            replacement = await cluster.start({ role: 'dispatcher', name: 'dispatcher-2' });
          },
        );
        assert.ok(replacement?.running);
        process.stdout.write(`# the dispatcher died holding ${held} entries\n`);
        assert.ok(held > 0, 'the dispatcher died holding entries');
        assert.equal(await pendingAt(dead), 0, 'the replacement claimed every entry of the dead dispatcher');
      }));
  });
}

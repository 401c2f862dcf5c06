/**
 * kill -9 of a gateway process with pushes its client never confirmed while traffic flows: every message
 * the station acknowledged to the sender reaches the receiver once it reconnects through another gateway.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DimClient, ReceivedMessage } from '../../src/client/dim-client.ts';
import { KeyDirectory } from '../../src/client/key-directory.ts';
import { createUserIdentity } from '../../src/client/user-identity.ts';
import type { ID } from '../../src/protocol/mkm/identifier.ts';
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

const now = (): number => Date.now() / 1000;

for (const redis of REDIS_KINDS) {
  describe(`station cluster: kill -9 of a gateway (${redis} Redis)`, { timeout: 90_000 }, () => {
    const fixture = clusterFixture({ redis });

    /** How many of the messages `user` received (and never confirmed) are still stored in its inbox. */
    async function stillStored(user: ID, received: readonly ReceivedMessage[]): Promise<number> {
      const { cluster } = fixture;
      const cursors = cluster.keys.inboxCursors(user.naked().string);
      let stored = 0;
      for (const sig of uniqueSignatures(received)) stored += await cluster.inspect.hexists(cursors, sig);
      return stored;
    }

    it("every message acknowledged to A reaches B after B's gateway dies with pushes unacknowledged", () =>
      fixture.withLogs(async ({ cluster, gateway1, gateway2 }) => {
        const N = 50;
        const PACE_MS = 40;
        const KILL_AT = 20;
        const RECONNECT_AT = 30;
        const { directory, alice, bob } = aliceAndBob();

        const a = await cluster.connect(gateway1, alice, directory);
        await a.handshake();
        assert.equal(await a.login(), 'Login received.');
        // B on gateway 2 never acknowledges a push: none of them is marked delivered in B's inbox.
        const b1 = await cluster.connect(gateway2, bob, directory, { autoAck: false });
        const onB1 = collect(b1, alice.id);
        await b1.handshake();
        assert.equal(await b1.login(), 'Login received.');

        const texts = new Map<string, string>(); // signature → text, for every message sent
        const acked = new Set<string>(); // signatures the station acknowledged (MTP OK)
        const sends: Promise<void>[] = [];
        let b2: DimClient | undefined;
        let onB2: ReceivedMessage[] = [];
        let unconfirmed = 0;
        let stored = 0;
        for (let i = 0; i < N; i++) {
          if (i === KILL_AT) {
            assert.ok(onB1.length > 0, 'gateway 2 pushed messages B has not acknowledged');
            await gateway2.kill();
            unconfirmed = uniqueSignatures(onB1).size;
            stored = await stillStored(bob.id, onB1);
          }
          if (i === RECONNECT_AT) {
            // B comes back through gateway 1, acknowledging, while A keeps sending.
            b2 = await cluster.connect(gateway1, bob, directory);
            onB2 = collect(b2, alice.id);
            await b2.handshake();
          }
          sends.push(sendTracked(a, bob.id, `steady ${i}`, texts, acked));
          await sleep(PACE_MS);
        }
        await Promise.all(sends);
        assert.equal(acked.size, N, 'gateway 1 stayed up: every message was acknowledged');
        assert.ok(b2, 'B reconnected');
        assert.ok(b1.closed, "B's connection to the killed gateway is gone");
        assert.ok(unconfirmed > 0, 'gateway 2 died with pushes B never confirmed');
        assert.equal(
          stored,
          unconfirmed,
          'every push B never confirmed was still in its inbox after the kill',
        );

        await waitForAcked(onB2, { texts, acked }, 15_000, 'B to receive every acknowledged message');
        // Duplicates only as exact copies of sent messages (same signature, same content).
        for (const m of [...onB1, ...onB2]) {
          const text = texts.get(m.raw.signatureText);
          assert.ok(text !== undefined, 'B received only messages A sent');
          assert.equal(m.content.dict['text'], text);
          assert.equal(m.verified, true);
        }
        const duplicates = onB2.length - uniqueSignatures(onB2).size;
        process.stdout.write(
          `# gateway crash: ${onB1.length} pushed unacknowledged before the kill (${stored} of them still stored), ${onB2.length} received after (${duplicates} duplicates)\n`,
        );
        await b2.close();
      }));

    it('a gateway restarted under the same name drops the sessions of its crashed incarnation', () =>
      fixture.withLogs(async ({ cluster, gateway1, gateway2 }) => {
        const directory = new KeyDirectory();
        const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: now() });
        const bob = createUserIdentity({ kind: 'mkm-ecc', name: 'bob', now: now() });
        const carol = createUserIdentity({ kind: 'mkm-ecc', name: 'carol', now: now() });
        for (const id of [alice, bob, carol]) directory.add(id);
        const onGateway2 = async (user: ID): Promise<string[]> =>
          (await cluster.inspect.hkeys(cluster.keys.userSessions(user.string))).filter((s) =>
            s.startsWith(`${gateway2.name}/`),
          );
        if (!gateway2.running) await gateway2.start(); // killed by the previous test

        // C, then B, on gateway 2 (B's is not the incarnation's first connection ID).
        const c1 = await cluster.connect(gateway2, carol, directory);
        await c1.handshake();
        const b1 = await cluster.connect(gateway2, bob, directory);
        await b1.handshake();
        assert.equal(await b1.login(), 'Login received.');
        // the gateway registers a session right after its handshake, without holding the handshake for it
        await waitUntil(
          async () => ((await onGateway2(bob.id)).length === 1 ? true : undefined),
          5_000,
          "B's session in the registry",
        );

        // Gateway 2 crashes and its supervisor restarts it at once (well within the heartbeat TTL).
        await gateway2.restart({ crash: true });
        await waitUntil(() => b1.closed && c1.closed, 5_000, 'the connections to close');
        assert.deepEqual(await onGateway2(bob.id), [], 'B is not online on the new incarnation');

        // B is offline: a message to B is cached, reaches nobody else, and B gets it on its next login.
        const c2 = await cluster.connect(gateway2, carol, directory);
        const forBob: string[] = [];
        c2.transport.onMessage((body) => {
          if (body.includes(bob.id.string)) forBob.push(body);
        });
        await c2.handshake();
        assert.equal(await c2.login(), 'Login received.');
        const a = await cluster.connect(gateway1, alice, directory);
        await a.handshake();
        await a.login();
        const sent = await a.sendText(bob.id, 'while you were away');
        assert.equal((await a.waitReceipt(sent, 10_000))?.text, 'Message cached.');
        await sleep(300);
        assert.deepEqual(forBob, [], 'nothing for B was pushed to C');
        const b2 = await cluster.connect(gateway1, bob, directory);
        const onB2 = collect(b2, alice.id);
        await b2.handshake();
        await waitUntil(() => onB2.length > 0, 10_000, 'B to get the cached message');
        assert.equal(onB2[0]?.raw.signatureText, sent.message.signatureText);
      }));
  });
}

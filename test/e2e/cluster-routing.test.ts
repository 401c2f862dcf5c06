/**
 * The station as separate processes on Redis (two gateways, a dispatcher, a storage worker): routing across
 * gateways, offline backlogs drained in order, and per-terminal delivery state — real sockets, real crypto,
 * the DIM client library.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReceivedMessage } from '../../src/client/dim-client.ts';
import { KeyDirectory } from '../../src/client/key-directory.ts';
import { createUserIdentity } from '../../src/client/user-identity.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import { RsaPrivateKey } from '../../src/protocol/crypto/rsa.ts';
import { ContentType } from '../../src/protocol/dkd/content-type.ts';
import { signDocument } from '../../src/protocol/mkm/document.ts';
import type { ID } from '../../src/protocol/mkm/identifier.ts';
import {
  aliceAndBob,
  clusterFixture,
  collect,
  sleep,
  uniqueSignatures,
  waitUntil,
  REDIS_KINDS,
} from '../helpers/cluster.ts';

const now = (): number => Date.now() / 1000;

/** Texts in order of first arrival (duplicates of a signature dropped). */
function firstArrivalTexts(messages: readonly ReceivedMessage[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const m of messages) {
    if (seen.has(m.raw.signatureText)) continue;
    seen.add(m.raw.signatureText);
    out.push(String(m.content.dict['text']));
  }
  return out;
}

/**
 * The same user on another device: the user's keys, a visa of its own (own RSA key, `terminal` set), and
 * the terminal in the ID the client sends as — the station learns a session's terminal from the handshake
 * sender (`ID/terminal`); DimClient reads its `keys["ID/terminal"]` entry by the identity's terminal.
 */
function onTerminal(base: UserIdentity, terminal: string): UserIdentity {
  const visaKey = RsaPrivateKey.generate(1024);
  const visa = signDocument(
    'visa',
    base.id.naked(),
    { name: `${base.id.name ?? 'user'} ${terminal}`, key: visaKey.publicKey.dict },
    base.signKey,
    now(),
    terminal,
  );
  return { ...base, id: base.id.naked().withTerminal(terminal), visa, decryptKeys: [visaKey], terminal };
}

for (const redis of REDIS_KINDS) {
  describe(
    `station cluster (separate processes on Redis): routing and backlogs (${redis} Redis)`,
    { timeout: 90_000 },
    () => {
      const fixture = clusterFixture({ redis });

      const inboxCount = (user: ID): Promise<number> =>
        fixture.cluster.inspect.zcard(fixture.cluster.keys.inbox(user.naked().string));
      /** Stored messages a terminal has had (and others still wait for). */
      const deliveredCount = async (user: ID, terminal: string): Promise<number> => {
        const { inspect, keys } = fixture.cluster;
        const marks = await inspect.hvals(keys.inboxDelivered(user.naked().string));
        return marks.filter((list) => (JSON.parse(list) as string[]).includes(terminal)).length;
      };
      const sessionCount = (user: ID): Promise<number> =>
        fixture.cluster.inspect.hlen(fixture.cluster.keys.userSessions(user.naked().string));

      it('A on gateway 1 messages B on gateway 2 (WebSocket): delivered, verified, traced', () =>
        fixture.withLogs(async ({ cluster, gateway1, gateway2 }) => {
          const directory = new KeyDirectory();
          const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: now() });
          const bob = createUserIdentity({ kind: 'eth', now: now() });
          directory.add(alice);
          directory.add(bob);
          const a = await cluster.connect(gateway1, alice, directory);
          const b = await cluster.connect(gateway2, bob, directory, { framing: 'ws' });
          const ha = await a.handshake();
          const hb = await b.handshake();
          assert.equal(ha.stationId.string, cluster.identity.id.string);
          assert.equal(hb.stationId.string, cluster.identity.id.string);
          assert.equal(await a.login(), 'Login received.');
          assert.equal(await b.login(), 'Login received.');

          const mark = b.mark();
          const sent = await a.sendText(bob.id, 'hello bob, across gateways');
          const got = await b.waitForMessage((m) => m.sender.isSameAs(alice.id), 10_000, { since: mark });
          assert.equal(got.content.type, ContentType.TEXT);
          assert.equal(got.content.dict['text'], 'hello bob, across gateways');
          assert.equal(got.verified, true);
          assert.equal(got.raw.signatureText, sent.message.signatureText);
          const traces = got.raw.dict['traces'] as Array<Record<string, unknown>>;
          assert.ok(Array.isArray(traces) && traces.length > 0, 'the relayed message carries traces');
          assert.equal(traces.at(-1)?.['ID'], cluster.identity.id.string);
          const receipt = await a.waitReceipt(sent, 10_000);
          assert.equal(receipt?.text, 'Message delivered.');
        }));

      it("B offline: 30 messages are cached, then drained oldest first on B's handshake, and not again once acknowledged", () =>
        fixture.withLogs(async ({ cluster, gateway1, gateway2 }) => {
          const N = 30;
          const { directory, alice, bob } = aliceAndBob();
          const a = await cluster.connect(gateway1, alice, directory);
          await a.handshake();
          assert.equal(await a.login(), 'Login received.');

          const sent = [];
          for (let i = 0; i < N; i++) sent.push(await a.sendText(bob.id, `offline ${i}`));
          const receipts = await Promise.all(sent.map((s) => a.waitReceipt(s, 10_000)));
          assert.deepEqual(
            receipts.map((r) => r?.text),
            sent.map(() => 'Message cached.'),
          );
          await waitUntil(async () => (await inboxCount(bob.id)) === N, 10_000, 'the inbox to hold 30');

          const b = await cluster.connect(gateway2, bob, directory);
          const got = collect(b, alice.id);
          await b.handshake();
          await waitUntil(() => uniqueSignatures(got).size >= N, 10_000, `B to receive ${N} messages`);
          assert.deepEqual(
            firstArrivalTexts(got),
            sent.map((_, i) => `offline ${i}`),
            'oldest first',
          );
          assert.deepEqual(uniqueSignatures(got), new Set(sent.map((s) => s.message.signatureText)));
          for (const m of got) assert.equal(m.verified, true);
          assert.equal(got.length, N, `no duplicates expected without failures (got ${got.length})`);

          // B's client acknowledged every push: the storage worker marks them and empties the inbox.
          await waitUntil(async () => (await inboxCount(bob.id)) === 0, 10_000, 'the inbox to empty');
          await b.close();
          await waitUntil(async () => (await sessionCount(bob.id)) === 0, 5_000, 'B to be unbound');

          const again = await cluster.connect(gateway2, bob, directory);
          const replayed = collect(again, alice.id);
          await again.handshake();
          assert.equal(await again.login(), 'Login received.');
          await sleep(1000);
          assert.equal(replayed.length, 0, 'acknowledged messages are not delivered again');
        }));

      it("B with two terminals: messages cached while offline reach both; the first terminal's acks keep the second's copies", () =>
        fixture.withLogs(async ({ cluster, gateway1, gateway2 }) => {
          const N = 10;
          const directory = new KeyDirectory();
          const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: now() });
          const bob = createUserIdentity({ kind: 'mkm-ecc', name: 'bob', terminal: 'phone', now: now() });
          const phone = onTerminal(bob, 'phone');
          const tablet = onTerminal(bob, 'tablet');
          directory.add(alice);
          directory.add({ id: bob.id, meta: bob.meta, visa: phone.visa });
          directory.add({ id: bob.id, meta: bob.meta, visa: tablet.visa });
          assert.equal(directory.encryptKeys(bob.id).length, 2, 'A encrypts for both terminals');

          // Both devices have been online once: the station knows B's terminals.
          for (const [identity, gateway] of [
            [phone, gateway1],
            [tablet, gateway2],
          ] as const) {
            const c = await cluster.connect(gateway, identity, directory);
            await c.handshake();
            assert.equal(await c.login(), 'Login received.');
            await c.close();
          }
          const terminalsKey = cluster.keys.inboxTerminals(bob.id.string);
          await waitUntil(
            async () => (await cluster.inspect.smembers(terminalsKey)).sort().join() === 'phone,tablet',
            5_000,
            "B's terminals to be known",
          );
          await waitUntil(async () => (await sessionCount(bob.id)) === 0, 5_000, 'B to be offline');

          const a = await cluster.connect(gateway1, alice, directory);
          await a.handshake();
          await a.login();
          const sent = [];
          for (let i = 0; i < N; i++) sent.push(await a.sendText(bob.id, `to both ${i}`));
          const receipts = await Promise.all(sent.map((s) => a.waitReceipt(s, 10_000)));
          assert.deepEqual(
            receipts.map((r) => r?.text),
            sent.map(() => 'Message cached.'),
          );
          const expected = sent.map((_, i) => `to both ${i}`);

          // The phone comes online (gateway 2) and acknowledges everything.
          const p = await cluster.connect(gateway2, phone, directory);
          const onPhone = collect(p, alice.id);
          await p.handshake();
          await waitUntil(() => uniqueSignatures(onPhone).size >= N, 10_000, 'the phone to receive all');
          assert.deepEqual(firstArrivalTexts(onPhone), expected);
          for (const m of onPhone) assert.equal(m.verified, true);
          await waitUntil(
            async () => (await deliveredCount(bob.id, 'phone')) === N,
            10_000,
            "the phone's deliveries to be recorded",
          );
          assert.equal(await inboxCount(bob.id), N, "the tablet's copies are kept");
          await p.close();

          // The tablet comes online later (gateway 1): it gets every message too.
          const t = await cluster.connect(gateway1, tablet, directory);
          const onTablet = collect(t, alice.id);
          await t.handshake();
          await waitUntil(() => uniqueSignatures(onTablet).size >= N, 10_000, 'the tablet to receive all');
          assert.deepEqual(firstArrivalTexts(onTablet), expected);
          for (const m of onTablet) assert.equal(m.verified, true);
          // Every terminal has them now: the inbox is emptied.
          await waitUntil(async () => (await inboxCount(bob.id)) === 0, 10_000, 'the inbox to empty');
          await t.close();

          // Neither device gets them again; with both online, a new message is pushed live to both.
          const p2 = await cluster.connect(gateway1, phone, directory);
          const t2 = await cluster.connect(gateway2, tablet, directory);
          const livePhone = collect(p2, alice.id);
          const liveTablet = collect(t2, alice.id);
          await p2.handshake();
          await t2.handshake();
          assert.equal(await p2.login(), 'Login received.');
          assert.equal(await t2.login(), 'Login received.');
          await sleep(500);
          assert.equal(livePhone.length + liveTablet.length, 0, 'nothing is delivered twice');
          const live = await a.sendText(bob.id, 'to both, live');
          await waitUntil(
            () => livePhone.length > 0 && liveTablet.length > 0,
            10_000,
            'both terminals to get the live message',
          );
          for (const m of [...livePhone, ...liveTablet]) {
            assert.equal(m.raw.signatureText, live.message.signatureText);
            assert.equal(m.content.dict['text'], 'to both, live');
          }
          assert.equal((await a.waitReceipt(live, 10_000))?.text, 'Message delivered.');
        }));
    },
  );
}

/**
 * Three stations of ours in a chain (s1 ↔ s2 ↔ s3), each a real `node workers/station.ts` process with
 * its own identity and Redis prefix, linked by DIM_NEIGHBORS; s1 and s2 trust each other, s3 trusts nobody
 * (its relays are verified against the original senders). Clients on each station.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DimClient, ReceivedMessage, ReceivedReceipt } from '../../src/client/dim-client.ts';
import { KeyDirectory } from '../../src/client/key-directory.ts';
import { createUserIdentity } from '../../src/client/user-identity.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import { stationAsClientIdentity } from '../../src/federation/neighbour-link.ts';
import { createStationIdentity } from '../../src/identity/station-identity.ts';
import { DimClient as Client } from '../../src/client/dim-client.ts';
import { MtpClientTransport } from '../../src/client/mtp-client-transport.ts';
import { collect, sendTracked, sleep, waitUntil } from '../helpers/cluster.ts';
import { StationMesh } from '../helpers/station-mesh.ts';
import type { MeshStation } from '../helpers/station-mesh.ts';

const now = (): number => Date.now() / 1000;

describe('federation: three stations in a chain', { timeout: 180_000 }, () => {
  let mesh: StationMesh;
  let s1: MeshStation;
  let s2: MeshStation;
  let s3: MeshStation;
  const directory = new KeyDirectory();
  const user = (name: string): UserIdentity => {
    const id = createUserIdentity({ kind: 'mkm-ecc', name, now: now() });
    directory.add(id);
    return id;
  };
  const alice = user('alice');
  const bob = user('bob');

  async function online(station: MeshStation, who: UserIdentity): Promise<DimClient> {
    const client = await station.connect(who, directory);
    await client.handshake();
    assert.equal(await client.login(), 'Login received.');
    return client;
  }

  /** Wait until `station` recorded `who`'s latest login at `at`. */
  async function knowsLogin(station: MeshStation, who: UserIdentity, at: MeshStation): Promise<void> {
    await waitUntil(
      async () => (await station.loginStations(who.id.string)).includes(at.id),
      15_000,
      `${station.name} to learn that ${who.id.name} is at ${at.name}`,
      50,
    );
  }

  let a: DimClient;
  let b: DimClient;

  before(async () => {
    mesh = await StationMesh.create([
      { name: 's1', neighbours: ['s2'], trusts: ['s2'] },
      { name: 's2', neighbours: ['s1', 's3'], trusts: ['s1'] },
      { name: 's3', neighbours: ['s2'] },
    ]);
    [s1, s2, s3] = [mesh.station('s1'), mesh.station('s2'), mesh.station('s3')];
    await Promise.all(mesh.stations.map((s) => s.start()));
    await Promise.all(mesh.stations.map((s) => s.linksUp()));
  });

  after(async () => {
    await mesh?.dispose();
  });

  it('A on s1 reaches B logged in at s2: "Message redirected." then the delivery receipt from s2', () =>
    mesh.withLogs(async () => {
      a = await online(s1, alice);
      b = await online(s2, bob);
      await knowsLogin(s1, bob, s2);
      const fromA = collect(b, alice.id);
      const sent = await a.sendText(bob.id, 'hello across stations');
      const first = await a.waitReceipt(sent, 10_000);
      assert.equal(first?.text, 'Message redirected.');
      assert.equal(first?.content.dict['neighbor'], s2.id);
      const delivered = (await a.waitFor(
        (e) =>
          e.kind === 'receipt' &&
          e.text === 'Message delivered.' &&
          e.origin?.['signature'] === sent.message.signatureText,
        15_000,
        { since: sent.eventMark },
      )) as ReceivedReceipt;
      assert.equal(delivered.sender.string, s2.id, 'the receipt comes from the station B is on');
      await waitUntil(() => fromA.length > 0, 15_000, 'B to receive the message');
      assert.equal(fromA[0]?.content.dict['text'], 'hello across stations');
      assert.equal(await s1.stored(bob.id.string), 0, 'nothing stored at s1: it was routed');
    }));

  it("B's reply to A goes back the other way (s2 → s1)", () =>
    mesh.withLogs(async () => {
      await knowsLogin(s2, alice, s1);
      const fromB = collect(a, bob.id);
      const sent = await b.sendText(alice.id, 'hello back');
      assert.equal((await b.waitReceipt(sent, 10_000))?.text, 'Message redirected.');
      await waitUntil(() => fromB.length > 0, 15_000, 'A to receive the reply');
      assert.equal(fromB[0]?.content.dict['text'], 'hello back');
    }));

  it('C roams from s1 to s2 and gets what was cached for it at s1, in order, once', () =>
    mesh.withLogs(async () => {
      const carol = user('carol');
      const c1 = await online(s1, carol);
      await c1.close();
      await sleep(300);
      const texts = ['one', 'two', 'three', 'four', 'five'];
      for (const text of texts) {
        const sent = await a.sendText(carol.id, text);
        assert.equal((await a.waitReceipt(sent, 10_000))?.text, 'Message cached.');
      }
      await waitUntil(
        async () => (await s1.stored(carol.id.string)) === texts.length,
        10_000,
        'the messages stored at s1',
      );
      const c2 = await s2.connect(carol, directory);
      const got = collect(c2, alice.id);
      await c2.handshake();
      // the login names s2: s1 learns it through s2's relay of the login broadcast and sends the backlog
      assert.equal(await c2.login(), 'Login received.');
      await waitUntil(() => got.length >= texts.length, 20_000, 'the roamed messages');
      await waitUntil(async () => (await s1.stored(carol.id.string)) === 0, 15_000, 's1 copies deleted');
      await sleep(1000);
      assert.deepEqual(
        got.map((m) => m.content.dict['text']),
        texts,
        'every cached message, in order, once',
      );
      assert.equal(await s1.queued(s2), 0, 'nothing left queued at s1');
    }));

  it('a broadcast reaches all three stations exactly once and never loops', () =>
    mesh.withLogs(async () => {
      const dave = user('dave');
      const before = {
        q12: await s1.queueLength(s2),
        q21: await s2.queueLength(s1),
        q23: await s2.queueLength(s3),
        q32: await s3.queueLength(s2),
      };
      const d = await online(s1, dave);
      await Promise.all([knowsLogin(s2, dave, s1), knowsLogin(s3, dave, s1)]);
      await sleep(1500); // any echo or loop would have shown by now
      assert.equal((await s1.queueLength(s2)) - before.q12, 1, 's1 → s2 once');
      assert.equal((await s2.queueLength(s3)) - before.q23, 1, 's2 → s3 once');
      assert.equal((await s2.queueLength(s1)) - before.q21, 0, 'never back to s1 (in recipients)');
      assert.equal((await s3.queueLength(s2)) - before.q32, 0, 'never back to s2');
      await d.close();
    }));

  it("an untrusted station's forged relay is refused with a coded error; a genuine one is verified", () =>
    mesh.withLogs(async () => {
      const rogue = createStationIdentity({ name: 'rogue', rsaBits: 1024, now: now() });
      const transport = await MtpClientTransport.connect({ host: '127.0.0.1', port: s2.port });
      const r = new Client({ transport, identity: stationAsClientIdentity(rogue), keyDirectory: directory });
      mesh.clients.add(r);
      await r.handshake();
      await r.report('online');
      const fromA = collect(b, alice.id);
      const genuine = a.pack(bob.id, { type: 1, text: 'genuine' }, { attachIdentity: true });
      const other = a.pack(bob.id, { type: 1, text: 'forged!' });
      const forged = { ...genuine.message.dict, data: other.message.dict['data'] };
      const mark = r.mark();
      await r.transport.send(JSON.stringify(forged));
      const refusal = (await r.waitFor(
        (e) => e.kind === 'receipt' && e.content.dict['error'] !== undefined,
        10_000,
        { since: mark },
      )) as ReceivedReceipt;
      assert.deepEqual(refusal.content.dict['error'], { code: 'FORGED_RELAY' });
      await r.transport.send(genuine.text);
      await waitUntil(() => fromA.some((m) => m.content.dict['text'] === 'genuine'), 10_000, 'genuine');
      await sleep(500);
      assert.ok(!fromA.some((m) => m.content.dict['text'] === 'forged!'), 'the forged relay never delivered');
      await r.close();
    }));

  it('a neighbour killed with -9 and restarted loses nothing that was acknowledged', () =>
    mesh.withLogs(async () => {
      const erin = user('erin');
      const e1 = await online(s2, erin);
      await knowsLogin(s1, erin, s2);
      let received: ReceivedMessage[] = collect(e1, alice.id);
      const before = received;
      const texts = new Map<string, string>();
      const acked = new Set<string>();
      const sends: Promise<void>[] = [];
      for (let i = 0; i < 24; i++) {
        if (i === 8) await s2.kill(); // s1 keeps accepting: the messages wait in its queue for s2
        if (i === 16) {
          await s2.start();
          const e2 = await s2.connect(erin, directory);
          received = collect(e2, alice.id);
          await e2.handshake();
          await e2.login();
        }
        sends.push(sendTracked(a, erin.id, `steady ${i}`, texts, acked));
        await sleep(60);
      }
      await Promise.all(sends);
      const missing = (): string[] => {
        const got = new Set([...before, ...received].map((m) => m.raw.signatureText));
        return [...acked].filter((sig) => !got.has(sig));
      };
      await waitUntil(() => missing().length === 0, 30_000, 'every acknowledged message at E').catch(
        (err: unknown) => {
          throw new Error(
            `${String(err)}; missing: ${missing()
              .map((sig) => texts.get(sig))
              .join(', ')}`,
          );
        },
      );
      assert.equal(acked.size, 24, 's1 acknowledged every send (s2 being down does not matter to A)');
    }));
});

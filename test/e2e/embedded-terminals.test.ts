/**
 * 2026 multi-device clients: one user, two devices that send the bare ID and declare their terminal in
 * their visa (outer `terminal`) and login. Each device gets its own copy of what arrived while it was
 * offline; one device's acknowledgements never delete the other's copy.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { signDocument } from '../../src/protocol/mkm/document.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import type { DimClient } from '../../src/client/dim-client.ts';
import {
  connectClient,
  createUserIdentity,
  KeyDirectory,
  startTestStation,
} from '../helpers/station-harness.ts';
import type { TestStation } from '../helpers/station-harness.ts';

function onDevice(identity: UserIdentity, terminal: string, now: number): UserIdentity {
  const visa = signDocument(
    'visa',
    identity.id,
    { name: 'bob', key: identity.decryptKeys[0]!.publicKey.dict },
    identity.signKey,
    now,
    terminal,
  );
  return { ...identity, visa, terminal };
}

describe('one user on two terminals (bare ID, terminal in visa and login)', () => {
  let station: TestStation;
  const clients: DimClient[] = [];
  before(async () => {
    station = await startTestStation();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await station.close();
  });

  it('messages sent while both were offline reach each terminal once', async () => {
    const now = Date.now() / 1000;
    const directory = new KeyDirectory();
    const alice = createUserIdentity({ kind: 'eth', now });
    const bob = createUserIdentity({ kind: 'mkm-ecc', name: 'bob', now });
    const phone = onDevice(bob, 'phone', now);
    const tablet = onDevice(bob, 'tablet', now + 1);
    directory.add(alice);
    directory.add(phone);
    const a = await connectClient(station.port, 'mtp', alice, directory);
    clients.push(a);
    await a.handshake();
    // both devices have been seen once (the station learns the user's terminals), then go away
    for (const device of [phone, tablet]) {
      const c = await connectClient(station.port, 'mtp', device, directory);
      await c.handshake();
      assert.equal(await c.login(), 'Login received.');
      await c.close();
    }
    const texts = ['one', 'two', 'three'];
    for (const text of texts) {
      const sent = await a.sendText(bob.id, text);
      assert.equal((await a.waitReceipt(sent))?.text, 'Message cached.');
    }
    const receive = async (device: UserIdentity, framing: 'mtp' | 'ws'): Promise<string[]> => {
      const c = await connectClient(station.port, framing, device, directory);
      clients.push(c);
      const mark = c.mark();
      await c.handshake();
      const got: string[] = [];
      for (let i = 0; i < texts.length; i++) {
        const m = await c.waitForMessage(
          (e) => e.sender.isSameAs(alice.id) && !got.includes(String(e.content.dict['text'])),
          5000,
          { since: mark },
        );
        got.push(String(m.content.dict['text']));
      }
      return got;
    };
    assert.deepEqual(await receive(phone, 'mtp'), texts, 'the phone gets the backlog in order');
    await new Promise((r) => setTimeout(r, 200)); // the phone's acks are recorded
    assert.equal(await station.node.backend.inbox.count(bob.id.string), 3, 'copies kept for the tablet');
    assert.deepEqual(
      await receive(tablet, 'ws'),
      texts,
      "the tablet gets its own copy despite the phone's acks",
    );
    for (let i = 0; i < 50 && (await station.node.backend.inbox.count(bob.id.string)) > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(
      await station.node.backend.inbox.count(bob.id.string),
      0,
      'deleted once both terminals have them',
    );
  });
});

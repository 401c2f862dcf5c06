/**
 * The station messenger's replies: one message key per receiver, encrypted once, renewed on a new visa,
 * after its lifetime and after its use limit; every reply opens and verifies for the receiver.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createUserIdentity } from '../../../src/client/user-identity.ts';
import type { UserIdentity } from '../../../src/client/user-identity.ts';
import { createStationIdentity } from '../../../src/identity/station-identity.ts';
import {
  REPLY_KEY_LIFETIME_S,
  REPLY_KEY_MAX_USES,
  StationMessenger,
} from '../../../src/identity/station-messenger.ts';
import { openMessage, verifyMessage } from '../../../src/protocol/dkd/message-packer.ts';
import type { ReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import { signDocument } from '../../../src/protocol/mkm/document.ts';
import { IdentityDirectory } from '../../../src/storage/identity-directory.ts';
import { MemoryIdentityStore } from '../../../src/storage/memory-identity-store.ts';

const T0 = 1_800_000_000;
const station = createStationIdentity({ name: 'gsp', rsaBits: 1024, now: T0 });

async function setup(): Promise<{
  messenger: StationMessenger;
  directory: IdentityDirectory;
  clock: { now: number };
  user: UserIdentity;
}> {
  const directory = new IdentityDirectory(new MemoryIdentityStore());
  const clock = { now: T0 };
  const user = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: T0 });
  assert.equal(await directory.acceptMeta(user.id, user.meta), 'saved');
  assert.equal(await directory.acceptDocument(user.visa, T0), 'saved');
  return { messenger: new StationMessenger(station, directory, () => clock.now), directory, clock, user };
}

function opens(message: ReliableMessage, user: UserIdentity, text: string): void {
  assert.ok(verifyMessage(message, [station.meta.key]));
  const opened = openMessage(message, { privateKeys: user.decryptKeys });
  assert.equal(opened.content.dict['text'], text);
}

const keysOf = (m: ReliableMessage): string => JSON.stringify(m.dict['keys']);

describe('station messenger replies', () => {
  it('reuse one sealed key per receiver, with a fresh IV per message', async () => {
    const { messenger, user } = await setup();
    const a = await messenger.pack(user.id, { type: 1, sn: 1, text: 'one' });
    const b = await messenger.pack(user.id, { type: 1, sn: 2, text: 'two' });
    opens(a, user, 'one');
    opens(b, user, 'two');
    assert.equal(keysOf(a), keysOf(b));
    assert.notEqual(a.dict['IV'], b.dict['IV']);
  });

  it('renew the key after its lifetime and after its use limit', async () => {
    const { messenger, clock, user } = await setup();
    const first = await messenger.pack(user.id, { type: 1, sn: 1, text: 'x' });
    clock.now += REPLY_KEY_LIFETIME_S - 1;
    assert.equal(keysOf(await messenger.pack(user.id, { type: 1, sn: 2, text: 'x' })), keysOf(first));
    clock.now += 1;
    const renewed = await messenger.pack(user.id, { type: 1, sn: 3, text: 'y' });
    assert.notEqual(keysOf(renewed), keysOf(first));
    opens(renewed, user, 'y');
    for (let i = 1; i < REPLY_KEY_MAX_USES; i++) {
      const m = await messenger.pack(user.id, { type: 1, sn: 4, text: 'z' });
      if (i === 1 || i === REPLY_KEY_MAX_USES - 1) assert.equal(keysOf(m), keysOf(renewed));
    }
    const afterLimit = await messenger.pack(user.id, { type: 1, sn: 5, text: 'w' });
    assert.notEqual(keysOf(afterLimit), keysOf(renewed));
    opens(afterLimit, user, 'w');
  });

  it('renew the key as soon as the receiver publishes a new visa key', async () => {
    const { messenger, directory, user } = await setup();
    const before = await messenger.pack(user.id, { type: 1, sn: 1, text: 'old' });
    // same ID and meta, a new visa key (a reinstalled app)
    const moved = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: T0 + 10 });
    const newVisaUser: UserIdentity = { ...user, decryptKeys: moved.decryptKeys };
    const visa = signDocument(
      'visa',
      user.id,
      { name: 'alice', key: moved.decryptKeys[0]?.publicKey.dict },
      user.signKey,
      T0 + 10,
    );
    assert.equal(await directory.acceptDocument(visa, T0 + 10), 'saved');
    const after = await messenger.pack(user.id, { type: 1, sn: 2, text: 'new' });
    assert.notEqual(keysOf(after), keysOf(before));
    opens(after, newVisaUser, 'new');
    assert.throws(() => opens(after, user, 'new'));
  });
});

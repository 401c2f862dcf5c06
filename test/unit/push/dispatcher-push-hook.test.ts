/**
 * The dispatcher's push hook on the embedded engine: called once a message for a user is stored, with the
 * envelope and the receiver's active sessions; not for messages it refuses (blocked, groups) nor for
 * station commands. A failing hook fails the entry (the bus retries it), after the store entry is out.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageOrigin } from '../../../src/streams/station-streams.ts';
import { StationStreams } from '../../../src/streams/station-streams.ts';
import { createUserIdentity } from '../../../src/client/user-identity.ts';
import type { UserIdentity } from '../../../src/client/user-identity.ts';
import { Dispatcher } from '../../../src/dispatch/dispatcher.ts';
import { StationCommands } from '../../../src/dispatch/station-commands.ts';
import { createMemoryBackend } from '../../../src/engine/memory-backend.ts';
import type { Backend } from '../../../src/engine/backend.ts';
import { createStationIdentity } from '../../../src/identity/station-identity.ts';
import { StationMessenger } from '../../../src/identity/station-messenger.ts';
import { silentLogger } from '../../../src/ops/logger.ts';
import { packMessage } from '../../../src/protocol/dkd/message-packer.ts';
import type { ReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import type { ID } from '../../../src/protocol/mkm/identifier.ts';
import type { ActiveSession, PushHook } from '../../../src/push/push-trigger.ts';
import { IdentityDirectory } from '../../../src/storage/identity-directory.ts';

const NOW = 1_800_000_000;
const station = createStationIdentity({ name: 'gsp', rsaBits: 1024, now: NOW });
const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: NOW });
const bob = createUserIdentity({ kind: 'eth', name: 'bob', now: NOW });
const origin: MessageOrigin = {
  gatewayId: 'gw-a',
  connId: 'c-alice',
  user: alice.id.string,
  terminal: undefined,
};

interface Call {
  readonly sig: string;
  readonly receiver: string;
  readonly sessions: readonly ActiveSession[];
}

let backend: Backend;
let calls: Call[];
let fail: boolean;
let dispatcher: Dispatcher;

beforeEach(async () => {
  backend = createMemoryBackend();
  calls = [];
  fail = false;
  const directory = new IdentityDirectory(backend.identities);
  for (const user of [alice, bob]) {
    await directory.acceptMeta(user.id, user.meta);
    await directory.acceptDocument(user.visa, NOW);
  }
  const hook: PushHook = {
    async messageStored(message, receiver, sessions) {
      calls.push({ sig: message.signatureText, receiver: receiver.string, sessions });
      if (fail) throw new Error('redis down');
    },
  };
  dispatcher = new Dispatcher({
    bus: backend.bus,
    streams: new StationStreams(backend.keys, 1),
    registry: backend.registry,
    accounts: backend.accounts,
    messenger: new StationMessenger(station, directory, () => NOW),
    commands: new StationCommands({ stationId: station.id, directory, accounts: backend.accounts, ans: {} }),
    isGatewayAlive: async () => true,
    push: hook,
    consumerName: 'test',
    logger: silentLogger,
    now: () => NOW * 1000,
  });
});

afterEach(() => backend.close());

function text(from: UserIdentity, to: ID, extra: Record<string, unknown> = {}): ReliableMessage {
  const message = packMessage({
    sender: from.id,
    receiver: to,
    content: { type: 1, sn: 42, text: 'hi' },
    time: NOW,
    signer: from.signKey,
    receiverKeys: [{ key: bob.decryptKeys[0]!.publicKey }],
  });
  return Object.keys(extra).length === 0 ? message : message.withFields(extra);
}

describe('dispatcher push hook', () => {
  it('is called after the message is stored, with the envelope and the active sessions', async () => {
    const message = text(alice, bob.id);
    await dispatcher.route(message, origin);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]?.sig, message.signatureText);
    assert.equal(calls[0]?.receiver, bob.id.string);
    assert.deepEqual(calls[0]?.sessions, []);
    await backend.registry.bind({
      gatewayId: 'gw-b',
      connId: 'c-bob',
      user: bob.id.string,
      terminal: 'phone',
      active: true,
      since: NOW * 1000,
    });
    await dispatcher.route(text(alice, bob.id), origin);
    assert.deepEqual(
      calls[1]?.sessions.map((s) => s.terminal),
      ['phone'],
    );
  });

  it('is not called for blocked messages or station commands', async () => {
    await backend.accounts.putList(bob.id, 'block', [alice.id.string]);
    await dispatcher.route(text(alice, bob.id), origin);
    assert.equal(calls.length, 0);
  });

  it('a failing hook fails the entry after the store entry is published (the bus retries)', async () => {
    fail = true;
    await assert.rejects(dispatcher.route(text(alice, bob.id), origin), /redis down/);
    const stored = await (backend.bus as unknown as { range(s: string): Promise<unknown[]> }).range(
      backend.keys.storeStream(0),
    );
    assert.equal(stored.length, 1);
  });
});

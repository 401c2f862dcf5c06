/**
 * Dispatcher routing on the embedded (memory) engine: what each kind of receiver produces on the store
 * and delivery streams, and which receipt the sender gets, signed by the station and readable by it.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MemoryMessageBus } from '../../../src/bus/memory-message-bus.ts';
import { createUserIdentity } from '../../../src/client/user-identity.ts';
import type { UserIdentity } from '../../../src/client/user-identity.ts';
import { Dispatcher } from '../../../src/dispatch/dispatcher.ts';
import { StationCommands } from '../../../src/dispatch/station-commands.ts';
import { createMemoryBackend } from '../../../src/engine/memory-backend.ts';
import type { Backend } from '../../../src/engine/backend.ts';
import { createStationIdentity } from '../../../src/identity/station-identity.ts';
import { StationMessenger } from '../../../src/identity/station-messenger.ts';
import { silentLogger } from '../../../src/ops/logger.ts';
import { openMessage, packMessage, verifyMessage } from '../../../src/protocol/dkd/message-packer.ts';
import { parseReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import type { ReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import { EntityType } from '../../../src/protocol/mkm/entity-type.ts';
import { ID, parseId } from '../../../src/protocol/mkm/identifier.ts';
import { createMeta, MetaType } from '../../../src/protocol/mkm/meta.ts';
import { shardOf } from '../../../src/redis/redis-keys.ts';
import { IdentityDirectory } from '../../../src/storage/identity-directory.ts';
import { decodeDelivery, decodeStore, StationStreams } from '../../../src/streams/station-streams.ts';
import type { DeliverEntry, MessageOrigin } from '../../../src/streams/station-streams.ts';

const NOW = 1_800_000_000;
const station = createStationIdentity({ name: 'gsp', rsaBits: 1024, now: NOW });
const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: NOW });
const bob = createUserIdentity({ kind: 'eth', name: 'bob', now: NOW });
const bot = createUserIdentity({ kind: 'mkm-rsa', name: 'archivist', now: NOW });
const aliceOrigin: MessageOrigin = {
  gatewayId: 'gw-a',
  connId: 'c-alice',
  user: alice.id.string,
  terminal: undefined,
};

let backend: Backend;
let bus: MemoryMessageBus;
let dispatcher: Dispatcher;

beforeEach(async () => {
  backend = createMemoryBackend();
  bus = backend.bus as MemoryMessageBus;
  const directory = new IdentityDirectory(backend.identities);
  for (const user of [alice, bob, bot]) {
    await directory.acceptMeta(user.id, user.meta);
    await directory.acceptDocument(user.visa, NOW);
  }
  const messenger = new StationMessenger(station, directory, () => NOW);
  const commands = new StationCommands({
    stationId: station.id,
    directory,
    accounts: backend.accounts,
    ans: { archivist: bot.id.string },
  });
  dispatcher = new Dispatcher({
    bus,
    streams: new StationStreams(backend.keys, 1),
    registry: backend.registry,
    accounts: backend.accounts,
    messenger,
    commands,
    isGatewayAlive: async () => true,
    consumerName: 'test',
    logger: silentLogger,
    now: () => NOW * 1000,
  });
});

afterEach(async () => {
  await backend.close();
});

function text(from: UserIdentity, to: ID, body: string): ReliableMessage {
  const keys = to.isBroadcast || to.isGroup ? [{ key: bob.decryptKeys[0]!.publicKey }] : undefined;
  const receiverKeys = keys ?? [
    { key: [alice, bob, bot].find((u) => u.id.isSameAs(to))!.decryptKeys[0]!.publicKey },
  ];
  return packMessage({
    sender: from.id,
    receiver: to,
    content: { type: 1, sn: 42, text: body },
    time: NOW,
    signer: from.signKey,
    receiverKeys,
  });
}

async function online(user: UserIdentity, gatewayId: string, connId: string): Promise<void> {
  await backend.registry.bind({
    gatewayId,
    connId,
    user: user.id.string,
    terminal: undefined,
    active: true,
    since: NOW * 1000,
  });
}

/** The dispatcher pushes single messages (`deliver`); pages (`deliver-page`) are the storage worker's. */
async function deliveries(gatewayId: string): Promise<DeliverEntry[]> {
  return (await bus.range(backend.keys.deliveryStream(gatewayId))).map((r) => {
    const entry = decodeDelivery(r.fields);
    assert.equal(entry.kind, 'deliver');
    return entry as DeliverEntry;
  });
}

async function stored() {
  return (await bus.range(backend.keys.storeStream(shardOf(bob.id.string, 1)))).map((r) =>
    decodeStore(r.fields),
  );
}

/** The receipts sent back to alice's connection, opened with her key. */
async function receiptsToAlice(): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await deliveries('gw-a')) {
    assert.equal(entry.connId, 'c-alice');
    assert.equal(entry.response, true);
    const message = parseReliableMessage(entry.msg);
    assert.ok(verifyMessage(message, [station.meta.key]), 'the receipt is signed by the station');
    const content = openMessage(message, { privateKeys: alice.decryptKeys }).content;
    assert.equal(content.command, 'receipt');
    out.push(String(content.dict['text']));
  }
  return out;
}

describe('dispatcher routing', () => {
  it('an online receiver: stored, pushed to its session with a trace, sender told "Message delivered."', async () => {
    await online(bob, 'gw-b', 'c-bob');
    const message = text(alice, bob.id, 'hi');
    await dispatcher.route(message, aliceOrigin);
    const store = await stored();
    assert.equal(store.length, 1);
    assert.equal(store[0]?.kind, 'store');
    const pushed = await deliveries('gw-b');
    assert.equal(pushed.length, 1);
    assert.equal(pushed[0]?.connId, 'c-bob');
    const relayed = JSON.parse(pushed[0]!.msg) as Record<string, unknown>;
    assert.equal(relayed['signature'], message.dict['signature']);
    assert.deepEqual(relayed['traces'], [{ ID: station.id.string, did: station.id.string, time: NOW }]);
    // the message text is the sender's, with only the trace spliced in; the inbox gets the same text
    const { traces: _traces, ...rest } = relayed;
    assert.deepEqual(rest, message.dict);
    assert.equal(store[0]?.kind === 'store' && store[0].msg, pushed[0]!.msg);
    assert.deepEqual(await receiptsToAlice(), ['Message delivered.']);
  });

  it('an offline receiver: stored only, sender told "Message cached."', async () => {
    await dispatcher.route(text(alice, bob.id, 'hi'), aliceOrigin);
    assert.equal((await stored()).length, 1);
    assert.equal((await deliveries('gw-b')).length, 0);
    assert.deepEqual(await receiptsToAlice(), ['Message cached.']);
  });

  it('a receiver who blocked the sender: nothing stored or pushed, a "blocked" receipt', async () => {
    await online(bob, 'gw-b', 'c-bob');
    await backend.accounts.putList(bob.id, 'block', [alice.id.string]);
    await dispatcher.route(text(alice, bob.id, 'hi'), aliceOrigin);
    assert.equal((await stored()).length, 0);
    assert.equal((await deliveries('gw-b')).length, 0);
    assert.deepEqual(await receiptsToAlice(), [`Message is blocked by "${bob.id.string}"`]);
  });

  it('an ANS name resolves to its bot; an unknown name gets "Receiver not found."', async () => {
    await online(bot, 'gw-b', 'c-bot');
    await dispatcher.route(text(alice, parseId('archivist@anywhere'), 'search'), aliceOrigin);
    const pushed = await deliveries('gw-b');
    assert.equal(pushed.length, 1);
    assert.equal(pushed[0]?.user, bot.id.string);
    await dispatcher.route(text(alice, parseId('nobody@anywhere'), 'hello?'), aliceOrigin);
    assert.deepEqual(await receiptsToAlice(), ['Message delivered.', 'Receiver not found.']);
  });

  it('a group message is refused with a receipt and neither stored nor pushed', async () => {
    const meta = createMeta(MetaType.MKM, alice.signKey, 'friends');
    const group = parseId(new ID('friends', meta.generateAddress(EntityType.GROUP)).string);
    assert.equal(group.isGroup, true);
    await dispatcher.route(text(alice, group, 'to all'), aliceOrigin);
    assert.equal((await stored()).length, 0);
    assert.deepEqual(await receiptsToAlice(), ['Group message not support for this station.']);
  });
});

/**
 * A delivered mark never overtakes its message's put. Before, the dispatcher published a `store` entry and
 * the pushes together, and the gateway's mark travelled back through the store shard: with two storage
 * workers on a shard the mark could be applied before the put (skipped: unknown signature), and the message
 * came back at the next drain. Now the dispatcher stores before it publishes any push, and the gateway
 * records marks in the inbox itself. Checked on both engines with two storage workers running, a receiver
 * that confirms at once, and then a drain that must find nothing; and, at the unit level, that no push is
 * published while the put is still pending.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createUserIdentity } from '../../../src/client/user-identity.ts';
import { Dispatcher } from '../../../src/dispatch/dispatcher.ts';
import { StationCommands } from '../../../src/dispatch/station-commands.ts';
import { createMemoryBackend } from '../../../src/engine/memory-backend.ts';
import { createRedisBackend } from '../../../src/engine/redis-backend.ts';
import type { Backend } from '../../../src/engine/backend.ts';
import { DeliveryConsumer } from '../../../src/gateway/delivery-consumer.ts';
import { createStationIdentity } from '../../../src/identity/station-identity.ts';
import { StationMessenger } from '../../../src/identity/station-messenger.ts';
import { silentLogger } from '../../../src/ops/logger.ts';
import { packMessage } from '../../../src/protocol/dkd/message-packer.ts';
import { IdentityDirectory } from '../../../src/storage/identity-directory.ts';
import type { InboxStore } from '../../../src/storage/inbox-store.ts';
import { StorageWorker } from '../../../src/storage/storage-worker.ts';
import { BusInboundSink } from '../../../src/streams/bus-inbound-sink.ts';
import { StationStreams } from '../../../src/streams/station-streams.ts';
import type { MessageOrigin } from '../../../src/streams/station-streams.ts';
import { startRedisServer } from '../../helpers/redis-server.ts';
import type { RedisServer } from '../../helpers/redis-server.ts';

const NOW = 1_800_000_000;
const station = createStationIdentity({ name: 'gsp', rsaBits: 1024, now: NOW });
const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: NOW });
const bob = createUserIdentity({ kind: 'mkm-rsa', name: 'bob', now: NOW });
const MESSAGES = 200;

async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function text(n: number) {
  return packMessage({
    sender: alice.id,
    receiver: bob.id,
    content: { type: 1, sn: n, text: `m${n}` },
    time: NOW + n / 1000,
    signer: alice.signKey,
    receiverKeys: [{ key: bob.decryptKeys[0]!.publicKey }],
  });
}

/** Where alice's messages come in: her connection c-alice on gateway gw-0. */
const fromAlice: MessageOrigin = {
  gatewayId: 'gw-0',
  connId: 'c-alice',
  user: alice.id.string,
  terminal: undefined,
};

/** Bob online: one session, connection c-bob on gateway gw-1. */
async function bobOnline(backend: Backend): Promise<void> {
  await backend.registry.bind({
    gatewayId: 'gw-1',
    connId: 'c-bob',
    user: bob.id.string,
    terminal: undefined,
    active: true,
    since: Date.now(),
  });
}

async function station$(backend: Backend, inbox: InboxStore = backend.inbox) {
  const directory = new IdentityDirectory(backend.identities);
  for (const user of [alice, bob]) {
    await directory.acceptMeta(user.id, user.meta);
    await directory.acceptDocument(user.visa, NOW);
  }
  const messenger = new StationMessenger(station, directory, () => Date.now() / 1000);
  const streams = new StationStreams(backend.keys, 2);
  const dispatcher = new Dispatcher({
    bus: backend.bus,
    streams,
    registry: backend.registry,
    accounts: backend.accounts,
    inbox,
    messenger,
    commands: new StationCommands({
      stationId: station.id,
      directory,
      accounts: backend.accounts,
      ans: {},
    }),
    isGatewayAlive: async () => true,
    consumerName: 'dispatcher-1',
    logger: silentLogger,
  });
  return { dispatcher, streams };
}

async function relayWithTwoStorageWorkers(backend: Backend): Promise<void> {
  const { dispatcher, streams } = await station$(backend);
  const workers = ['storage-1', 'storage-2'].map(
    (name) =>
      new StorageWorker({
        bus: backend.bus,
        streams,
        inbox: backend.inbox,
        consumerName: name,
        logger: silentLogger,
      }),
  );
  const pushed: string[] = [];
  const sink = new BusInboundSink(backend.bus, streams);
  const delivery = new DeliveryConsumer({
    bus: backend.bus,
    streams,
    gateway: {
      id: 'gw-1',
      async deliver(_conn, _body, sig) {
        pushed.push(sig ?? '');
        return 'acked';
      },
    },
    sink,
    inbox: backend.inbox,
    logger: silentLogger,
  });
  await bobOnline(backend);
  for (const w of workers) w.start();
  dispatcher.start();
  await delivery.start();
  try {
    const messages = Array.from({ length: MESSAGES }, (_, i) => text(i));
    await Promise.all(messages.map((m) => sink.publish(m, fromAlice)));
    await waitFor(() => pushed.length >= MESSAGES, 'every push');
    await waitFor(async () => (await backend.inbox.count(bob.id.string)) === 0, 'every message marked');
    // a drain now (e.g. bob reconnecting) finds nothing to deliver again
    await sink.requestBacklog({
      user: bob.id.string,
      terminal: '*',
      gatewayId: 'gw-1',
      connId: 'c-bob',
      until: Date.now() + 60_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(pushed.length, MESSAGES, 'nothing delivered twice');
    assert.deepEqual(new Set(pushed).size, MESSAGES);
  } finally {
    await delivery.close();
    await dispatcher.close();
    await Promise.all(workers.map((w) => w.close()));
  }
}

describe('delivered marks never overtake their put', () => {
  let redis: RedisServer | undefined;
  before(async () => {
    redis = await startRedisServer();
  });
  after(async () => {
    await redis?.dispose();
  });

  it('memory engine, two storage workers: every confirmed message leaves the inbox, none comes back', async () => {
    const backend = createMemoryBackend();
    try {
      await relayWithTwoStorageWorkers(backend);
    } finally {
      await backend.close();
    }
  });

  it('Redis engine, two storage workers: every confirmed message leaves the inbox, none comes back', async () => {
    const backend = await createRedisBackend({ url: redis!.url, prefix: 'mark-after-put:' });
    try {
      await relayWithTwoStorageWorkers(backend);
    } finally {
      await backend.close();
    }
  });

  it('the dispatcher publishes no push while the put is pending', async () => {
    const backend = createMemoryBackend();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let putDone = false;
    const slowInbox: InboxStore = Object.assign(Object.create(backend.inbox) as InboxStore, {
      putChecked: async (...args: Parameters<InboxStore['putChecked']>) => {
        await gate;
        const stored = await backend.inbox.putChecked(...args);
        putDone = true;
        return stored;
      },
    });
    try {
      const { dispatcher, streams } = await station$(backend, slowInbox);
      await bobOnline(backend);
      const routed = dispatcher.route(text(1), fromAlice);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(await backend.bus.length(streams.deliveryStream('gw-1')), 0, 'no push before the put');
      release();
      await routed;
      assert.equal(putDone, true);
      assert.equal(await backend.bus.length(streams.deliveryStream('gw-1')), 1);
    } finally {
      await backend.close();
    }
  });
});

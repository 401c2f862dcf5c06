/**
 * The federation router on the in-memory engine: routing by login record, loops, the bounded queue,
 * broadcasts propagated over a mesh with a cycle (exactly once per station), roaming in order, and the
 * neighbour-query rate limit.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryMessageBus } from '../../../src/bus/memory-message-bus.ts';
import { decodeForward } from '../../../src/federation/federation-entries.ts';
import type { ForwardEntry } from '../../../src/federation/federation-entries.ts';
import { FederationRouter } from '../../../src/federation/federation-router.ts';
import { MemoryFederationStore } from '../../../src/federation/federation-store.ts';
import { createStationIdentity } from '../../../src/identity/station-identity.ts';
import type { StationIdentity } from '../../../src/identity/station-identity.ts';
import { StationMessenger } from '../../../src/identity/station-messenger.ts';
import { silentLogger } from '../../../src/ops/logger.ts';
import { parseContent } from '../../../src/protocol/dkd/content.ts';
import { parseReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import type { ReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import { parseId } from '../../../src/protocol/mkm/identifier.ts';
import { createRedisKeys } from '../../../src/redis/redis-keys.ts';
import { IdentityDirectory } from '../../../src/storage/identity-directory.ts';
import { MemoryAccountStore } from '../../../src/storage/memory-account-store.ts';
import { MemoryIdentityStore } from '../../../src/storage/memory-identity-store.ts';
import { MemoryInboxStore } from '../../../src/storage/memory-inbox-store.ts';

const identities = new Map<string, StationIdentity>();
function stationIdentity(name: string): StationIdentity {
  let id = identities.get(name);
  if (id === undefined) {
    id = createStationIdentity({ name, rsaBits: 1024, now: Date.now() / 1000 });
    identities.set(name, id);
  }
  return id;
}

interface Node {
  readonly id: string;
  readonly router: FederationRouter;
  readonly bus: MemoryMessageBus;
  readonly accounts: MemoryAccountStore;
  readonly inbox: MemoryInboxStore;
  readonly keys: ReturnType<typeof createRedisKeys>;
  /** Queued entries for a neighbour, oldest first. */
  queue(neighbour: string): Promise<ForwardEntry[]>;
}

function node(name: string, neighbours: readonly string[], queueLimit = 100): Node {
  const identity = stationIdentity(name);
  const bus = new MemoryMessageBus();
  const accounts = new MemoryAccountStore();
  const inbox = new MemoryInboxStore();
  const directory = new IdentityDirectory(new MemoryIdentityStore());
  const keys = createRedisKeys('t:');
  const router = new FederationRouter({
    self: identity.id,
    neighbours: neighbours.map((n) => stationIdentity(n).id.string),
    store: new MemoryFederationStore(),
    bus,
    keys,
    queueLimit,
    accounts,
    inbox,
    directory,
    messenger: new StationMessenger(identity, directory, () => Date.now() / 1000),
    logger: silentLogger,
  });
  return {
    id: identity.id.string,
    router,
    bus,
    accounts,
    inbox,
    keys,
    async queue(neighbour) {
      const records = await bus.range(keys.federationQueue(neighbour), 10_000);
      return records.map((r) => decodeForward(r.fields));
    },
  };
}

const USER = 'bob@12puKb1X3Qdn4mvoLkDu8eECjuWoA1v29D';
const SENDER = 'alice@1BM1kGngiJM4ZQN2wzGR7TVxHrkwyaZUXw';
let serial = 0;

function personal(extra: Record<string, unknown> = {}): ReliableMessage {
  serial += 1;
  return parseReliableMessage({
    sender: SENDER,
    receiver: USER,
    time: 1_800_000_000 + serial,
    data: 'ZGF0YQ==',
    signature: `c2lnbmF0dXJl${serial}`,
    ...extra,
  });
}

function broadcast(): ReliableMessage {
  return parseReliableMessage({
    sender: SENDER,
    receiver: 'everyone@everywhere',
    time: 1_800_000_000,
    data: JSON.stringify({ type: 136, sn: 1, command: 'login', did: SENDER }),
    signature: 'YnJvYWRjYXN0',
  });
}

/** Route as the dispatcher does: the envelope, and the message text (here without our trace). */
const route = (n: Node, m: ReliableMessage): Promise<string | undefined> =>
  n.router.routeUser(m, JSON.stringify(m.dict), parseId(USER));

describe('federation router', () => {
  it('routes to the station of the latest login when it is a neighbour; otherwise there is no route', async () => {
    const s1 = node('r1', ['r2']);
    const s2 = stationIdentity('r2').id.string;
    assert.equal(await route(s1, personal()), undefined, 'no login: no route');
    await s1.accounts.putLogin(parseId(USER), { time: 1, terminal: undefined, station: s2, message: {} });
    const m = personal();
    assert.equal(await route(s1, m), s2);
    assert.equal(await route(s1, m), s2, 'a resend is not queued twice');
    const queued = await s1.queue(s2);
    assert.equal(queued.length, 1);
    const relayed = parseReliableMessage(queued[0]?.json as string);
    assert.equal(relayed.signatureText, m.signatureText, 'the message text as handed over');
    await s1.accounts.putLogin(parseId(USER), {
      time: 2,
      terminal: undefined,
      station: 'elsewhere@2A4thLKtcgM4cttUh9MABuHpooMkCb49Ck',
      message: {},
    });
    assert.equal(await route(s1, personal()), undefined, 'not a neighbour');
  });

  it('keeps a message that already passed here (a loop between stale logins) instead of bouncing it', async () => {
    const s1 = node('r1', ['r2']);
    const s2 = stationIdentity('r2').id.string;
    await s1.accounts.putLogin(parseId(USER), { time: 1, terminal: undefined, station: s2, message: {} });
    const back = personal({ traces: [{ ID: s1.id, did: s1.id, time: 1 }, { did: s2 }] });
    assert.equal(await route(s1, back), undefined);
    assert.equal((await s1.queue(s2)).length, 0);
  });

  it("a full neighbour queue means no route (the message is stored here); other neighbours' queues are separate", async () => {
    const s1 = node('r1', ['r2'], 2);
    const s2 = stationIdentity('r2').id.string;
    await s1.accounts.putLogin(parseId(USER), { time: 1, terminal: undefined, station: s2, message: {} });
    assert.equal(await route(s1, personal()), s2);
    assert.equal(await route(s1, personal()), s2);
    assert.equal(await route(s1, personal()), undefined);
  });

  it('propagates a broadcast over a mesh with a cycle: every station handles it exactly once', async () => {
    // r1 — r2, r1 — r3, r2 — r4, r3 — r4, r2 — r3 (cycles r1-r2-r3 and r2-r4-r3)
    const links: Record<string, string[]> = {
      r1: ['r2', 'r3'],
      r2: ['r1', 'r3', 'r4'],
      r3: ['r1', 'r2', 'r4'],
      r4: ['r2', 'r3'],
    };
    const nodes = new Map(
      Object.entries(links).map(([n, ns]) => [stationIdentity(n).id.string, node(n, ns)]),
    );
    const byName = (n: string): Node => nodes.get(stationIdentity(n).id.string) as Node;
    const handled = new Map<string, number>();
    const cursors = new Map<string, number>();
    const deliverAll = async (): Promise<number> => {
      let moved = 0;
      for (const [from, n] of nodes) {
        for (const to of n.router.neighbours) {
          const entries = await n.queue(to);
          const done = cursors.get(`${from}>${to}`) ?? 0;
          for (const e of entries.slice(done)) {
            moved += 1;
            await receive(nodes.get(to) as Node, parseReliableMessage(e.json));
          }
          cursors.set(`${from}>${to}`, entries.length);
        }
      }
      return moved;
    };
    const receive = async (n: Node, m: ReliableMessage): Promise<void> => {
      if (!(await n.router.acceptBroadcast(m))) return;
      handled.set(n.id, (handled.get(n.id) ?? 0) + 1);
      await n.router.forwardBroadcast(m);
    };
    await receive(byName('r1'), broadcast());
    for (let round = 0; round < 10 && (await deliverAll()) > 0; round++);
    assert.deepEqual(
      [...nodes.keys()].map((id) => handled.get(id)),
      [1, 1, 1, 1],
    );
    const r1Out = await byName('r1').queue(byName('r2').id);
    const recipients = parseReliableMessage(r1Out[0]?.json as string).dict['recipients'] as string[];
    assert.deepEqual(
      new Set(recipients),
      new Set([byName('r1').id, byName('r2').id, byName('r3').id]),
      'recipients name every station already targeted',
    );
  });

  it('roams a user: every stored message queued in order with its roam marker', async () => {
    const s1 = node('r1', ['r2']);
    const s2 = stationIdentity('r2').id.string;
    for (let i = 0; i < 3; i++) {
      const m = personal();
      await s1.inbox.put(USER, {
        sig: m.signatureText,
        time: 1000 + i,
        storedAt: Date.now() - 10,
        terminal: undefined,
        json: JSON.stringify({ ...m.dict, n: i }),
      });
    }
    const login = parseReliableMessage({
      sender: USER,
      receiver: 'everyone@everywhere',
      data: '{}',
      signature: 'bG9naW4=',
    });
    const content = { type: 136, command: 'login', did: USER, station: { did: s2 }, time: 5 };
    await s1.accounts.putLogin(parseId(USER), { time: 5, terminal: undefined, station: s2, message: {} });
    await s1.router.afterLocal(login, parseContent(content));
    const queued = await s1.queue(s2);
    assert.deepEqual(
      queued.map((e) => (JSON.parse(e.json) as { n: number }).n),
      [0, 1, 2],
    );
    assert.ok(queued.every((e) => e.roam?.user === USER && e.roam.terminal === '*'));
  });

  it('asks neighbours about an unknown ID at most once per 10 minutes', async () => {
    const s1 = node('r1', ['r2', 'r3']);
    const unknown = parseId(USER);
    assert.equal(await s1.router.askNeighbours(unknown), 2);
    assert.equal(await s1.router.askNeighbours(unknown), 0);
    const q = await s1.queue(stationIdentity('r2').id.string);
    const query = parseReliableMessage(q[0]?.json as string);
    assert.equal(query.receiver.string, 'station@anywhere');
    assert.equal((JSON.parse(query.data) as { command: string }).command, 'documents');
  });
});

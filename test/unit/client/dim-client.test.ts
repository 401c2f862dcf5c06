/**
 * The DIM client against a fake station built from the protocol core (fake-station.ts), over MTP and
 * WebSocket: the Start message has the shape of the captured client traffic (fields, order, plaintext
 * content with group stations@everywhere, meta + visa attached, signature verifies), Restart is encrypted
 * to the station visa key and echoes the session, DIM! resolves the handshake; failures (timeout, wrong
 * station, tampered station visa); login / report receipts; forced DIM? re-handshakes; user-to-user
 * messages through the station; waitFor, the message iterator, and close.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isClientError } from '../../../src/client/client-error.ts';
import type { ClientTransport } from '../../../src/client/client-transport.ts';
import { DimClient } from '../../../src/client/dim-client.ts';
import type { DimClientOptions, HandshakeEvent } from '../../../src/client/dim-client.ts';
import { MtpClientTransport } from '../../../src/client/mtp-client-transport.ts';
import { createUserIdentity, USER_IDENTITY_KINDS } from '../../../src/client/user-identity.ts';
import type { UserIdentity, UserIdentityKind } from '../../../src/client/user-identity.ts';
import { WsClientTransport } from '../../../src/client/ws-client-transport.ts';
import { attachedMeta, attachedVisa } from '../../../src/protocol/dkd/attachments.ts';
import { openMessage, verifyMessage } from '../../../src/protocol/dkd/message-packer.ts';
import { parseReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import { readTrace } from '../../helpers/vectors.ts';
import { FakeStation, testStationIdentity } from './fake-station.ts';
import type { ReceivedByStation } from './fake-station.ts';

const identityCache = new Map<string, UserIdentity>();
/** One identity per (kind, name) for the whole file: RSA key generation is the slow part. */
function identity(kind: UserIdentityKind, name = 'bob'): UserIdentity {
  const key = `${kind}:${name}`;
  let found = identityCache.get(key);
  if (found === undefined) {
    found = createUserIdentity({ kind, name, terminal: 'T1', now: Date.now() / 1000 });
    identityCache.set(key, found);
  }
  return found;
}

async function transportFor(station: FakeStation, autoAck = true): Promise<ClientTransport> {
  return station.transportKind === 'mtp'
    ? MtpClientTransport.connect({ host: '127.0.0.1', port: station.port, autoAck, sendTimeoutMs: 2000 })
    : WsClientTransport.connect({ host: '127.0.0.1', port: station.port, autoAck });
}

const clients: DimClient[] = [];
async function clientFor(
  station: FakeStation,
  user: UserIdentity,
  options: Partial<DimClientOptions> = {},
): Promise<DimClient> {
  const client = new DimClient({ transport: await transportFor(station), identity: user, ...options });
  clients.push(client);
  return client;
}

const isHandshake = (title: string) => (r: ReceivedByStation) =>
  r.content?.command === 'handshake' && r.content.dict['title'] === title;

/** The first client message of the captured trace (V13.32): the real Start. */
const traceStart = JSON.parse(
  readTrace('sample-mtp-trace-with-login-and-ping.jsonl')[0]?.body ?? '{}',
) as Record<string, unknown>;

before(() => {
  testStationIdentity();
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
});

for (const transport of ['mtp', 'ws'] as const) {
  describe(`DimClient handshake over ${transport}`, () => {
    let station: FakeStation;

    before(async () => {
      station = await FakeStation.start({ transport });
    });

    after(async () => {
      await station.close();
    });

    for (const kind of USER_IDENTITY_KINDS) {
      it(`${kind}: Start like the trace, Restart encrypted with the session, DIM! resolves`, async () => {
        const user = identity(kind);
        const client = await clientFor(station, user);
        const result = await client.handshake();
        assert.ok(result.stationId.equals(station.id));
        assert.ok(client.handshaken);
        assert.ok(client.stationId?.equals(station.id));
        assert.ok(client.stationMeta?.key.equals(station.identity.meta.key));
        const starts = station.received.filter(
          (r) => r.message.sender.equals(user.id) && r.message.receiver.string === 'station@anywhere',
        );
        const start = starts[starts.length - 1];
        assert.ok(start);

        // Start: same fields, same order as the captured client
        const dict = JSON.parse(start.text) as Record<string, unknown>;
        assert.deepEqual(Object.keys(dict), Object.keys(traceStart));
        assert.equal(dict['sender'], user.id.string);
        assert.equal(dict['receiver'], 'station@anywhere');
        assert.equal(dict['type'], 136);
        assert.equal(typeof dict['time'], 'number');
        assert.equal(dict['group'], undefined);
        const data = JSON.parse(dict['data'] as string) as Record<string, unknown>;
        const traceData = JSON.parse(traceStart['data'] as string) as Record<string, unknown>;
        assert.deepEqual(Object.keys(data), Object.keys(traceData));
        assert.equal(data['type'], 136);
        assert.equal(data['command'], 'handshake');
        assert.equal(data['cmd'], 'handshake');
        assert.equal(data['title'], 'Hello world!');
        assert.equal(data['message'], 'Hello world!');
        assert.equal(data['group'], 'stations@everywhere');
        assert.equal(data['session'], undefined);
        const message = parseReliableMessage(start.text);
        assert.ok(message.isBroadcast);
        const meta = attachedMeta(message);
        assert.ok(meta);
        const visa = attachedVisa(message, meta);
        assert.ok(visa);
        assert.ok(verifyMessage(message, [meta.key]));
        assert.ok(visa.visaKey?.canEncrypt);

        // Restart: to the station ID, encrypted to its visa key, echoes the session, no attachments
        const restart = await station.next(
          (r) => r.message.sender.equals(user.id) && r.message.receiver.equals(station.id),
        );
        const restartDict = JSON.parse(restart.text) as Record<string, unknown>;
        assert.deepEqual(Object.keys(restartDict), [
          'sender',
          'receiver',
          'time',
          'IV',
          'data',
          'keys',
          'type',
          'signature',
        ]);
        assert.equal(restartDict['meta'], undefined);
        assert.throws(() => JSON.parse(restartDict['data'] as string));
        const opened = openMessage(restart.message, { privateKeys: station.identity.decryptKeys });
        assert.equal(opened.content.dict['title'], 'Hello world!');
        assert.equal(opened.content.dict['session'], restart.conn.sessionKey);
        assert.equal(opened.content.dict['group'], undefined);
        assert.ok(verifyMessage(restart.message, [user.meta.key]));
        assert.equal(result.sessionKey, restart.conn.sessionKey);
        assert.deepEqual(result.remoteAddress, restart.conn.remoteAddress);
        assert.ok(restart.conn.user?.equals(user.id));
        assert.deepEqual(station.errors, []);
        await client.close();
      });
    }

    it('login broadcasts to everyone@everywhere and resolves with the receipt text', async () => {
      const user = identity('mkm-ecc', 'dave');
      const client = await clientFor(station, user, { agent: 'dim-client-test' });
      await client.handshake();
      const text = await client.login({ host: 'chat.example.com', port: 9394 });
      assert.equal(text, 'Login received.');
      const login = await station.next(
        (r) => r.content?.command === 'login' && r.message.sender.equals(user.id),
      );
      assert.equal(login.message.receiver.string, 'everyone@everywhere');
      const content = login.content?.dict ?? {};
      assert.equal(content['did'], user.id.string);
      assert.equal(content['ID'], user.id.string);
      assert.equal(content['agent'], 'dim-client-test');
      assert.equal(content['terminal'], 'T1');
      assert.equal(typeof content['time'], 'number');
      assert.deepEqual(content['station'], {
        did: station.id.string,
        host: 'chat.example.com',
        port: 9394,
        ID: station.id.string,
      });
      // report online: encrypted to the station, receipt text back
      assert.equal(await client.report('online'), 'Online received.');
      const report = await station.next(
        (r) => r.content?.command === 'report' && r.message.sender.equals(user.id),
      );
      assert.ok(report.message.receiver.equals(station.id));
      assert.ok(!report.message.isBroadcast);
      assert.equal(await client.report('offline'), undefined);
      // any command to the station, encrypted to its visa key
      await client.sendCommand('documents', { did: user.id.string });
      const query = await station.next(
        (r) => r.content?.command === 'documents' && r.message.sender.equals(user.id),
      );
      assert.ok(query.message.receiver.equals(station.id));
      assert.equal(query.content?.dict['ID'], user.id.string);
      await client.close();
    });
  });
}

describe('DimClient against the fake MTP station', () => {
  let station: FakeStation;

  before(async () => {
    station = await FakeStation.start({ transport: 'mtp' });
  });

  after(async () => {
    await station.close();
  });

  it('concurrent handshake() calls share one attempt; classic `key` style and string envelope types', async () => {
    const client = await clientFor(station, identity('eth'), { keyStyle: 'key', envelopeType: 'string' });
    const [a, b] = await Promise.all([client.handshake(), client.handshake()]);
    assert.equal(a, b);
    const restart = await station.next(
      (r) => r.message.sender.equals(client.id) && r.message.receiver.equals(station.id),
    );
    const dict = JSON.parse(restart.text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(dict), [
      'sender',
      'receiver',
      'time',
      'IV',
      'data',
      'key',
      'type',
      'signature',
    ]);
    assert.equal(dict['type'], '136');
    assert.equal(
      station.received.filter((r) => r.message.sender.equals(client.id) && isHandshake('Hello world!')(r))
        .length,
      2,
    );
    await client.close();
  });

  it('a forced DIM? makes the client handshake again (Restart with the new session)', async () => {
    const client = await clientFor(station, identity('mkm-ecc', 'erin'));
    await client.handshake();
    const conn = station.connections[station.connections.length - 1];
    assert.ok(conn);
    const mark = client.mark();
    station.forceHandshake(conn);
    const forced = (await client.waitFor((e) => e.kind === 'handshake' && e.title === 'DIM?', 2000, {
      since: mark,
    })) as HandshakeEvent;
    assert.equal(forced.force, true);
    const success = (await client.waitFor((e) => e.kind === 'handshake' && e.title === 'DIM!', 2000, {
      since: mark,
    })) as HandshakeEvent;
    assert.equal(success.session, conn.sessionKey);
    assert.equal(client.sessionKey, conn.sessionKey);
    assert.ok(client.handshaken);
    assert.equal(client.rehandshakes, 1);
    assert.ok(conn.user?.equals(client.id));
    await client.close();
  });

  it('autoRehandshake:false leaves a forced DIM? unanswered', async () => {
    const client = await clientFor(station, identity('mkm-ecc', 'fred'), { autoRehandshake: false });
    await client.handshake();
    const conn = station.connections[station.connections.length - 1];
    assert.ok(conn);
    const before = station.received.length;
    station.forceHandshake(conn);
    await client.waitFor((e) => e.kind === 'handshake' && e.title === 'DIM?', 2000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(station.received.length, before);
    assert.equal(client.rehandshakes, 0);
    await client.close();
  });

  it('messages before any handshake get DIM? force; the client handshakes by itself and can then send', async () => {
    const alice = await clientFor(station, identity('mkm-ecc', 'alice'));
    const bob = await clientFor(station, identity('eth', 'bob2'));
    await bob.handshake();
    alice.addContact(bob.identity);
    const mark = alice.mark();
    await alice.sendText(bob.id, 'too early', { attachIdentity: true });
    await alice.waitFor((e) => e.kind === 'handshake' && e.title === 'DIM!', 3000, { since: mark });
    assert.ok(alice.handshaken);
    assert.equal(alice.rehandshakes, 1);
    await alice.close();
  });

  it('user to user: encrypted with the receiver visa key, relayed, opened and verified; receipts matched', async () => {
    const alice = await clientFor(station, identity('mkm-ecc', 'alice3'));
    const bob = await clientFor(station, identity('mkm-rsa', 'bob3'));
    await Promise.all([alice.handshake(), bob.handshake()]);
    alice.addContact(bob.identity);
    bob.addContact({
      id: alice.id.string,
      meta: alice.identity.meta.toJSON(),
      visa: alice.identity.visa.toJSON(),
    });
    const iterator = bob.messages();
    const sent = await alice.sendText(bob.id, 'hello bob', { extra: { format: 'plain' } });
    assert.ok(sent.ackedAt >= sent.sentAt);
    const next = await iterator.next();
    assert.equal(next.done, false);
    const received = next.value;
    assert.ok(received);
    assert.equal(received.content.dict['text'], 'hello bob');
    assert.equal(received.content.dict['format'], 'plain');
    assert.equal(received.content.sn, sent.sn);
    assert.ok(received.sender.equals(alice.id));
    assert.ok(received.verified);
    assert.equal(received.raw.signatureText, sent.message.signatureText);
    // the wire form: keys map with the bare ID, and the terminal entry of bob's visa
    const keys = sent.message.dict['keys'] as Record<string, string>;
    assert.deepEqual(Object.keys(keys).sort(), [bob.id.string, `${bob.id.string}/T1`].sort());
    const receipt = await alice.waitReceipt(sent, 2000);
    assert.equal(receipt?.text, 'Message received.');
    assert.equal(receipt?.origin?.['signature'], sent.message.signatureText);
    // a second message reuses the direction key and still carries key material
    const again = await alice.sendText(bob.id, 'second');
    assert.equal((await iterator.next()).value?.content.dict['text'], 'second');
    assert.ok(again.message.dict['keys']);
    // the iterator ends when the client closes
    await bob.close();
    assert.equal((await iterator.next()).done, true);
    await alice.close();
  });

  it('messages from unknown senders are delivered unverified; bad signatures become invalid events', async () => {
    const carol = await clientFor(station, identity('mkm-ecc', 'carol'));
    await carol.handshake();
    const stranger = identity('eth', 'stranger');
    const bad = identity('eth', 'badsig');
    const conn = station.connections[station.connections.length - 1];
    assert.ok(conn);
    const sender = new DimClient({ transport: new NullTransport(), identity: stranger });
    sender.addContact(carol.identity);
    const mark = carol.mark();
    conn.push(sender.pack(carol.id, { type: 1, text: 'who am I?' }).text);
    const got = await carol.waitForMessage((m) => m.content.dict['text'] === 'who am I?', 2000, {
      since: mark,
    });
    assert.equal(got.verified, false);
    // now carol learns the stranger; a message signed by someone else fails verification
    carol.addContact(stranger);
    const forged = JSON.parse(sender.pack(carol.id, { type: 1, text: 'forged' }).text) as Record<
      string,
      unknown
    >;
    const other = new DimClient({ transport: new NullTransport(), identity: bad });
    other.addContact(carol.identity);
    const real = JSON.parse(other.pack(carol.id, { type: 1, text: 'x' }).text) as Record<string, unknown>;
    forged['signature'] = real['signature'];
    conn.push(JSON.stringify(forged));
    const invalid = await carol.waitFor((e) => e.kind === 'invalid', 2000, { since: mark });
    assert.equal(invalid.kind, 'invalid');
    assert.match(invalid.kind === 'invalid' ? invalid.error.message : '', /does not verify/);
    conn.push('{not json');
    await carol.waitFor((e) => e.kind === 'invalid' && e.body === '{not json', 2000);
    await Promise.all([sender.close(), other.close(), carol.close()]);
  });

  it('sendContent without a key for the receiver rejects with NO_KEY_FOR_RECEIVER; login before handshake with NOT_HANDSHAKEN', async () => {
    const client = await clientFor(station, identity('mkm-ecc', 'gina'));
    const unknown = identity('eth', 'nobody');
    await assert.rejects(client.sendText(unknown.id, 'hi'), (err) =>
      isClientError(err, 'NO_KEY_FOR_RECEIVER'),
    );
    await assert.rejects(client.login(), (err) => isClientError(err, 'NOT_HANDSHAKEN'));
    await assert.rejects(client.sendCommand('meta'), (err) => isClientError(err, 'NOT_HANDSHAKEN'));
    await assert.rejects(
      client.waitFor(() => false, 50),
      (err) => isClientError(err, 'TIMEOUT'),
    );
    await client.close();
  });

  it('close is idempotent and rejects a pending handshake and waiters with CLOSED', async () => {
    station.answerHandshake = false;
    try {
      const client = await clientFor(station, identity('mkm-ecc', 'hank'));
      const handshake = assert.rejects(client.handshake({ timeoutMs: 5000 }), (err) =>
        isClientError(err, 'CLOSED'),
      );
      const waiter = assert.rejects(
        client.waitFor(() => false, 5000),
        (err) => isClientError(err, 'CLOSED'),
      );
      await Promise.all([client.close(), client.close()]);
      await Promise.all([handshake, waiter]);
      await client.close();
      assert.ok(client.closed);
      await assert.rejects(client.sendText('anyone@anywhere', 'x'), (err) => isClientError(err, 'CLOSED'));
      await assert.rejects(client.handshake(), (err) => isClientError(err, 'CLOSED'));
    } finally {
      station.answerHandshake = true;
    }
  });

  it('a silent station makes the handshake time out', async () => {
    station.answerHandshake = false;
    try {
      const client = await clientFor(station, identity('mkm-ecc', 'ivan'));
      await assert.rejects(client.handshake({ timeoutMs: 200 }), (err) =>
        isClientError(err, 'HANDSHAKE_TIMEOUT'),
      );
      assert.ok(!client.handshaken);
      await client.close();
    } finally {
      station.answerHandshake = true;
    }
  });

  it('a reply from another station than expected fails the handshake', async () => {
    const client = await clientFor(station, identity('mkm-ecc', 'judy'));
    const other = createUserIdentity({ kind: 'mkm-ecc', name: 'station', now: Date.now() / 1000 });
    await assert.rejects(client.handshake({ stationId: other.id }), (err) =>
      isClientError(err, 'HANDSHAKE_FAILED'),
    );
    await client.close();
  });
});

describe('DimClient against a station with a tampered visa', () => {
  let station: FakeStation;

  before(async () => {
    station = await FakeStation.start({
      transport: 'mtp',
      tamperVisa: (visa) => ({ ...visa, data: (visa['data'] as string).replace('"station"', '"mallory"') }),
    });
  });

  after(async () => {
    await station.close();
  });

  it('rejects the handshake with HANDSHAKE_FAILED', async () => {
    const client = await clientFor(station, identity('mkm-ecc', 'kate'));
    await assert.rejects(client.handshake({ timeoutMs: 3000 }), (err) =>
      isClientError(err, 'HANDSHAKE_FAILED'),
    );
    await client.close();
  });
});

/** A transport that goes nowhere: lets a test pack messages as another user. */
class NullTransport implements ClientTransport {
  readonly kind = 'mtp' as const;
  closed = false;
  readonly remoteHost = undefined;
  readonly remotePort = undefined;
  send(): Promise<void> {
    return Promise.resolve();
  }
  onMessage(): () => void {
    return () => {};
  }
  onClose(): () => void {
    return () => {};
  }
  ping(): Promise<number> {
    return Promise.resolve(0);
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

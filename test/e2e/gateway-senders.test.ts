/**
 * Gateway sender checks end to end (issue 3): a connection is bound to one user; other users' handshakes
 * and messages on it are refused with a receipt; bad signatures from unbound connections are dropped
 * (acknowledged, logged, never delivered); DIM_VERIFY_ALL_MESSAGES decides whether the bound user's own
 * messages are re-verified.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientEvent, DimClient } from '../../src/client/dim-client.ts';
import type { MtpClientTransport } from '../../src/client/mtp-client-transport.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import type { Backend } from '../../src/engine/backend.ts';
import { createMemoryBackend } from '../../src/engine/memory-backend.ts';
import { ContentType } from '../../src/protocol/dkd/content-type.ts';
import { newCommand } from '../../src/protocol/dkd/content.ts';
import { HELLO, SUCCESS } from '../../src/protocol/dkd/handshake-command.ts';
import { ANY_STATION, EVERY_STATION } from '../../src/protocol/mkm/identifier.ts';
import { connectClient, startTestStation } from '../helpers/station-harness.ts';
import type { TestStation } from '../helpers/station-harness.ts';
import {
  closeQuietly,
  delay,
  handshakeEvents,
  KeyDirectory,
  LogRecorder,
  newUser,
  now,
  packerFor,
  sessionsOf,
  stationSessionOf,
  waitReceiptAbout,
} from '../helpers/gateway-e2e.ts';

const SENDER_MISMATCH_TEXT = 'Message rejected: sender does not match the logged-in user.';

/** Whether `client` received anything carrying `signature` (opened, or refused by its own verification). */
function sawSignature(client: DimClient, signature: string): boolean {
  return client.history.some((e: ClientEvent) =>
    e.kind === 'invalid' ? e.body.includes(signature) : e.raw.signatureText === signature,
  );
}

/** `text` packed by `client` to `to`, with the signature of another (never sent) message of the same sender. */
function tampered(client: DimClient, to: UserIdentity, text: string): { text: string; signature: string } {
  const genuine = JSON.parse(client.pack(to.id, { type: ContentType.TEXT, text }).text) as Record<
    string,
    unknown
  >;
  const other = JSON.parse(client.pack(to.id, { type: ContentType.TEXT, text: `${text} (other)` }).text) as {
    signature: string;
  };
  genuine['signature'] = other.signature;
  return { text: JSON.stringify(genuine), signature: other.signature };
}

describe('gateway sender checks', () => {
  const backend = createMemoryBackend();
  const logs = new LogRecorder();
  const directory = new KeyDirectory();
  const clients: DimClient[] = [];
  let station: TestStation;
  const alice = newUser('mkm-ecc', 'alice');
  const bob = newUser('eth');
  let a: DimClient;
  let b: DimClient;

  before(async () => {
    station = await startTestStation({ backend, logger: logs.logger });
    a = await connectClient(station.port, 'mtp', alice, directory);
    b = await connectClient(station.port, 'ws', bob, directory);
    clients.push(a, b);
    await Promise.all([a.handshake(), b.handshake()]);
    assert.equal(await a.login(), 'Login received.');
    assert.equal(await b.login(), 'Login received.');
  });

  after(async () => {
    await closeQuietly(clients);
    await station.close();
  });

  it('a second handshake (Start or Restart) from a different user on a bound connection is refused with a receipt; the connection stays bound to the first user', async () => {
    const mallory = newUser('mkm-rsa', 'mallory');
    const forger = packerFor(mallory, directory);
    const mark = a.mark();
    const start = forger.pack(
      ANY_STATION,
      newCommand('handshake', now(), { title: HELLO, message: HELLO, group: EVERY_STATION.string }),
      { attachIdentity: true },
    );
    const restart = forger.pack(
      station.identity.id,
      newCommand('handshake', now(), { title: HELLO, message: HELLO, session: a.sessionKey }),
      { attachIdentity: true },
    );
    const transport = a.transport as MtpClientTransport;
    await transport.send(start.text, { timeoutMs: 2000 }); // settled (refused), so acknowledged
    await transport.send(restart.text, { timeoutMs: 2000 });
    for (const forged of [start, restart]) {
      const receipt = await waitReceiptAbout(a, forged.message.signatureText);
      assert.equal(receipt.text, SENDER_MISMATCH_TEXT);
      assert.deepEqual(receipt.content.dict['error'], { code: 'SENDER_MISMATCH' });
    }
    await delay(50);
    assert.ok(
      !handshakeEvents(a).some((e) => e.seq >= mark),
      'no DIM? / DIM! answered the foreign handshakes',
    );
    assert.equal(handshakeEvents(a, SUCCESS).length, 1);
    const session = await stationSessionOf(station, backend, alice);
    assert.equal(session.user?.string, alice.id.string);
    assert.equal((await sessionsOf(backend, mallory)).length, 0, 'mallory was never bound');
    // still alice's connection: her own messages go through
    const sent = await a.sendText(bob.id, 'still alice');
    assert.equal((await a.waitReceipt(sent))?.text, 'Message delivered.');
  });

  it('a message claiming another sender on a bound connection is rejected with a receipt and never reaches the claimed receiver', async () => {
    const carol = newUser('mkm-ecc', 'carol');
    const carolPacker = packerFor(carol, directory);
    const forged = carolPacker.pack(bob.id, { type: ContentType.TEXT, text: 'from "carol" via alice' });
    const bobMark = b.mark();
    await (a.transport as MtpClientTransport).send(forged.text, { timeoutMs: 2000 });
    const receipt = await waitReceiptAbout(a, forged.message.signatureText);
    assert.equal(receipt.text, SENDER_MISMATCH_TEXT);
    // a genuine message sent after it arrives; the forged one never does
    await a.sendText(bob.id, 'genuine after forged');
    await b.waitForMessage((m) => m.content.dict['text'] === 'genuine after forged', 2000, {
      since: bobMark,
    });
    await delay(50);
    assert.equal(sawSignature(b, forged.message.signatureText), false, 'the forged message was delivered');
    assert.ok(logs.withCode('SENDER_MISMATCH').length > 0);
  });

  it('a message with a bad signature from an unbound connection is dropped: acknowledged, logged SIGNATURE_INVALID, never delivered nor held', async () => {
    // alice's keys are known to the station; this connection never handshakes
    const unbound = await connectClient(station.port, 'mtp', alice, directory);
    clients.push(unbound);
    const bad = tampered(unbound, bob, 'tampered, unbound');
    const before = logs.withCode('SIGNATURE_INVALID').length;
    await (unbound.transport as MtpClientTransport).send(bad.text, { timeoutMs: 2000 }); // OK: dropped
    await logs.waitFor('SIGNATURE_INVALID', 2000, () => logs.withCode('SIGNATURE_INVALID').length > before);
    await delay(100);
    assert.equal(handshakeEvents(unbound).length, 0, 'not held: no DIM? force');
    assert.equal(sawSignature(b, bad.signature), false, 'delivered');
    assert.equal(receiptsFor(a, bad.signature) + receiptsFor(unbound, bad.signature), 0);
  });
});

function receiptsFor(client: DimClient, signature: string): number {
  return client.history.filter((e) => e.kind === 'receipt' && e.origin?.['signature'] === signature).length;
}

describe('DIM_VERIFY_ALL_MESSAGES', () => {
  const clients: DimClient[] = [];
  let station: TestStation | undefined;

  afterEach(async () => {
    await closeQuietly(clients.splice(0));
    await station?.close();
    station = undefined;
  });

  async function scenario(verifyAll: boolean): Promise<{
    logs: LogRecorder;
    sender: DimClient;
    receiver: DimClient;
    bad: { text: string; signature: string };
    backend: Backend;
  }> {
    const logs = new LogRecorder();
    const backend = createMemoryBackend();
    station = await startTestStation({
      backend,
      logger: logs.logger,
      env: { DIM_VERIFY_ALL_MESSAGES: String(verifyAll) },
    });
    const directory = new KeyDirectory();
    const senderUser = newUser('mkm-ecc', 'sender');
    const receiverUser = newUser('eth');
    const sender = await connectClient(station.port, 'mtp', senderUser, directory);
    const receiver = await connectClient(station.port, 'ws', receiverUser, directory);
    clients.push(sender, receiver);
    await Promise.all([sender.handshake(), receiver.handshake()]);
    assert.equal(await receiver.login(), 'Login received.');
    const bad = tampered(sender, receiverUser, 'tampered by the bound user');
    await (sender.transport as MtpClientTransport).send(bad.text, { timeoutMs: 2000 });
    return { logs, sender, receiver, bad, backend };
  }

  it('true: a tampered message from the bound user is re-verified and refused (SIGNATURE_INVALID receipt, not delivered, no delivery receipt)', async () => {
    const { logs, sender, receiver, bad } = await scenario(true);
    await logs.waitFor('SIGNATURE_INVALID');
    const refusal = await waitReceiptAbout(sender, bad.signature);
    assert.deepEqual(refusal.content.dict['error'], { code: 'SIGNATURE_INVALID' });
    const sent = await sender.sendText(receiver.id, 'genuine after tampered');
    assert.equal((await sender.waitReceipt(sent))?.text, 'Message delivered.');
    await receiver.waitForMessage((m) => m.content.dict['text'] === 'genuine after tampered', 2000, {
      since: 0,
    });
    await delay(50);
    assert.equal(sawSignature(receiver, bad.signature), false, 'the tampered message was delivered');
    assert.equal(receiptsFor(sender, bad.signature), 1, 'only the refusal');
  });

  it('false: a tampered message from the bound user is NOT re-verified by the station (relayed; the receiving client rejects it)', async () => {
    const { logs, sender, receiver, bad } = await scenario(false);
    const receipt = await waitReceiptAbout(sender, bad.signature);
    assert.equal(receipt.text, 'Message delivered.');
    const got = await receiver.waitFor((e) => e.kind === 'invalid' && e.body.includes(bad.signature), 2000, {
      since: 0,
    });
    assert.match(got.kind === 'invalid' ? got.error.message : '', /signature/i);
    assert.equal(logs.withCode('SIGNATURE_INVALID').length, 0);
  });
});

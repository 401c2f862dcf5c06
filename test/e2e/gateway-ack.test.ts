/**
 * Ack after persist end to end (issue 3): a client's Message frame gets its `OK` only once the gateway has
 * durably handed it to the bus. With the bus unavailable the client gets no `OK` (it resends), the
 * connection stays up, and the resend after recovery is accepted and delivered.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DimClient } from '../../src/client/dim-client.ts';
import type { MtpClientTransport } from '../../src/client/mtp-client-transport.ts';
import { createMemoryBackend } from '../../src/engine/memory-backend.ts';
import { ContentType } from '../../src/protocol/dkd/content-type.ts';
import { connectClient, startTestStation } from '../helpers/station-harness.ts';
import type { TestStation } from '../helpers/station-harness.ts';
import {
  closeQuietly,
  delay,
  KeyDirectory,
  LogRecorder,
  newUser,
  sessionsOf,
  waitReceiptAbout,
} from '../helpers/gateway-e2e.ts';

describe('gateway: OK only after the message is durably accepted', () => {
  const backend = createMemoryBackend();
  const bus = backend.bus;
  const realPublish = bus.publish.bind(bus);
  /** 'down': every publish rejects; a number: publishes are delayed by that many ms. */
  let outage: 'down' | number | undefined;
  bus.publish = async (stream, payload, orderKey) => {
    if (outage === 'down') throw new Error('bus unavailable (test outage)');
    if (typeof outage === 'number') await delay(outage);
    return realPublish(stream, payload, orderKey);
  };
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
    outage = undefined;
    await closeQuietly(clients);
    await station.close();
  });

  it('the OK waits for the bus publish (a slow bus delays the OK)', async () => {
    const transport = a.transport as MtpClientTransport;
    const packed = a.pack(bob.id, { type: ContentType.TEXT, text: 'slow bus' });
    outage = 200;
    try {
      const start = performance.now();
      await transport.send(packed.text, { timeoutMs: 2000 });
      assert.ok(performance.now() - start >= 180, 'OK came before the publish completed');
    } finally {
      outage = undefined;
    }
    await b.waitForMessage((m) => m.content.dict['text'] === 'slow bus', 2000, { since: 0 });
  });

  it('MTP: with the bus unavailable there is no OK (ACK_TIMEOUT), NOT_ACCEPTED is logged, the connection stays up; the resend after recovery is accepted and delivered once', async () => {
    const transport = a.transport as MtpClientTransport;
    const packed = a.pack(bob.id, { type: ContentType.TEXT, text: 'during the outage' });
    outage = 'down';
    try {
      await assert.rejects(transport.send(packed.text, { timeoutMs: 300 }), { code: 'ACK_TIMEOUT' });
      await logs.waitFor('NOT_ACCEPTED');
      assert.ok(!transport.closed, 'the connection stayed up');
      assert.ok((await transport.ping(1000)) >= 0);
      assert.equal((await sessionsOf(backend, alice)).length, 1, 'still bound');
    } finally {
      outage = undefined;
    }
    assert.ok(!b.history.some((e) => e.kind === 'message' && e.content.dict['text'] === 'during the outage'));
    await transport.send(packed.text, { timeoutMs: 2000 }); // the client resends the same message
    await b.waitForMessage((m) => m.content.dict['text'] === 'during the outage', 2000, { since: 0 });
    assert.equal((await waitReceiptAbout(a, packed.message.signatureText)).text, 'Message delivered.');
    await delay(50);
    const copies = b.history.filter(
      (e) => e.kind === 'message' && e.content.dict['text'] === 'during the outage',
    );
    assert.equal(copies.length, 1);
  });

  it('WebSocket: a message refused by an unavailable bus is not delivered, the connection stays up, and the resend is delivered', async () => {
    const packed = b.pack(alice.id, { type: ContentType.TEXT, text: 'ws during the outage' });
    const before = logs.withCode('NOT_ACCEPTED').length;
    outage = 'down';
    try {
      await b.transport.send(packed.text);
      await logs.waitFor('NOT_ACCEPTED', 2000, () => logs.withCode('NOT_ACCEPTED').length > before);
      assert.ok(!b.transport.closed);
      assert.ok((await b.transport.ping(1000)) >= 0);
    } finally {
      outage = undefined;
    }
    await delay(50);
    assert.ok(
      !a.history.some((e) => e.kind === 'message' && e.content.dict['text'] === 'ws during the outage'),
    );
    await b.transport.send(packed.text);
    await a.waitForMessage((m) => m.content.dict['text'] === 'ws during the outage', 2000, { since: 0 });
  });
});

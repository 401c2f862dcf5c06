/**
 * The embedded single-process station end to end: real sockets, real crypto, the DIM client library.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ContentType } from '../../src/protocol/dkd/content-type.ts';
import {
  connectClient,
  createUserIdentity,
  KeyDirectory,
  startTestStation,
} from '../helpers/station-harness.ts';
import type { TestStation } from '../helpers/station-harness.ts';
import type { DimClient } from '../../src/client/dim-client.ts';

const now = () => Date.now() / 1000;

describe('embedded station end to end', () => {
  let station: TestStation;
  const clients: DimClient[] = [];
  const directory = new KeyDirectory();

  before(async () => {
    station = await startTestStation();
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await station.close();
  });

  it('MTP (MKM/ECC user) and WebSocket (ETH user) clients handshake, log in and message each other', async () => {
    const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: now() });
    const bob = createUserIdentity({ kind: 'eth', now: now() });
    directory.add(alice);
    directory.add(bob);
    const a = await connectClient(station.port, 'mtp', alice, directory);
    const b = await connectClient(station.port, 'ws', bob, directory);
    clients.push(a, b);
    const ha = await a.handshake();
    assert.equal(ha.stationId.string, station.identity.id.string);
    await b.handshake();
    assert.equal(await a.login(), 'Login received.');
    assert.equal(await b.login(), 'Login received.');
    const mark = b.mark();
    const sent = await a.sendText(bob.id, 'hello bob');
    const got = await b.waitForMessage((m) => m.sender.isSameAs(alice.id), 5000, { since: mark });
    assert.equal(got.content.type, ContentType.TEXT);
    assert.equal(got.content.dict['text'], 'hello bob');
    assert.equal(got.verified, true);
    const traces = got.raw.dict['traces'] as Array<Record<string, unknown>>;
    assert.equal(traces.at(-1)?.['ID'], station.identity.id.string);
    const receipt = await a.waitReceipt(sent);
    assert.equal(receipt?.text, 'Message delivered.');
  });
});

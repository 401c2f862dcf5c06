/**
 * Per-connection order: messages a client sends reach the bus (and so the receiver) in the order they
 * were sent, even when checking one of them takes longer (here: an attached meta/visa whose storage is
 * slow) than the next.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryBackend } from '../../src/engine/memory-backend.ts';
import type { Backend } from '../../src/engine/backend.ts';
import type { DimClient } from '../../src/client/dim-client.ts';
import {
  connectClient,
  createUserIdentity,
  KeyDirectory,
  startTestStation,
} from '../helpers/station-harness.ts';
import type { TestStation } from '../helpers/station-harness.ts';

describe('gateway: per-connection order with uneven check times', () => {
  let station: TestStation;
  let backend: Backend;
  const clients: DimClient[] = [];
  let slowStores = false;

  before(async () => {
    backend = createMemoryBackend();
    const identities = backend.identities;
    const put = identities.putDocumentIfNewer.bind(identities);
    identities.putDocumentIfNewer = async (doc) => {
      if (slowStores) await new Promise((r) => setTimeout(r, 150));
      return put(doc);
    };
    station = await startTestStation({
      backend,
      env: { DIM_RATE_MESSAGES_PER_SECOND: '1000', DIM_RATE_BURST: '1000' },
    });
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await station.close();
  });

  it('a message whose attachments take 150 ms to store still precedes the next one', async () => {
    const now = Date.now() / 1000;
    const directory = new KeyDirectory();
    const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now });
    const bob = createUserIdentity({ kind: 'eth', now });
    directory.add(alice);
    directory.add(bob);
    const a = await connectClient(station.port, 'mtp', alice, directory);
    const b = await connectClient(station.port, 'mtp', bob, directory);
    clients.push(a, b);
    await a.handshake();
    await b.handshake();
    const mark = b.mark();
    slowStores = true;
    const first = a.sendText(bob.id, 'first (with meta and visa attached)', { attachIdentity: true });
    const second = a.sendText(bob.id, 'second');
    await Promise.all([first, second]);
    slowStores = false;
    const got: string[] = [];
    for (let i = 0; i < 2; i++) {
      const m = await b.waitForMessage(
        (e) => e.sender.isSameAs(alice.id) && !got.includes(String(e.content.dict['text'])),
        5000,
        { since: mark },
      );
      got.push(String(m.content.dict['text']));
    }
    assert.deepEqual(got, ['first (with meta and visa attached)', 'second']);
  });
});

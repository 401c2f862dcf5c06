import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createStationIdentity } from '../../../src/identity/station-identity.ts';
import { StationCommands } from '../../../src/dispatch/station-commands.ts';
import { EccPrivateKey } from '../../../src/protocol/crypto/ecc.ts';
import { RsaPrivateKey } from '../../../src/protocol/crypto/rsa.ts';
import { newCommand, newContent, parseContent } from '../../../src/protocol/dkd/content.ts';
import { ContentType } from '../../../src/protocol/dkd/content-type.ts';
import { packMessage } from '../../../src/protocol/dkd/message-packer.ts';
import type { ReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import { signDocument } from '../../../src/protocol/mkm/document.ts';
import { ANY_STATION, EVERYONE, ID } from '../../../src/protocol/mkm/identifier.ts';
import { createMeta, MetaType } from '../../../src/protocol/mkm/meta.ts';
import { IdentityDirectory } from '../../../src/storage/identity-directory.ts';
import { MemoryAccountStore } from '../../../src/storage/memory-account-store.ts';
import { MemoryIdentityStore } from '../../../src/storage/memory-identity-store.ts';

const NOW = 1_800_000_000;
const station = createStationIdentity({ name: 'gsp', rsaBits: 1024, now: NOW });

function makeUser(name: string) {
  const key = EccPrivateKey.generate();
  const meta = createMeta(MetaType.MKM, key, name);
  const id = new ID(name, meta.generateAddress(0));
  const visaKey = RsaPrivateKey.generate(1024);
  const visa = signDocument('visa', id, { name, key: visaKey.publicKey.dict }, key, NOW - 100);
  return { key, meta, id, visaKey, visa };
}

const alice = makeUser('alice');
const bob = makeUser('bob');

function fromAlice(content: Record<string, unknown>, receiver: ID = ANY_STATION): ReliableMessage {
  return packMessage({ sender: alice.id, receiver, content, time: NOW, signer: alice.key });
}

function texts(replies: { content: Record<string, unknown> }[]): unknown[] {
  return replies.map((r) => r.content['text'] ?? r.content['command']);
}

describe('StationCommands', () => {
  let directory: IdentityDirectory;
  let accounts: MemoryAccountStore;
  let commands: StationCommands;
  const run = (content: Record<string, unknown>, receiver?: ID) => {
    const message = fromAlice(content, receiver);
    return commands.process(message, parseContent(JSON.parse(message.data)), NOW);
  };

  before(async () => {
    directory = new IdentityDirectory(new MemoryIdentityStore());
    accounts = new MemoryAccountStore();
    commands = new StationCommands({
      stationId: station.id,
      directory,
      accounts,
      ans: { archivist: 'archivist@2PaF5csHmt8n1e2wdDimHHyj1HrdW3QZur9' },
    });
    await directory.acceptMeta(alice.id, alice.meta);
    await directory.acceptDocument(alice.visa, NOW);
  });

  it('meta: query answers the meta or "Meta not found."; save checks validity and the ID', async () => {
    const found = await run(newCommand('meta', NOW, { did: alice.id.string }));
    assert.equal(found.length, 1);
    assert.equal(found[0]!.content['command'], 'meta');
    assert.deepEqual((found[0]!.content['meta'] as Record<string, unknown>)['type'], 1);
    const missing = await run(newCommand('meta', NOW, { did: bob.id.string }));
    assert.deepEqual(texts(missing), ['Meta not found.']);
    assert.equal(missing[0]!.content['template'], 'Meta not found: ${did}.');
    assert.deepEqual(
      texts(await run(newCommand('meta', NOW, { did: bob.id.string, meta: bob.meta.toJSON() }))),
      ['Meta received.'],
    );
    assert.deepEqual(
      texts(await run(newCommand('meta', NOW, { did: bob.id.string, meta: alice.meta.toJSON() }))),
      ['Meta not accepted.'],
    );
    const broken = { ...bob.meta.toJSON(), fingerprint: alice.meta.toJSON()['fingerprint'] };
    assert.deepEqual(texts(await run(newCommand('meta', NOW, { did: bob.id.string, meta: broken }))), [
      'Meta not valid.',
    ]);
  });

  it('documents: save (legacy `document` form too), "not changed", ID mismatch, query with last_time and the login extra', async () => {
    const bobVisa = bob.visa.toJSON();
    assert.deepEqual(
      texts(await run(newCommand('documents', NOW, { did: bob.id.string, documents: [bobVisa] }))),
      ['Document received.'],
    );
    assert.deepEqual(
      texts(await run(newCommand('document', NOW, { did: bob.id.string, document: bobVisa }))),
      ['Document not changed.'],
    );
    assert.deepEqual(
      texts(await run(newCommand('documents', NOW, { did: alice.id.string, documents: [bobVisa] }))),
      ['Document ID not match.'],
    );
    assert.deepEqual(texts(await run(newCommand('documents', NOW, { did: bob.id.string, last_time: NOW }))), [
      'Document not updated.',
    ]);
    const unknown = makeUser('carol');
    assert.deepEqual(texts(await run(newCommand('documents', NOW, { did: unknown.id.string }))), [
      'Document not found.',
    ]);
    const answer = await run(newCommand('documents', NOW, { did: bob.id.string }));
    assert.deepEqual(texts(answer), ['documents']);
    assert.equal((answer[0]!.content['documents'] as unknown[]).length, 1);
    assert.ok(answer[0]!.content['meta'], 'meta travels with the documents');
    // after bob logs in, a query also returns his login message wrapped in a FORWARD
    const login = packMessage({
      sender: bob.id,
      receiver: EVERYONE,
      content: newCommand('login', NOW, {
        did: bob.id.string,
        station: { did: station.id.string, host: '127.0.0.1', port: 9394 },
      }),
      time: NOW,
      signer: bob.key,
    });
    await commands.process(login, parseContent(JSON.parse(login.data)), NOW);
    const withLogin = await run(newCommand('documents', NOW, { did: bob.id.string }));
    assert.equal(withLogin.length, 2);
    assert.equal(withLogin[1]!.content['type'], ContentType.FORWARD);
    assert.deepEqual((withLogin[1]!.content['secrets'] as unknown[])[0], login.dict);
  });

  it('ans, block and mute', async () => {
    const ans = await run(newCommand('ans', NOW, { names: 'archivist founder nobody' }));
    assert.deepEqual(ans[0]!.content['records'], {
      archivist: 'archivist@2PaF5csHmt8n1e2wdDimHHyj1HrdW3QZur9',
      founder: 'moky@anywhere',
    });
    assert.deepEqual(ans[0]!.content['missed'], ['nobody']);
    assert.deepEqual(texts(await run(newCommand('ans', NOW, {}))), ['ANS command error.']);
    const empty = await run(newCommand('block', NOW));
    assert.deepEqual(empty[0]!.content['list'], []);
    assert.deepEqual(texts(await run(newCommand('block', NOW, { list: [bob.id.string] }))), [
      'Block received.',
    ]);
    assert.deepEqual(texts(await run(newCommand('block', NOW, { list: [bob.id.string] }))), [
      'Block not changed.',
    ]);
    assert.deepEqual((await run(newCommand('block', NOW)))[0]!.content['list'], [bob.id.string]);
    assert.deepEqual(texts(await run(newCommand('mute', NOW, { list: [] }))), ['Mute received.']);
  });

  it('unknown commands and contents get "not support" receipts with templates; receipts and empty forwards are silent', async () => {
    const unknown = await run(newCommand('teleport', NOW));
    assert.deepEqual(texts(unknown), ['Command not support.']);
    assert.deepEqual(unknown[0]!.content['replacements'], { command: 'teleport' });
    const origin = unknown[0]!.content['origin'] as Record<string, unknown>;
    assert.equal(origin['sender'], alice.id.string);
    assert.equal(origin['data'], undefined, 'receipts never carry the data');
    assert.deepEqual(texts(await run(newContent(ContentType.TEXT, NOW, { text: 'all users' }))), [
      'Content not support.',
    ]);
    assert.deepEqual(await run(newCommand('receipt', NOW, { text: 'ok' })), []);
    assert.deepEqual(await run(newContent(ContentType.FORWARD, NOW, { secrets: [] })), []);
  });

  it('stations get no receipts from us', async () => {
    const other = createStationIdentity({ name: 'peer', rsaBits: 1024, now: NOW });
    const message = packMessage({
      sender: other.id,
      receiver: ANY_STATION,
      content: newCommand('teleport', NOW),
      time: NOW,
      signer: other.identityKey,
    });
    assert.deepEqual(await commands.process(message, parseContent(JSON.parse(message.data)), NOW), []);
  });
});

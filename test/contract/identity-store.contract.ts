/** Contract of every IdentityStore implementation (memory and Redis run the same assertions). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EccPrivateKey } from '../../src/protocol/crypto/ecc.ts';
import { signDocument } from '../../src/protocol/mkm/document.ts';
import type { Document, DocumentType } from '../../src/protocol/mkm/document.ts';
import { ID } from '../../src/protocol/mkm/identifier.ts';
import { createMeta, MetaType } from '../../src/protocol/mkm/meta.ts';
import type { IdentityStore } from '../../src/storage/identity-store.ts';

export interface IdentityStoreFactory {
  (): Promise<IdentityStore>;
}

const aliceKey = EccPrivateKey.generate();
const aliceMeta = createMeta(MetaType.MKM, aliceKey, 'alice');
const alice = new ID('alice', aliceMeta.generateAddress(0));
const otherMeta = createMeta(MetaType.MKM, EccPrivateKey.generate(), 'alice');
const bobMeta = createMeta(MetaType.MKM, EccPrivateKey.generate(), 'bob');
const bob = new ID('bob', bobMeta.generateAddress(0));

const doc = (time: number, terminal?: string, type: DocumentType = 'visa', name = `v${time}`): Document =>
  signDocument(type, terminal ? alice.withTerminal(terminal) : alice, { name }, aliceKey, time, terminal);

/** Documents as comparable plain values (an implementation may hand back parsed copies). */
const plain = (docs: readonly Document[]) =>
  docs
    .map((d) => ({ type: d.type, terminal: d.terminal, time: d.time, data: d.data, id: d.id.string }))
    .sort((a, b) => `${a.type}/${a.terminal ?? ''}`.localeCompare(`${b.type}/${b.terminal ?? ''}`));

export function identityStoreContract(name: string, factory: IdentityStoreFactory): void {
  describe(`IdentityStore contract: ${name}`, () => {
    it('stores a meta once under the naked ID and never replaces it', async () => {
      const store = await factory();
      try {
        assert.equal(await store.getMeta(alice), undefined);
        assert.equal(await store.putMetaIfAbsent(alice.withTerminal('phone'), aliceMeta), true);
        assert.equal(await store.putMetaIfAbsent(alice, otherMeta), false, 'metas never change');
        assert.equal(await store.putMetaIfAbsent(alice, aliceMeta), false);
        const stored = await store.getMeta(alice.withTerminal('tablet'));
        assert.ok(stored);
        assert.deepEqual(stored.dict, aliceMeta.dict);
        assert.equal(stored.key.equals(aliceMeta.key), true);
        assert.equal(stored.matches(alice), true);
        assert.equal(await store.getMeta(bob), undefined, 'entities are isolated');
      } finally {
        await store.close();
      }
    });

    it('keeps the newest document per (type, terminal) and refuses older or equal ones', async () => {
      const store = await factory();
      try {
        assert.deepEqual(await store.getDocuments(alice), []);
        assert.equal(await store.putDocumentIfNewer(doc(100)), true);
        assert.equal(await store.putDocumentIfNewer(doc(90)), false, 'older');
        assert.equal(
          await store.putDocumentIfNewer(doc(100, undefined, 'visa', 'same time')),
          false,
          'as new',
        );
        assert.equal(await store.putDocumentIfNewer(doc(100.5)), true, 'fractional seconds are newer');
        assert.equal(
          await store.putDocumentIfNewer(doc(50, 'phone')),
          true,
          'another terminal: its own slot',
        );
        assert.equal(await store.putDocumentIfNewer(doc(40, 'phone')), false);
        assert.equal(await store.putDocumentIfNewer(doc(60, undefined, 'profile')), true, 'another type');
        assert.deepEqual(plain(await store.getDocuments(alice.withTerminal('phone'))), [
          {
            type: 'profile',
            terminal: undefined,
            time: 60,
            data: doc(60, undefined, 'profile').data,
            id: alice.string,
          },
          { type: 'visa', terminal: undefined, time: 100.5, data: doc(100.5).data, id: alice.string },
          {
            type: 'visa',
            terminal: 'phone',
            time: 50,
            data: doc(50, 'phone').data,
            id: alice.withTerminal('phone').string,
          },
        ]);
        assert.equal(await store.putDocumentIfNewer(doc(200, 'phone')), true, 'newer replaces');
        const phone = (await store.getDocuments(alice)).find((d) => d.terminal === 'phone');
        assert.equal(phone?.time, 200);
        assert.equal(phone?.verify(aliceMeta.key), true, 'the signed data survives storage verbatim');
        assert.deepEqual(await store.getDocuments(bob), [], 'entities are isolated');
      } finally {
        await store.close();
      }
    });
  });
}

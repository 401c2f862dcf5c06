import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { identityStoreContract } from '../../contract/identity-store.contract.ts';
import { EccPrivateKey } from '../../../src/protocol/crypto/ecc.ts';
import { signDocument } from '../../../src/protocol/mkm/document.ts';
import { ID } from '../../../src/protocol/mkm/identifier.ts';
import { createMeta, MetaType } from '../../../src/protocol/mkm/meta.ts';
import { documentSlot } from '../../../src/storage/identity-store.ts';
import { RedisIdentityStore } from '../../../src/storage/redis-identity-store.ts';
import { captureLogger, useRedis } from './redis-fixture.ts';

const fx = useRedis();

identityStoreContract('redis', async () => new RedisIdentityStore(fx.redis, fx.freshKeys()));
identityStoreContract(
  'redis, no meta cache',
  async () => new RedisIdentityStore(fx.redis, fx.freshKeys(), { metaCacheSize: 0 }),
);

const key = EccPrivateKey.generate();
const meta = createMeta(MetaType.MKM, key, 'carol');
const carol = new ID('carol', meta.generateAddress(0));
const visa = (time: number, terminal?: string) =>
  signDocument('visa', carol, { name: `t${time}` }, key, time, terminal);

describe('RedisIdentityStore', () => {
  it('keeps metas and documents across connections', async () => {
    const keys = fx.freshKeys();
    const writer = new RedisIdentityStore(fx.client(), keys);
    await writer.putMetaIfAbsent(carol, meta);
    const written = visa(100, 'phone');
    await writer.putDocumentIfNewer(written);
    const reader = new RedisIdentityStore(fx.client(), keys);
    const stored = await reader.getMeta(carol);
    assert.notEqual(stored, meta, 'parsed from Redis');
    assert.deepEqual(stored?.dict, meta.dict);
    assert.equal(stored?.isValid(), true);
    const docs = await reader.getDocuments(carol);
    assert.equal(docs.length, 1);
    assert.deepEqual(docs[0]?.dict, written.dict, 'the stored document, byte for byte');
    assert.equal(docs[0]?.verify(meta.key), true);
    assert.equal(await reader.putDocumentIfNewer(visa(100, 'phone')), false, 'newer-only across clients');
  });

  it('answers metas from its cache without re-reading Redis', async () => {
    const keys = fx.freshKeys();
    const store = new RedisIdentityStore(fx.redis, keys, { metaCacheSize: 1 });
    await store.putMetaIfAbsent(carol, meta);
    const first = await store.getMeta(carol);
    await fx.redis.del(keys.meta(carol.string));
    assert.equal(await store.getMeta(carol), first, 'cached: metas never change');
    const other = createMeta(MetaType.MKM, EccPrivateKey.generate(), 'dave');
    const dave = new ID('dave', other.generateAddress(0));
    await store.putMetaIfAbsent(dave, other);
    assert.equal(await store.getMeta(carol), undefined, 'evicted (cache of one), then read from Redis');
    await store.close();
  });

  it('ignores corrupt stored values with a log, and lets a valid meta replace a corrupt one', async () => {
    const keys = fx.freshKeys();
    const { logger, lines } = captureLogger();
    const store = new RedisIdentityStore(fx.redis, keys, { logger });
    await store.putDocumentIfNewer(visa(100));
    await fx.redis.hset(keys.documents(carol.string), 'visa/phone', '{"not":"a document"}');
    await fx.redis.hset(keys.documents(carol.string), 'visa/tablet', 'not json at all');
    const docs = await store.getDocuments(carol);
    assert.deepEqual(
      docs.map((d) => documentSlot(d)),
      ['visa/'],
    );
    assert.equal(lines.filter((l) => l.code === 'DOCUMENT_CORRUPT').length, 2);
    assert.equal(await store.putDocumentIfNewer(visa(50, 'phone')), true, 'a slot without a time is free');

    await fx.redis.set(keys.meta(carol.string), '{"type":1}');
    assert.equal(await store.getMeta(carol), undefined);
    assert.ok(lines.some((l) => l.code === 'META_CORRUPT'));
    assert.equal(await store.putMetaIfAbsent(carol, meta), true, 'a corrupt meta is no meta');
    assert.deepEqual((await store.getMeta(carol))?.dict, meta.dict);
    const other = createMeta(MetaType.MKM, EccPrivateKey.generate(), 'carol');
    assert.equal(await store.putMetaIfAbsent(carol, other), false, 'a valid one is never replaced');
    const fresh = new RedisIdentityStore(fx.redis, keys);
    assert.deepEqual((await fresh.getMeta(carol))?.dict, meta.dict);
  });
});

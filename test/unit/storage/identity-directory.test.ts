import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EccPrivateKey } from '../../../src/protocol/crypto/ecc.ts';
import { RsaPrivateKey } from '../../../src/protocol/crypto/rsa.ts';
import { signDocument } from '../../../src/protocol/mkm/document.ts';
import { ID } from '../../../src/protocol/mkm/identifier.ts';
import { createMeta, MetaType } from '../../../src/protocol/mkm/meta.ts';
import { IdentityDirectory } from '../../../src/storage/identity-directory.ts';
import { MemoryIdentityStore } from '../../../src/storage/memory-identity-store.ts';

const identityKey = EccPrivateKey.generate();
const meta = createMeta(MetaType.MKM, identityKey, 'alice');
const alice = new ID('alice', meta.generateAddress(0));
const visaKeyA = RsaPrivateKey.generate(1024);
const visaKeyB = RsaPrivateKey.generate(1024);
const visa = (time: number, key = visaKeyA, terminal?: string) =>
  signDocument(
    'visa',
    terminal ? alice.withTerminal(terminal) : alice,
    { key: key.publicKey.dict },
    identityKey,
    time,
    terminal,
  );

describe('IdentityDirectory', () => {
  it('accepts a matching meta once and refuses mismatches', async () => {
    const dir = new IdentityDirectory(new MemoryIdentityStore());
    const otherMeta = createMeta(MetaType.MKM, EccPrivateKey.generate(), 'alice');
    assert.equal(await dir.acceptMeta(alice, otherMeta), 'mismatch');
    assert.equal(await dir.acceptMeta(alice, meta), 'saved');
    assert.equal(await dir.acceptMeta(alice, meta), 'exists');
    assert.equal(await dir.meta(alice.withTerminal('phone')), meta, 'stored under the naked ID');
  });

  it('applies the document rules: meta first, verifies, not in the future, newer only, per terminal', async () => {
    const dir = new IdentityDirectory(new MemoryIdentityStore());
    const now = 1_800_000_000;
    assert.equal(await dir.acceptDocument(visa(now), now), 'meta-not-found');
    await dir.acceptMeta(alice, meta);
    assert.equal(await dir.acceptDocument(visa(now + 3600), now), 'future');
    const forged = signDocument(
      'visa',
      alice,
      { key: visaKeyA.publicKey.dict },
      EccPrivateKey.generate(),
      now,
    );
    assert.equal(await dir.acceptDocument(forged, now), 'not-verified');
    assert.equal(await dir.acceptDocument(visa(now - 10), now), 'saved');
    assert.equal(await dir.acceptDocument(visa(now - 20), now), 'not-changed');
    assert.equal(await dir.acceptDocument(visa(now - 5, visaKeyB, 'tablet'), now), 'saved');
    assert.equal((await dir.visas(alice)).length, 2, 'one visa per terminal');
    const bob = new ID('bob', meta.generateAddress(0));
    assert.equal(await dir.acceptDocument(visa(now), now, bob), 'id-mismatch');
  });

  it('derives verify keys (visa keys then meta key) and encrypt keys (bare ID + one per terminal)', async () => {
    const dir = new IdentityDirectory(new MemoryIdentityStore());
    const now = 1_800_000_000;
    assert.deepEqual(await dir.verifyKeys(alice), []);
    assert.deepEqual(await dir.encryptKeys(alice), [], 'ECC meta key cannot encrypt');
    await dir.acceptMeta(alice, meta);
    await dir.acceptDocument(visa(now - 10, visaKeyA, 'phone'), now);
    await dir.acceptDocument(visa(now - 5, visaKeyB, 'tablet'), now);
    const verify = await dir.verifyKeys(alice);
    assert.equal(verify.length, 3);
    assert.equal(verify[2], meta.key);
    const encrypt = await dir.encryptKeys(alice);
    assert.deepEqual(
      encrypt.map((k) => k.terminal),
      [undefined, 'tablet', 'phone'],
    );
    assert.equal(encrypt[0]!.key.equals(visaKeyB.publicKey), true, 'bare-ID entry uses the newest visa');
  });
});

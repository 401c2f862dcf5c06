/**
 * Simulated user identities: the three kinds real clients create (MKM meta over ECC + RSA visa, ETH meta +
 * RSA visa, MKM meta over RSA with the same key in the visa), their IDs, metas and visas, message round
 * trips with their keys, and the cached JSON form (round trip, tampering rejected). Also the key directory.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isClientError } from '../../../src/client/client-error.ts';
import { KeyDirectory } from '../../../src/client/key-directory.ts';
import {
  createUserIdentity,
  USER_IDENTITY_KINDS,
  userIdentityFromJSON,
  userIdentityToJSON,
} from '../../../src/client/user-identity.ts';
import type { UserIdentity } from '../../../src/client/user-identity.ts';
import { RsaPublicKey } from '../../../src/protocol/crypto/rsa.ts';
import { utf8Encode } from '../../../src/protocol/crypto/encoding.ts';
import { openMessage, packMessage, verifyMessage } from '../../../src/protocol/dkd/message-packer.ts';
import { parseReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import { isValidEip55 } from '../../../src/protocol/mkm/address.ts';
import { MetaType, parseMeta } from '../../../src/protocol/mkm/meta.ts';
import { parseDocument } from '../../../src/protocol/mkm/document.ts';
import { parseId } from '../../../src/protocol/mkm/identifier.ts';

const NOW = 1795324927.25;

function roundTripMessage(from: UserIdentity, to: UserIdentity): void {
  const directory = new KeyDirectory();
  directory.add(to);
  const packed = packMessage({
    sender: from.id,
    receiver: to.id,
    content: { type: 1, sn: 7, time: NOW, text: 'hello' },
    time: NOW,
    signer: from.signKey,
    receiverKeys: directory.encryptKeys(to.id),
  });
  const received = parseReliableMessage(JSON.stringify(packed.dict));
  directory.add(from);
  assert.ok(verifyMessage(received, directory.verifyKeys(from.id)));
  const opened = openMessage(received, { privateKeys: to.decryptKeys });
  assert.equal(opened.content.dict['text'], 'hello');
}

describe('createUserIdentity', () => {
  const identities = new Map(
    USER_IDENTITY_KINDS.map((kind) => [
      kind,
      createUserIdentity({ kind, name: 'bob', terminal: 'DeviceA', now: NOW }),
    ]),
  );

  for (const [kind, identity] of identities) {
    it(`${kind}: the meta generates the ID and the visa verifies with the meta key`, () => {
      assert.equal(identity.kind, kind);
      assert.ok(identity.meta.isValid());
      assert.ok(identity.meta.matches(identity.id));
      assert.ok(identity.id.isUser);
      assert.equal(identity.id.terminal, undefined);
      assert.ok(identity.visa.verify(identity.meta.key));
      assert.ok(identity.visa.id.equals(identity.id));
      assert.equal(identity.visa.type, 'visa');
      assert.equal(identity.visa.terminal, 'DeviceA');
      assert.equal(identity.terminal, 'DeviceA');
      assert.equal(identity.visa.time, NOW);
      assert.equal(identity.visa.properties['name'], 'bob');
      assert.ok(identity.signKey.publicKey.equals(identity.meta.key));
      const visaKey = identity.visa.visaKey;
      assert.ok(visaKey instanceof RsaPublicKey);
      assert.equal(visaKey.keyObject.asymmetricKeyDetails?.modulusLength, 1024);
      assert.ok(identity.decryptKeys.some((k) => k.publicKey.equals(visaKey)));
      // wire forms parse back
      assert.ok(parseMeta(identity.meta.toJSON()).matches(identity.id));
      assert.ok(parseDocument(identity.visa.toJSON()).verify(identity.meta.key));
      const signature = identity.signKey.sign(utf8Encode('x'));
      assert.ok(identity.meta.key.verify(utf8Encode('x'), signature));
    });
  }

  it('mkm-ecc: MKM meta over a secp256k1 key, ID name@address on network 0x00', () => {
    const identity = identities.get('mkm-ecc') as UserIdentity;
    assert.equal(identity.meta.type, MetaType.MKM);
    assert.equal(identity.meta.key.algorithm, 'ECC');
    assert.equal(identity.meta.seed, 'bob');
    assert.equal(identity.id.name, 'bob');
    assert.equal(identity.id.address.kind, 'btc');
    assert.equal(identity.id.address.network, 0);
    assert.match(identity.id.string, /^bob@1[1-9A-HJ-NP-Za-km-z]+$/);
  });

  it('eth: ETH meta, the ID is a bare EIP-55 address', () => {
    const identity = identities.get('eth') as UserIdentity;
    assert.equal(identity.meta.type, MetaType.ETH);
    assert.equal(identity.meta.seed, undefined);
    assert.equal(identity.id.name, undefined);
    assert.ok(isValidEip55(identity.id.string));
    assert.equal(identity.visa.properties['name'], 'bob');
  });

  it('mkm-rsa: MKM meta over an RSA key, the same key in the visa', () => {
    const identity = identities.get('mkm-rsa') as UserIdentity;
    assert.equal(identity.meta.type, MetaType.MKM);
    assert.equal(identity.meta.key.algorithm, 'RSA');
    assert.ok(identity.meta.key.canEncrypt);
    assert.ok(identity.visa.visaKey?.equals(identity.meta.key));
    assert.equal(identity.decryptKeys[0], identity.signKey);
  });

  it('messages round-trip between every pair of kinds', () => {
    for (const from of identities.values()) for (const to of identities.values()) roundTripMessage(from, to);
  });

  it('defaults: name `user`, no terminal', () => {
    const identity = createUserIdentity({ kind: 'mkm-ecc', now: NOW });
    assert.equal(identity.id.name, 'user');
    assert.equal(identity.terminal, undefined);
    assert.equal(identity.visa.dict['terminal'], undefined);
  });
});

describe('userIdentityToJSON / userIdentityFromJSON', () => {
  for (const kind of USER_IDENTITY_KINDS) {
    it(`${kind}: round trip through JSON text keeps the ID, keys and visa`, () => {
      const original = createUserIdentity({ kind, name: 'carol', terminal: 'T1', now: NOW });
      const json = JSON.parse(JSON.stringify(userIdentityToJSON(original))) as Record<string, unknown>;
      assert.equal(json['format'], 'dim-user-identity/1');
      assert.equal(json['kind'], kind);
      const loaded = userIdentityFromJSON(json);
      assert.equal(loaded.kind, kind);
      assert.ok(loaded.id.equals(original.id));
      assert.ok(loaded.meta.key.equals(original.meta.key));
      assert.equal(loaded.visa.data, original.visa.data);
      assert.equal(loaded.terminal, 'T1');
      assert.ok(loaded.signKey.publicKey.equals(original.signKey.publicKey));
      assert.equal(loaded.decryptKeys.length, original.decryptKeys.length);
      // the loaded keys work against the original identity both ways
      roundTripMessage(loaded, original);
      roundTripMessage(original, loaded);
      // without `kind` it is inferred
      delete json['kind'];
      assert.equal(userIdentityFromJSON(json).kind, kind);
    });
  }

  it('rejects a visa, meta or key of another identity with BAD_IDENTITY', () => {
    const a = userIdentityToJSON(createUserIdentity({ kind: 'mkm-ecc', name: 'a', now: NOW }));
    const b = userIdentityToJSON(createUserIdentity({ kind: 'mkm-ecc', name: 'a', now: NOW }));
    for (const field of ['meta', 'visa', 'sign_key', 'decrypt_keys']) {
      const mixed = { ...a, [field]: b[field] };
      assert.throws(
        () => userIdentityFromJSON(mixed),
        (err) => isClientError(err, 'BAD_IDENTITY'),
        field,
      );
    }
    assert.throws(
      () => userIdentityFromJSON(null),
      (err) => isClientError(err, 'BAD_IDENTITY'),
    );
    assert.throws(
      () => userIdentityFromJSON({ ...a, id: 'nonsense' }),
      (err) => isClientError(err, 'BAD_IDENTITY'),
    );
  });
});

describe('KeyDirectory', () => {
  it('stores checked contacts and picks visa keys (per terminal) for encryption, meta+visa keys for verification', () => {
    const bob = createUserIdentity({ kind: 'mkm-ecc', name: 'bob', now: NOW });
    const directory = new KeyDirectory();
    assert.deepEqual(directory.encryptKeys(bob.id), []);
    directory.add({ id: bob.id.string, meta: bob.meta.toJSON(), visa: bob.visa.toJSON() });
    assert.ok(directory.has(bob.id));
    const encrypt = directory.encryptKeys(bob.id);
    assert.equal(encrypt.length, 1);
    assert.ok(encrypt[0]?.key.equals(bob.visa.visaKey as RsaPublicKey));
    const verify = directory.verifyKeys(bob.id);
    assert.equal(verify.length, 2);
    assert.ok(verify.some((k) => k.equals(bob.meta.key)));
    // a second device's visa adds a terminal key
    const phone = createUserIdentity({ kind: 'mkm-ecc', name: 'bob', now: NOW });
    assert.ok(!directory.addVisa(phone.visa), 'a visa of another identity does not verify');
    // mismatching meta
    assert.throws(
      () => directory.add({ id: bob.id, meta: phone.meta }),
      (err) => isClientError(err, 'BAD_IDENTITY'),
    );
    const rsa = createUserIdentity({ kind: 'mkm-rsa', name: 'r', now: NOW });
    directory.add({ id: rsa.id, meta: rsa.meta });
    assert.ok(
      directory.encryptKeys(rsa.id)[0]?.key.equals(rsa.meta.key),
      'RSA meta key encrypts without a visa',
    );
    const ecc = createUserIdentity({ kind: 'eth', now: NOW });
    directory.add({ id: parseId(ecc.id.string), meta: ecc.meta });
    assert.deepEqual(directory.encryptKeys(ecc.id), [], 'an ECC meta key cannot encrypt');
  });
});

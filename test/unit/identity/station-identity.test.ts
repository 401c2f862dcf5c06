import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createStationIdentity,
  identityFromKeyFile,
  identityToKeyFile,
} from '../../../src/identity/station-identity.ts';
import { isProtocolError } from '../../../src/protocol/protocol-error.ts';
import { utf8Encode } from '../../../src/protocol/crypto/encoding.ts';

const identity = createStationIdentity({
  name: 'gsp-test',
  host: '127.0.0.1',
  port: 9394,
  rsaBits: 1024,
  now: 1_800_000_000,
});

test('a new station identity is a STATION whose meta generates its ID and whose visa verifies', () => {
  assert.equal(identity.id.name, 'gsp-test');
  assert.equal(identity.id.isStation, true);
  assert.equal(identity.id.isBroadcast, false);
  assert.equal(identity.meta.isValid(), true);
  assert.equal(identity.meta.matches(identity.id), true);
  assert.equal(identity.visa.verify(identity.meta.key), true);
  assert.equal(identity.visa.visaKey?.algorithm, 'RSA');
  assert.equal(identity.visa.properties['host'], '127.0.0.1');
  assert.equal(identity.visa.properties['port'], 9394);
});

test('the visa key decrypts what clients encrypt to it, the identity key signs', () => {
  const secret = utf8Encode('{"algorithm":"AES","data":"AAAA"}');
  const cipher = identity.visa.visaKey!.encrypt(secret);
  assert.deepEqual(identity.decryptKeys[0]!.decrypt(cipher), secret);
  const sig = identity.identityKey.sign(utf8Encode('hello'));
  assert.equal(identity.meta.key.verify(utf8Encode('hello'), sig), true);
});

test('the key file round-trips through JSON', () => {
  const file = JSON.parse(JSON.stringify(identityToKeyFile(identity)));
  const loaded = identityFromKeyFile(file);
  assert.equal(loaded.id.string, identity.id.string);
  assert.equal(loaded.identityKey.publicKey.equals(identity.meta.key), true);
  assert.equal(loaded.decryptKeys[0]!.publicKey.equals(identity.visa.visaKey!), true);
});

test('a tampered key file is refused with a coded error', () => {
  const base = (): Record<string, unknown> => JSON.parse(JSON.stringify(identityToKeyFile(identity)));
  const otherId = base();
  otherId['id'] = 'gsp-other@' + identity.id.address.text;
  assert.throws(
    () => identityFromKeyFile(otherId),
    (e) => isProtocolError(e, 'META_MISMATCH'),
  );
  const other = createStationIdentity({ name: 'gsp-test', rsaBits: 1024, now: 1_800_000_000 });
  const swappedKey = base();
  swappedKey['identity_key'] = other.identityKey.toDict();
  assert.throws(
    () => identityFromKeyFile(swappedKey),
    (e) => isProtocolError(e, 'BAD_KEY'),
  );
  const swappedVisaKey = base();
  swappedVisaKey['decrypt_keys'] = other.decryptKeys.map((k) => k.toDict());
  assert.throws(
    () => identityFromKeyFile(swappedVisaKey),
    (e) => isProtocolError(e, 'BAD_KEY'),
  );
  const forgedVisa = base();
  forgedVisa['visa'] = other.visa.toJSON();
  assert.throws(
    () => identityFromKeyFile(forgedVisa),
    (e) => isProtocolError(e, 'BAD_DOCUMENT'),
  );
});

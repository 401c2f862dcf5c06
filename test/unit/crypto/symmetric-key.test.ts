/**
 * Symmetric message keys: AES-CBC/PKCS#7 round trips, the IV rules of dimp-protocol.md §3.4, decryption of
 * the V4 / V5 / V12b.personal / V13.42 / V13.53 message contents (vectors/messages.json), PLAIN, and the
 * validation of decrypted key bytes (implicit rejection makes that validation the only wrong-key check).
 */
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { cbc } from '@noble/ciphers/aes.js';
import {
  base64Decode,
  base64Encode,
  hexEncode,
  utf8Decode,
  utf8Encode,
} from '../../../src/protocol/crypto/encoding.ts';
import { parsePrivateKey } from '../../../src/protocol/crypto/keys.ts';
import {
  AesKey,
  PLAIN_KEY,
  PlainKey,
  serializeSymmetricKey,
  symmetricKeyFromBytes,
  symmetricKeyFromDict,
} from '../../../src/protocol/crypto/symmetric-key.ts';
import type { SymmetricKey } from '../../../src/protocol/crypto/symmetric-key.ts';
import { isProtocolError } from '../../../src/protocol/protocol-error.ts';
import type { ProtocolErrorCode } from '../../../src/protocol/protocol-error.ts';
import { vectorById } from '../../helpers/vectors.ts';

const MESSAGES = 'messages.json';
const KEYS = 'keys-and-signatures.json';

function throwsCode(fn: () => unknown, code: ProtocolErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isProtocolError(err), `expected a ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

function messageVector(id: string): { message: Record<string, unknown>; expected: Record<string, unknown> } {
  const v = vectorById(MESSAGES, id);
  const message = v.input?.['message'];
  assert.ok(message !== null && typeof message === 'object', `${id} has a message`);
  assert.ok(v.expected);
  return { message: message as Record<string, unknown>, expected: v.expected };
}

function field(record: Record<string, unknown>, name: string): string {
  const value = record[name];
  assert.equal(typeof value, 'string', `${name} is a string`);
  return value as string;
}

/** AES-CBC encryption through node:crypto with a chosen IV (PKCS#7 unless `pad` is false). */
function aesCbc(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array, pad = true): Uint8Array {
  const cipher = createCipheriv(`aes-${key.length * 8}-cbc`, key, iv);
  cipher.setAutoPadding(pad);
  return new Uint8Array(Buffer.concat([cipher.update(plaintext), cipher.final()]));
}

const text = (bytes: Uint8Array): string => utf8Decode(bytes);

describe('AES round trips', () => {
  it('encrypt returns a fresh random 16-byte IV; decrypt with it restores the plaintext', () => {
    const key = AesKey.generate();
    assert.equal(key.algorithm, 'AES');
    assert.equal(key.cipherName, 'aes-256-cbc');
    for (const size of [0, 1, 15, 16, 17, 1024, 4099]) {
      const plaintext = randomBytes(size);
      const { ciphertext, iv } = key.encrypt(plaintext);
      assert.equal(iv.length, 16);
      assert.equal(ciphertext.length, (Math.floor(size / 16) + 1) * 16);
      assert.deepEqual(key.decrypt(ciphertext, iv), new Uint8Array(plaintext));
    }
    const a = key.encrypt(utf8Encode('same'));
    const b = key.encrypt(utf8Encode('same'));
    assert.notDeepEqual(a.iv, b.iv);
    assert.notDeepEqual(a.ciphertext, b.ciphertext);
  });

  it('a key rebuilt from its dict (and from its serialized bytes) decrypts the same', () => {
    const key = AesKey.generate();
    const { ciphertext, iv } = key.encrypt(utf8Encode('Hey guy!'));
    assert.equal(text(symmetricKeyFromDict(key.dict).decrypt(ciphertext, iv)), 'Hey guy!');
    assert.equal(text(symmetricKeyFromBytes(serializeSymmetricKey(key)).decrypt(ciphertext, iv)), 'Hey guy!');
  });

  it('interoperates with @noble/ciphers cbc (PKCS#7)', () => {
    const raw = new Uint8Array(randomBytes(32));
    const iv = new Uint8Array(randomBytes(16));
    const key = symmetricKeyFromDict({ algorithm: 'AES', data: base64Encode(raw) });
    const plaintext = new Uint8Array(randomBytes(100));
    assert.deepEqual(key.decrypt(cbc(raw, iv).encrypt(plaintext), iv), plaintext);
    const produced = key.encrypt(plaintext);
    assert.ok(produced.iv);
    assert.deepEqual(cbc(raw, produced.iv).decrypt(produced.ciphertext), plaintext);
  });

  it('AES-128 and AES-192 keys work; other sizes are BAD_SYMMETRIC_KEY', () => {
    for (const size of [16, 24]) {
      const raw = new Uint8Array(randomBytes(size));
      const key = new AesKey(raw);
      assert.equal(key.cipherName, `aes-${size * 8}-cbc`);
      const { ciphertext, iv } = key.encrypt(utf8Encode('x'));
      assert.equal(text(key.decrypt(ciphertext, iv)), 'x');
    }
    for (const size of [0, 8, 31, 33, 64]) {
      throwsCode(() => new AesKey(new Uint8Array(size)), 'BAD_SYMMETRIC_KEY');
      throwsCode(
        () => symmetricKeyFromDict({ algorithm: 'AES', data: base64Encode(new Uint8Array(size)) }),
        'BAD_SYMMETRIC_KEY',
      );
    }
  });

  it('digest() is base64 of the first 6 bytes of MD5(key data)', () => {
    const key = new AesKey(new Uint8Array(32));
    // MD5 of 32 zero bytes = 70bc8f4b72a86921468bf8e8441dce51
    assert.equal(key.digest(), base64Encode(Uint8Array.of(0x70, 0xbc, 0x8f, 0x4b, 0x72, 0xa8)));
    assert.equal(key.digest().length, 8);
  });
});

describe('IV rules', () => {
  const raw = new Uint8Array(32).map((_, i) => i + 1);
  const data = base64Encode(raw);
  const iv = new Uint8Array(16).map((_, i) => 0xa0 + i);
  const otherIv = new Uint8Array(16).fill(7);
  const zeroIv = new Uint8Array(16);
  const plaintext = utf8Encode('{"type":1,"sn":1,"text":"IV rules"}');

  it('explicit (message-level) IV', () => {
    const ciphertext = aesCbc(raw, iv, plaintext);
    const key = symmetricKeyFromDict({ algorithm: 'AES', data });
    assert.deepEqual(key.decrypt(ciphertext, iv), plaintext);
    // with the wrong IV only the first block differs (CBC), the padding stays valid
    const wrong = key.decrypt(ciphertext, otherIv);
    assert.notDeepEqual(wrong, plaintext);
    assert.deepEqual(wrong.subarray(16), plaintext.subarray(16));
  });

  it('legacy iv / IV inside the key dict', () => {
    const ciphertext = aesCbc(raw, iv, plaintext);
    for (const name of ['iv', 'IV']) {
      const key = symmetricKeyFromDict({ algorithm: 'AES', data, [name]: base64Encode(iv) });
      assert.deepEqual(key.decrypt(ciphertext), plaintext, name);
      // the message-level IV wins over the key's legacy IV
      const viaMessage = aesCbc(raw, otherIv, plaintext);
      assert.deepEqual(key.decrypt(viaMessage, otherIv), plaintext, name);
    }
    throwsCode(
      () => symmetricKeyFromDict({ algorithm: 'AES', data, iv: '*not base64*' }),
      'BAD_SYMMETRIC_KEY',
    );
  });

  it('16 zero bytes when neither the message nor the key has an IV', () => {
    const ciphertext = aesCbc(raw, zeroIv, plaintext);
    const key = symmetricKeyFromDict({ algorithm: 'AES', data });
    assert.deepEqual(key.decrypt(ciphertext), plaintext);
    assert.deepEqual(key.decrypt(ciphertext, undefined), plaintext);
    // an empty legacy IV string counts as absent
    assert.deepEqual(symmetricKeyFromDict({ algorithm: 'AES', data, iv: '' }).decrypt(ciphertext), plaintext);
  });

  it('an IV that is not 16 bytes -> DECRYPT_FAILED', () => {
    const key = symmetricKeyFromDict({ algorithm: 'AES', data });
    const ciphertext = aesCbc(raw, iv, plaintext);
    for (const size of [0, 8, 15, 17, 32]) {
      throwsCode(() => key.decrypt(ciphertext, new Uint8Array(size)), 'DECRYPT_FAILED');
    }
    const legacy = symmetricKeyFromDict({ algorithm: 'AES', data, iv: base64Encode(new Uint8Array(8)) });
    throwsCode(() => legacy.decrypt(ciphertext), 'DECRYPT_FAILED');
  });
});

describe('message content decryption (vectors)', () => {
  const hulk = parsePrivateKey(vectorById(KEYS, 'V3.hulk').input?.['private_key']);

  it('V4: escaped-slash key JSON text, zero IV', () => {
    const { message, expected } = messageVector('V4');
    const keyText = field(expected, 'decrypted_key_json_text');
    assert.ok(keyText.includes('\\/'), 'the key text has an escaped slash');
    assert.equal(message['IV'], undefined);
    const key = symmetricKeyFromBytes(utf8Encode(keyText));
    assert.equal(key.algorithm, 'AES');
    assert.equal(text(key.decrypt(base64Decode(field(message, 'data')))), expected['plaintext']);
  });

  it('V4: the full receiver pipeline (RSA-decrypt the key with hulk, then AES)', () => {
    const { message, expected } = messageVector('V4');
    const keyBytes = hulk.decrypt(base64Decode(field(message, 'key')));
    assert.equal(text(keyBytes), expected['decrypted_key_json_text']);
    const key = symmetricKeyFromBytes(keyBytes);
    assert.equal(text(key.decrypt(base64Decode(field(message, 'data')))), expected['plaintext']);
  });

  it('V5: legacy passphrase key (zero-padded to keySize), zero IV', () => {
    const { message, expected } = messageVector('V5');
    const keyText = field(expected, 'decrypted_key_json_text');
    assert.equal(keyText, '{"algorithm":"AES","keySize":32,"passphrase":"12345678"}');
    assert.equal(text(hulk.decrypt(base64Decode(field(message, 'key')))), keyText);
    const key = symmetricKeyFromBytes(utf8Encode(keyText));
    assert.equal(text(key.decrypt(base64Decode(field(message, 'data')))), expected['plaintext']);
    // the same key spelled out as 32 bytes
    const raw = new Uint8Array(32);
    raw.set(utf8Encode('12345678'));
    const explicit = symmetricKeyFromDict({ algorithm: 'AES', data: base64Encode(raw) });
    assert.equal(text(explicit.decrypt(base64Decode(field(message, 'data')))), expected['plaintext']);
  });

  it('V5: a serialized legacy key still carries its key material', () => {
    const { message, expected } = messageVector('V5');
    const key = symmetricKeyFromBytes(utf8Encode(field(expected, 'decrypted_key_json_text')));
    const serialized = serializeSymmetricKey(key);
    const again = symmetricKeyFromBytes(serialized);
    assert.equal(text(again.decrypt(base64Decode(field(message, 'data')))), expected['plaintext']);
    assert.deepEqual(Object.keys(JSON.parse(text(serialized)) as object), ['algorithm', 'data']);
  });

  it('V12b.personal: keys[hulk] entry and top-level IV', () => {
    const { message, expected } = messageVector('V12b.personal');
    const keys = message['keys'] as Record<string, string>;
    const encrypted = keys['hulk@4YeVEN3aUnvC1DNUufCq1bs9zoBSJTzVEj'];
    assert.ok(encrypted);
    const keyBytes = hulk.decrypt(base64Decode(encrypted));
    assert.equal(text(keyBytes), expected['decrypted_key_json_text']);
    const iv = base64Decode(field(message, 'IV'));
    assert.equal(hexEncode(iv), expected['iv_hex']);
    const key = symmetricKeyFromBytes(keyBytes);
    assert.equal(text(key.decrypt(base64Decode(field(message, 'data')), iv)), expected['plaintext']);
    // with the zero IV instead only the first block comes out wrong
    assert.notEqual(
      Buffer.from(key.decrypt(base64Decode(field(message, 'data')))).toString('latin1'),
      expected['plaintext'],
    );
  });

  it('V13.42 / V13.53: Python-spaced key JSON, top-level IV', () => {
    const { message, expected } = messageVector('V13.42');
    const key = symmetricKeyFromBytes(utf8Encode(field(expected, 'decrypted_key_json_text')));
    const iv = base64Decode(field(message, 'IV'));
    assert.equal(text(key.decrypt(base64Decode(field(message, 'data')), iv)), expected['plaintext']);
    const v53 = messageVector('V13.53');
    const iv53 = base64Decode(field(v53.message, 'IV'));
    assert.equal(
      text(key.decrypt(base64Decode(field(v53.message, 'data')), iv53)),
      v53.expected['plaintext'],
    );
  });
});

describe('bad ciphertexts -> DECRYPT_FAILED', () => {
  const raw = new Uint8Array(randomBytes(32));
  const key = new AesKey(raw);
  const iv = new Uint8Array(16);

  it('partial blocks and empty input', () => {
    const { ciphertext, iv: ivOut } = key.encrypt(utf8Encode('hello world, hello world'));
    for (const bad of [
      new Uint8Array(0),
      ciphertext.subarray(0, 15),
      ciphertext.subarray(0, 17),
      ciphertext.subarray(1),
    ]) {
      throwsCode(() => key.decrypt(bad, ivOut), 'DECRYPT_FAILED');
    }
  });

  it('bad PKCS#7 padding', () => {
    // last byte 0x00, 0x11 (> 16), inconsistent padding bytes
    const blocks = [
      new Uint8Array(16),
      new Uint8Array(16).fill(0x11),
      Uint8Array.from([...new Uint8Array(13), 0x01, 0x02, 0x03]),
      Uint8Array.from([...new Uint8Array(28), 0x05, 0x04, 0x04, 0x04]),
    ];
    for (const block of blocks) {
      throwsCode(() => key.decrypt(aesCbc(raw, iv, block, false), iv), 'DECRYPT_FAILED');
    }
  });

  it('a wrong key almost always fails the padding check', () => {
    const { ciphertext, iv: ivOut } = key.encrypt(utf8Encode('{"text":"secret"}'));
    let failures = 0;
    for (let i = 0; i < 20; i++) {
      try {
        AesKey.generate().decrypt(ciphertext, ivOut);
      } catch (err) {
        assert.ok(isProtocolError(err, 'DECRYPT_FAILED'));
        failures++;
      }
    }
    assert.ok(failures >= 15, `${failures}/20 wrong-key decryptions failed`);
  });
});

describe('PLAIN', () => {
  it('is the identity', () => {
    const data = utf8Encode('{"type":136,"command":"handshake"}');
    const { ciphertext, iv } = PLAIN_KEY.encrypt(data);
    assert.deepEqual(ciphertext, data);
    assert.equal(iv, undefined);
    assert.deepEqual(PLAIN_KEY.decrypt(data), data);
    assert.deepEqual(new PlainKey().decrypt(data), data);
    assert.equal(PLAIN_KEY.algorithm, 'PLAIN');
    assert.deepEqual(PLAIN_KEY.dict, { algorithm: 'PLAIN' });
  });

  it('parses from a dict or bytes, with or without data', () => {
    assert.equal(symmetricKeyFromDict({ algorithm: 'PLAIN' }), PLAIN_KEY);
    assert.equal(symmetricKeyFromDict({ algorithm: 'PLAIN', data: '' }), PLAIN_KEY);
    assert.equal(symmetricKeyFromBytes(utf8Encode('{"algorithm":"PLAIN"}')), PLAIN_KEY);
    assert.equal(text(serializeSymmetricKey(PLAIN_KEY)), '{"algorithm":"PLAIN"}');
  });
});

describe('serializeSymmetricKey', () => {
  it('only algorithm + data, at most 117 bytes (RSA-1024 PKCS#1 v1.5 limit)', () => {
    const keys: SymmetricKey[] = [
      AesKey.generate(),
      symmetricKeyFromDict({
        algorithm: 'AES',
        data: base64Encode(randomBytes(32)),
        keySize: 32,
        sizeInBits: 256,
        blockSize: 16,
        mode: 'CBC',
        padding: 'PKCS7',
        digest: 'abcdefgh',
        reused: true,
        iv: base64Encode(randomBytes(16)),
      }),
      symmetricKeyFromBytes(
        utf8Encode('{"algorithm": "AES", "data": "Vp+ZD1CVmAs4q9XioAgdZM8rLzomN8mRF4I5LH5eV5s="}'),
      ),
      symmetricKeyFromBytes(utf8Encode('{"algorithm":"AES","keySize":32,"passphrase":"12345678"}')),
    ];
    for (const key of keys) {
      const bytes = serializeSymmetricKey(key);
      assert.ok(bytes.length <= 117, `${bytes.length} bytes`);
      const parsed = JSON.parse(text(bytes)) as Record<string, unknown>;
      assert.deepEqual(Object.keys(parsed), ['algorithm', 'data']);
      assert.equal(parsed['algorithm'], 'AES');
      assert.equal(base64Decode(parsed['data'] as string).length, 32);
      assert.ok(!text(bytes).includes('\n'));
    }
  });

  it('round-trips through symmetricKeyFromBytes', () => {
    const key = AesKey.generate();
    const again = symmetricKeyFromBytes(serializeSymmetricKey(key));
    const { ciphertext, iv } = key.encrypt(utf8Encode('round trip'));
    assert.equal(text(again.decrypt(ciphertext, iv)), 'round trip');
  });
});

describe('symmetricKeyFromBytes / symmetricKeyFromDict reject bad keys with BAD_SYMMETRIC_KEY', () => {
  const data = base64Encode(new Uint8Array(32));
  const reject = (value: string | Uint8Array): void =>
    throwsCode(
      () => symmetricKeyFromBytes(typeof value === 'string' ? utf8Encode(value) : value),
      'BAD_SYMMETRIC_KEY',
    );

  it('non-JSON and non-UTF-8', () => {
    reject('');
    reject('not json');
    reject('{"algorithm":"AES",');
    reject(Uint8Array.of(0xff, 0xfe, 0x7b, 0x7d));
    reject(new Uint8Array(randomBytes(117)).map((b) => b | 0x80));
  });

  it('non-dict JSON', () => {
    for (const value of ['null', '42', '"AES"', 'true', '[]', `[{"algorithm":"AES","data":"${data}"}]`])
      reject(value);
    for (const value of [null, undefined, 42, 'AES', [], [{ algorithm: 'AES', data }]]) {
      throwsCode(() => symmetricKeyFromDict(value), 'BAD_SYMMETRIC_KEY');
    }
  });

  it('unknown or missing algorithm', () => {
    for (const algorithm of ['DES', 'RSA', 'ECC', 'ChaCha20', 'aes', '']) {
      reject(JSON.stringify({ algorithm, data }));
    }
    reject(JSON.stringify({ data }));
    reject(JSON.stringify({ algorithm: 7, data }));
  });

  it('missing or malformed data', () => {
    reject('{"algorithm":"AES"}');
    reject('{"algorithm":"AES","data":null}');
    reject('{"algorithm":"AES","data":12345}');
    reject('{"algorithm":"AES","data":"*** not base64 ***"}');
    reject('{"algorithm":"AES","data":"AAAA"}');
    reject(`{"algorithm":"AES","data":"${base64Encode(new Uint8Array(33))}"}`);
  });

  it('bad legacy passphrase keys (no huge allocations, no RangeError)', () => {
    reject('{"algorithm":"AES","passphrase":"' + 'x'.repeat(33) + '"}');
    for (const keySize of [-1, 0, 1.5, 31, 33, 64, 1e9, 2 ** 53]) {
      reject(JSON.stringify({ algorithm: 'AES', keySize, passphrase: '12345678' }));
    }
    // valid sizes still work
    for (const keySize of [16, 24, 32]) {
      const key = symmetricKeyFromBytes(
        utf8Encode(JSON.stringify({ algorithm: 'AES', keySize, passphrase: 'pw' })),
      );
      assert.equal(key.algorithm, 'AES');
    }
  });

  it('aliases are accepted', () => {
    assert.equal(
      symmetricKeyFromBytes(utf8Encode(`{"algorithm":"AES/CBC/PKCS7Padding","data":"${data}"}`)).algorithm,
      'AES',
    );
  });
});

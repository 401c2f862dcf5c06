/**
 * Asymmetric keys (RSA, secp256k1) driven by vectors/keys-and-signatures.json and ids-and-metas.json:
 * parsing every accepted encoding, deterministic RSA signatures, DER ECDSA with high-S acceptance, round
 * trips, and ProtocolError codes for malformed input.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { PrivateKey, PublicKey } from '../../../src/protocol/crypto/asymmetric-key.ts';
import {
  EccPrivateKey,
  EccPublicKey,
  ecdsaVerifyNode,
  ecdsaVerifyNoble,
  isHighS,
  parseEccPrivateData,
  parseEccPublicData,
} from '../../../src/protocol/crypto/ecc.ts';
import {
  base64Decode,
  base64Encode,
  hexDecode,
  hexEncode,
  utf8Encode,
} from '../../../src/protocol/crypto/encoding.ts';
import type { KeyDict } from '../../../src/protocol/crypto/key-dict.ts';
import { parsePrivateKey, parsePublicKey } from '../../../src/protocol/crypto/keys.ts';
import { encodePem } from '../../../src/protocol/crypto/pem.ts';
import { RsaPrivateKey, RsaPublicKey } from '../../../src/protocol/crypto/rsa.ts';
import {
  AesKey,
  serializeSymmetricKey,
  symmetricKeyFromBytes,
} from '../../../src/protocol/crypto/symmetric-key.ts';
import { isProtocolError } from '../../../src/protocol/protocol-error.ts';
import type { ProtocolErrorCode } from '../../../src/protocol/protocol-error.ts';
import { readTrace, vectorById } from '../../helpers/vectors.ts';

const KEYS = 'keys-and-signatures.json';
const IDS = 'ids-and-metas.json';
const MESSAGES = 'messages.json';

function input(file: string, id: string): Record<string, unknown> {
  const v = vectorById(file, id);
  assert.ok(v.input, `${id} has input`);
  return v.input;
}

function expected(file: string, id: string): Record<string, unknown> {
  const v = vectorById(file, id);
  assert.ok(v.expected, `${id} has expected`);
  return v.expected;
}

function str(record: Record<string, unknown>, field: string): string {
  const value = record[field];
  assert.equal(typeof value, 'string', `${field} is a string`);
  return value as string;
}

function dict(record: Record<string, unknown>, field: string): Record<string, unknown> {
  const value = record[field];
  assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), `${field} is an object`);
  return value as Record<string, unknown>;
}

function metaOf(id: string): Record<string, unknown> {
  return dict(input(IDS, id), 'meta');
}

function metaKeyDict(id: string): KeyDict {
  return dict(metaOf(id), 'key') as KeyDict;
}

function throwsCode(fn: () => unknown, codes: ProtocolErrorCode | ProtocolErrorCode[]): void {
  const allowed = Array.isArray(codes) ? codes : [codes];
  assert.throws(fn, (err: unknown) => {
    assert.ok(isProtocolError(err), `expected a ProtocolError, got ${String(err)}`);
    assert.ok(allowed.includes(err.code), `code ${err.code} not in ${allowed.join('/')}`);
    return true;
  });
}

/** Rewrap a PEM: a different label, line ending and/or column width. */
function rewrap(der: Uint8Array, label: string, eol = '\n', width = 64): string {
  const b64 = base64Encode(der);
  const lines = width > 0 ? (b64.match(new RegExp(`.{1,${width}}`, 'g')) ?? []) : [b64];
  return [`-----BEGIN ${label}-----`, ...lines, `-----END ${label}-----`].join(eol);
}

// ---- minimal DER helpers for ECDSA signatures (SEQUENCE { INTEGER r, INTEGER s }) ----

function derLength(length: number): number[] {
  if (length < 0x80) return [length];
  if (length < 0x100) return [0x81, length];
  return [0x82, length >> 8, length & 0xff];
}

function derInteger(value: bigint): number[] {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let bytes = [...hexDecode(hex)];
  if ((bytes[0] ?? 0) & 0x80) bytes = [0, ...bytes];
  return [0x02, ...derLength(bytes.length), ...bytes];
}

function derSignature(r: bigint, s: bigint): Uint8Array {
  const body = [...derInteger(r), ...derInteger(s)];
  return Uint8Array.from([0x30, ...derLength(body.length), ...body]);
}

function parseDerSignature(der: Uint8Array): { r: bigint; s: bigint } {
  let pos = 0;
  const byte = (): number => {
    const b = der[pos++];
    assert.ok(b !== undefined, 'truncated DER');
    return b;
  };
  const length = (): number => {
    const first = byte();
    if (first < 0x80) return first;
    let n = 0;
    for (let i = 0; i < (first & 0x7f); i++) n = (n << 8) | byte();
    return n;
  };
  const integer = (): bigint => {
    assert.equal(byte(), 0x02);
    const len = length();
    const value = BigInt(`0x${hexEncode(der.subarray(pos, pos + len))}`);
    pos += len;
    return value;
  };
  assert.equal(byte(), 0x30);
  assert.equal(length(), der.length - pos);
  const r = integer();
  const s = integer();
  assert.equal(pos, der.length);
  return { r, s };
}

const N = secp256k1.Point.CURVE().n;

// ---------------------------------------------------------------------------------------------------

describe('V3 RSA private keys (PKCS#1 PEM)', () => {
  const hulk = parsePrivateKey(dict(input(KEYS, 'V3.hulk'), 'private_key'));
  const moki = parsePrivateKey(dict(input(KEYS, 'V3.moki'), 'private_key'));

  it('parse as RSA private keys that can decrypt', () => {
    assert.ok(hulk instanceof RsaPrivateKey);
    assert.ok(moki instanceof RsaPrivateKey);
    assert.equal(hulk.algorithm, 'RSA');
    assert.equal(hulk.canDecrypt, true);
  });

  it('public halves equal the V1 / V2 meta keys', () => {
    assert.equal(expected(KEYS, 'V3.hulk')['public_key_equals_meta_key_of'], 'V1');
    assert.equal(expected(KEYS, 'V3.moki')['public_key_equals_meta_key_of'], 'V2');
    const v1 = parsePublicKey(metaKeyDict('V1'));
    const v2 = parsePublicKey(metaKeyDict('V2'));
    assert.ok(hulk.publicKey.equals(v1));
    assert.ok(v1.equals(hulk.publicKey));
    assert.ok(moki.publicKey.equals(v2));
    assert.ok(!hulk.publicKey.equals(v2));
    assert.ok(!moki.publicKey.equals(v1));
  });

  it('signing UTF-8 "moki" with V3.moki gives exactly the V2 meta fingerprint', () => {
    const meta = metaOf('V2');
    assert.equal(meta['seed'], 'moki');
    const fingerprint = base64Decode(str(meta, 'fingerprint'));
    assert.deepEqual(moki.sign(utf8Encode('moki')), fingerprint);
    assert.ok(parsePublicKey(metaKeyDict('V2')).verify(utf8Encode('moki'), fingerprint));
  });

  it('the V1 meta fingerprint verifies with the V1 key (and is what hulk signs)', () => {
    const meta = metaOf('V1');
    const fingerprint = base64Decode(str(meta, 'fingerprint'));
    assert.deepEqual(hulk.sign(utf8Encode('hulk')), fingerprint);
    assert.ok(parsePublicKey(metaKeyDict('V1')).verify(utf8Encode('hulk'), fingerprint));
    assert.ok(!parsePublicKey(metaKeyDict('V2')).verify(utf8Encode('hulk'), fingerprint));
  });

  it('signing the base64-decoded V4 data gives exactly the V4 signature', () => {
    const message = dict(input(MESSAGES, 'V4'), 'message');
    const data = base64Decode(str(message, 'data'));
    assert.equal(data.length, expected(MESSAGES, 'V4')['signed_bytes_length']);
    const signature = base64Decode(str(message, 'signature'));
    assert.deepEqual(moki.sign(data), signature);
    assert.ok(moki.publicKey.verify(data, signature));
  });

  it('V3.hulk decrypts the V4 and V5 message keys', () => {
    for (const id of ['V4', 'V5']) {
      const message = dict(input(MESSAGES, id), 'message');
      const plain = hulk.decrypt(base64Decode(str(message, 'key')));
      assert.equal(Buffer.from(plain).toString('utf8'), expected(MESSAGES, id)['decrypted_key_json_text']);
    }
  });

  it('V7 private keys: public halves equal the meta keys and re-sign the fingerprints', () => {
    for (const id of ['V7.python', 'V7.objc']) {
      const meta = metaOf(id);
      const key = parsePrivateKey(dict(input(IDS, id), 'private_key'));
      const pub = parsePublicKey(dict(meta, 'key'));
      assert.ok(key.publicKey.equals(pub), id);
      const fingerprint = base64Decode(str(meta, 'fingerprint'));
      assert.deepEqual(key.sign(utf8Encode(str(meta, 'seed'))), fingerprint, id);
    }
  });
});

describe('V10.pem-pair (SPKI public, PKCS#8 private)', () => {
  const vin = input(KEYS, 'V10.pem-pair');
  const exp = expected(KEYS, 'V10.pem-pair');
  const pointHex = str(exp, 'public_key_uncompressed_hex');
  const scalarHex = str(exp, 'private_scalar_hex');

  it('public PEM -> point', () => {
    assert.equal(hexEncode(parseEccPublicData(str(vin, 'public_key_pem'))), pointHex);
    const key = parsePublicKey({ algorithm: 'ECC', data: str(vin, 'public_key_pem') });
    assert.ok(key instanceof EccPublicKey);
    assert.equal(hexEncode(key.point), pointHex);
    assert.equal(hexEncode(key.data), pointHex);
  });

  it('private PEM (PKCS#8) -> scalar', () => {
    const key = EccPrivateKey.fromDict({ algorithm: 'ECC', data: str(vin, 'private_key_pem') });
    assert.equal(hexEncode(key.publicKey.point), pointHex);
    assert.equal(key.toDict().data, scalarHex);
    assert.equal(hexEncode(parseEccPrivateData(str(vin, 'private_key_pem'))), scalarHex);
    const viaFactory = parsePrivateKey({ algorithm: 'SHA256withECDSA', data: str(vin, 'private_key_pem') });
    assert.ok(viaFactory.publicKey.equals(key.publicKey));
  });

  it('a SEC1 "EC PRIVATE KEY" PEM of the same scalar parses to it', () => {
    const point = hexDecode(pointHex);
    const jwk = {
      kty: 'EC',
      crv: 'secp256k1',
      d: Buffer.from(hexDecode(scalarHex)).toString('base64url'),
      x: Buffer.from(point.subarray(1, 33)).toString('base64url'),
      y: Buffer.from(point.subarray(33)).toString('base64url'),
    };
    const sec1 = createPrivateKey({ key: jwk, format: 'jwk' })
      .export({ format: 'pem', type: 'sec1' })
      .toString();
    assert.match(sec1, /-----BEGIN EC PRIVATE KEY-----/);
    const key = EccPrivateKey.fromDict({ algorithm: 'ECC', data: sec1 });
    assert.equal(key.toDict().data, scalarHex);
    assert.equal(hexEncode(key.publicKey.point), pointHex);
    // CRLF variant, as Windows/java encoders write it
    const crlf = EccPrivateKey.fromDict({ algorithm: 'ECC', data: sec1.replaceAll('\n', '\r\n') });
    assert.equal(crlf.toDict().data, scalarHex);
  });
});

describe('V10.hex-key', () => {
  const vin = input(KEYS, 'V10.hex-key');
  const exp = expected(KEYS, 'V10.hex-key');
  const uncompressedHex = str(exp, 'public_key_uncompressed_hex');
  const compressedHex = str(exp, 'public_key_compressed_hex');
  const message = utf8Encode(str(vin, 'message_utf8'));
  const signature = hexDecode(str(vin, 'signature_der_hex'));
  const priv = EccPrivateKey.fromDict({ algorithm: 'ECC', data: str(vin, 'private_key_hex') });

  it('private hex -> public (uncompressed)', () => {
    assert.equal(hexEncode(priv.publicKey.point), uncompressedHex);
    assert.equal(priv.toDict().data, str(vin, 'private_key_hex'));
  });

  it('public keys from uncompressed and compressed hex; `compressed: true` gives 33-byte data', () => {
    const fromUncompressed = EccPublicKey.fromDict({ algorithm: 'ECC', data: uncompressedHex });
    const fromCompressed = EccPublicKey.fromDict({ algorithm: 'ECC', data: compressedHex });
    assert.equal(hexEncode(fromCompressed.point), uncompressedHex);
    assert.equal(fromUncompressed.data.length, 65);
    assert.ok(fromCompressed.equals(fromUncompressed));
    const flagged = EccPublicKey.fromDict({ algorithm: 'ECC', data: uncompressedHex, compressed: true });
    assert.equal(flagged.data.length, 33);
    assert.equal(hexEncode(flagged.data), compressedHex);
    assert.equal(hexEncode(flagged.point), uncompressedHex);
    const viaFactory = parsePublicKey({ algorithm: 'ECC', data: compressedHex, compressed: true });
    assert.equal(hexEncode(viaFactory.data), compressedHex);
    assert.equal(hexEncode(parsePublicKey({ algorithm: 'ECC', data: compressedHex }).data), uncompressedHex);
  });

  it('the fixed DER signature verifies with node and noble verifiers (and is low-S)', () => {
    const pub = EccPublicKey.fromDict({ algorithm: 'ECC', data: uncompressedHex });
    assert.equal(exp['signature_verifies'], true);
    assert.equal(exp['signature_is_low_s'], true);
    assert.ok(ecdsaVerifyNode(pub.keyObject, message, signature));
    assert.ok(ecdsaVerifyNoble(pub.point, message, signature));
    assert.ok(pub.verify(message, signature));
    assert.equal(isHighS(signature), false);
    assert.ok(secp256k1.verify(signature, message, pub.point, { format: 'der' }));
    assert.ok(!pub.verify(utf8Encode('hellO'), signature));
  });

  it('its high-S twin is accepted by our verifiers and rejected by noble default', () => {
    const pub = EccPublicKey.fromDict({ algorithm: 'ECC', data: uncompressedHex });
    const { r, s } = parseDerSignature(signature);
    assert.deepEqual(derSignature(r, s), signature, 'DER re-encoding is exact');
    const twin = derSignature(r, N - s);
    assert.notDeepEqual(twin, signature);
    assert.equal(isHighS(twin), true);
    assert.ok(ecdsaVerifyNode(pub.keyObject, message, twin));
    assert.ok(ecdsaVerifyNoble(pub.point, message, twin));
    assert.ok(pub.verify(message, twin));
    assert.ok(secp256k1.verify(twin, message, pub.point, { format: 'der', lowS: false }));
    assert.equal(secp256k1.verify(twin, message, pub.point, { format: 'der' }), false);
  });
});

describe('V10.key-pairs and V10.eth-signature', () => {
  it('public = k·G for every pair', () => {
    const pairs = input(KEYS, 'V10.key-pairs')['pairs'] as Array<Record<string, string>>;
    assert.ok(pairs.length >= 4);
    for (const pair of pairs) {
      const priv = parsePrivateKey({ algorithm: 'ECC', data: pair['private_key_hex'] });
      assert.ok(priv instanceof EccPrivateKey);
      assert.equal(hexEncode(priv.publicKey.point), pair['public_key_uncompressed_hex']);
      const pub = parsePublicKey({ algorithm: 'ECC', data: pair['public_key_uncompressed_hex'] });
      assert.ok(pub.equals(priv.publicKey));
      assert.equal(pub.data.length, 65);
    }
  });

  it('the fixed DER signature over the 65-byte point verifies', () => {
    const vin = input(KEYS, 'V10.eth-signature');
    const priv = EccPrivateKey.fromDict({ algorithm: 'ECC', data: str(vin, 'private_key_hex') });
    const message = hexDecode(str(vin, 'message_hex'));
    const signature = hexDecode(str(vin, 'signature_der_hex'));
    // the signed message is the key's own uncompressed point (= the V12b meta key)
    assert.deepEqual(priv.publicKey.point, message);
    assert.deepEqual(parsePublicKey(metaKeyDict('V12b.meta')).data, message);
    assert.ok(priv.publicKey.verify(message, signature));
    assert.ok(ecdsaVerifyNoble(priv.publicKey.point, message, signature));
  });

  it('V12a: a high-S meta fingerprint verifies with lowS:false only', () => {
    const meta = metaOf('V12a');
    const key = parsePublicKey(dict(meta, 'key'));
    assert.ok(key instanceof EccPublicKey);
    const seed = utf8Encode(str(meta, 'seed'));
    const fingerprint = base64Decode(str(meta, 'fingerprint'));
    assert.equal(isHighS(fingerprint), true);
    assert.ok(key.verify(seed, fingerprint));
    assert.ok(ecdsaVerifyNoble(key.point, seed, fingerprint));
    assert.equal(secp256k1.verify(fingerprint, seed, key.point, { format: 'der' }), false);
  });
});

describe('V13 trace signatures (reference-implementation ECDSA, many high-S)', () => {
  const files = ['sample-mtp-trace-vs-ref-station.jsonl', 'sample-mtp-trace-with-login-and-ping.jsonl'];
  const messages = files
    .flatMap((file) => readTrace(file))
    .filter((frame) => frame.type === 2)
    .map((frame) => JSON.parse(frame.body) as Record<string, unknown>);
  // every sender's meta rides on its first message (clients: handshake; station: first reply)
  const metaKeys = new Map<string, PublicKey>();
  for (const message of messages) {
    const meta = message['meta'] as Record<string, unknown> | undefined;
    if (meta && !metaKeys.has(str(message, 'sender')))
      metaKeys.set(str(message, 'sender'), parsePublicKey(meta['key']));
  }
  const signedBytes = (message: Record<string, unknown>): Uint8Array => {
    const receiver = str(message, 'receiver');
    const broadcast = receiver.endsWith('@anywhere') || receiver.endsWith('@everywhere');
    return broadcast ? utf8Encode(str(message, 'data')) : base64Decode(str(message, 'data'));
  };

  it('72 message frames: all verify with node:crypto and noble lowS:false, 42 with noble default, 30 high-S', () => {
    assert.equal(messages.length, 72);
    let nodeOk = 0;
    let nobleOk = 0;
    let nobleDefaultOk = 0;
    let highS = 0;
    for (const message of messages) {
      const key = metaKeys.get(str(message, 'sender'));
      assert.ok(key instanceof EccPublicKey, `ECC meta key for ${str(message, 'sender')}`);
      const data = signedBytes(message);
      const signature = base64Decode(str(message, 'signature'));
      if (key.verify(data, signature)) nodeOk++;
      if (ecdsaVerifyNoble(key.point, data, signature)) nobleOk++;
      if (secp256k1.verify(signature, data, key.point, { format: 'der' })) nobleDefaultOk++;
      if (isHighS(signature)) highS++;
    }
    assert.deepEqual(
      { nodeOk, nobleOk, nobleDefaultOk, highS },
      { nodeOk: 72, nobleOk: 72, nobleDefaultOk: 42, highS: 30 },
    );
  });
});

describe('ECC public key encodings all parse to the same point', () => {
  const pointHex = str(expected(KEYS, 'V10.pem-pair'), 'public_key_uncompressed_hex');
  const point = hexDecode(pointHex);
  const spki = Uint8Array.from([...hexDecode('3056301006072a8648ce3d020106052b8104000a034200'), ...point]);
  const spkiPem = str(input(KEYS, 'V10.pem-pair'), 'public_key_pem');
  // SPKI with the prime256v1 curve OID (1.2.840.10045.3.1.7) around a secp256k1 point (old dart basic_utils)
  const wrongOid = Uint8Array.from([
    ...hexDecode('3059301306072a8648ce3d020106082a8648ce3d030107034200'),
    ...point,
  ]);

  const forms: Record<string, string> = {
    'hex 130 (04‖x‖y)': pointHex,
    'hex 130 uppercase': pointHex.toUpperCase(),
    'hex 128 (x‖y)': pointHex.slice(2),
    'hex 66 (compressed)': hexEncode(secp256k1.Point.fromBytes(point).toBytes(true)),
    'SPKI PEM (vector)': spkiPem,
    'SPKI PEM (encodePem)': encodePem('PUBLIC KEY', spki),
    'SPKI PEM with trailing newline': `${spkiPem}\n`,
    'EC PUBLIC KEY label': spkiPem.replaceAll('PUBLIC KEY', 'EC PUBLIC KEY'),
    'CRLF line endings': spkiPem.replaceAll('\n', '\r\n'),
    'single-line base64 body, CRLF armor': rewrap(spki, 'PUBLIC KEY', '\r\n', 0),
    '76-column body': rewrap(spki, 'PUBLIC KEY', '\n', 76),
    'JSON-escaped slashes': spkiPem.replaceAll('/', '\\/'),
    'wrong curve OID under EC PUBLIC KEY': rewrap(wrongOid, 'EC PUBLIC KEY'),
    'wrong curve OID under PUBLIC KEY, CRLF': rewrap(wrongOid, 'PUBLIC KEY', '\r\n'),
  };

  for (const [name, data] of Object.entries(forms)) {
    it(name, () => {
      assert.equal(hexEncode(parseEccPublicData(data)), pointHex);
      const key = parsePublicKey({ algorithm: 'ECC', data, curve: 'secp256k1' });
      assert.ok(key instanceof EccPublicKey);
      assert.equal(hexEncode(key.point), pointHex);
      assert.equal(key.data.length, 65);
    });
  }

  it('the JSON text of a PEM with escaped slashes round-trips through JSON.parse', () => {
    const text = JSON.stringify({ algorithm: 'ECC', data: spkiPem }).replaceAll('/', '\\/');
    const key = parsePublicKey(JSON.parse(text));
    assert.equal(hexEncode(key.data), pointHex);
  });

  it('the default dict of a point-constructed key is an SPKI PEM that node:crypto loads', () => {
    const key = new EccPublicKey(point);
    assert.equal(typeof key.dict.data, 'string');
    const loaded = createPublicKey(key.dict.data as string);
    assert.equal(loaded.asymmetricKeyType, 'ec');
    assert.equal(loaded.asymmetricKeyDetails?.namedCurve, 'secp256k1');
    assert.ok(parsePublicKey(key.dict).equals(key));
  });
});

describe('RSA public key encodings', () => {
  const v1 = parsePublicKey(metaKeyDict('V1'));
  assert.ok(v1 instanceof RsaPublicKey);
  const spkiDer = new Uint8Array(v1.keyObject.export({ format: 'der', type: 'spki' }));
  // Node 24 / OpenSSL 3.5 cannot re-export a key loaded from PKCS#1 DER as PKCS#1 ("Failed to encode
  // public key"), so re-export from an SPKI-loaded copy.
  const reloaded = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
  const pkcs1Der = new Uint8Array(reloaded.export({ format: 'der', type: 'pkcs1' }));

  it('V1 meta key (PKCS#1 body under a PUBLIC KEY label) parses', () => {
    assert.equal(v1.algorithm, 'RSA');
    assert.equal(v1.canEncrypt, true);
    assert.equal(v1.keyObject.asymmetricKeyDetails?.modulusLength, 1024);
    const body = base64Decode(str(metaKeyDict('V1'), 'data').replace(/-----[^-]+-----/g, ''));
    assert.equal(hexEncode(body.subarray(0, 8)), expected(IDS, 'V1')['public_key_der_prefix_hex']);
    assert.deepEqual(body, pkcs1Der);
    // `data` is the SPKI DER
    assert.deepEqual(v1.data, spkiDer);
  });

  const variants: Record<string, string> = {
    'SPKI under PUBLIC KEY (node export)': reloaded.export({ format: 'pem', type: 'spki' }).toString(),
    'PKCS#1 under RSA PUBLIC KEY (node export)': reloaded.export({ format: 'pem', type: 'pkcs1' }).toString(),
    'PKCS#1 under RSA PUBLIC KEY, CRLF (java)': rewrap(pkcs1Der, 'RSA PUBLIC KEY', '\r\n'),
    'PKCS#1 under RSA PUBLIC KEY, single line between CRLF (dart)': rewrap(
      pkcs1Der,
      'RSA PUBLIC KEY',
      '\r\n',
      0,
    ),
    'SPKI under PUBLIC KEY, CRLF, 76 columns': rewrap(spkiDer, 'PUBLIC KEY', '\r\n', 76),
    'SPKI under RSA PUBLIC KEY (mislabelled)': rewrap(spkiDer, 'RSA PUBLIC KEY'),
    'SPKI with JSON-escaped slashes': rewrap(spkiDer, 'PUBLIC KEY').replaceAll('/', '\\/'),
    'bare base64 SPKI body': base64Encode(spkiDer),
  };

  for (const [name, data] of Object.entries(variants)) {
    it(name, () => {
      for (const algorithm of ['RSA', 'SHA256withRSA', 'RSA/ECB/PKCS1Padding']) {
        const key = parsePublicKey({ algorithm, data });
        assert.ok(key instanceof RsaPublicKey);
        assert.ok(key.equals(v1));
        assert.ok(v1.equals(key));
      }
    });
  }

  it('the V7.python SPKI meta key parses', () => {
    const key = parsePublicKey(metaKeyDict('V7.python'));
    assert.ok(key instanceof RsaPublicKey);
    assert.ok(!key.equals(v1));
  });
});

describe('RSA private key encodings', () => {
  const hulkDict = dict(input(KEYS, 'V3.hulk'), 'private_key') as KeyDict;
  const hulkPem = str(hulkDict, 'data');
  const v1 = parsePublicKey(metaKeyDict('V1'));
  const nodeKey = createPrivateKey(hulkPem);

  it('PKCS#8 PRIVATE KEY PEM parses', () => {
    const pkcs8 = nodeKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    assert.match(pkcs8, /-----BEGIN PRIVATE KEY-----/);
    const key = parsePrivateKey({ algorithm: 'RSA', data: pkcs8 });
    assert.ok(key instanceof RsaPrivateKey);
    assert.ok(key.publicKey.equals(v1));
    assert.ok(
      parsePrivateKey({ algorithm: 'RSA', data: pkcs8.replaceAll('\n', '\r\n') }).publicKey.equals(v1),
    );
  });

  it('JSON-escaped slashes and CRLF in the PKCS#1 PEM', () => {
    const key = parsePrivateKey({
      algorithm: 'RSA',
      data: hulkPem.replaceAll('/', '\\/').replaceAll('\n', '\r\n'),
    });
    assert.ok(key.publicKey.equals(v1));
  });

  it('a dict with the public and the private PEM concatenated yields the private key', () => {
    const publicPem = str(metaKeyDict('V1'), 'data');
    for (const data of [`${publicPem}\n${hulkPem}`, `${hulkPem}\r\n${publicPem}`]) {
      const key = parsePrivateKey({ algorithm: 'RSA', data });
      assert.ok(key instanceof RsaPrivateKey);
      assert.ok(key.publicKey.equals(v1));
      // and it really is the private half: it decrypts what the public key encrypts
      const ciphertext = v1.encrypt(utf8Encode('{"algorithm":"PLAIN"}'));
      assert.equal(Buffer.from(key.decrypt(ciphertext)).toString('utf8'), '{"algorithm":"PLAIN"}');
    }
  });
});

describe('round trips', () => {
  const rsa = RsaPrivateKey.generate();
  const ecc = EccPrivateKey.generate();
  const hulk = parsePrivateKey(dict(input(KEYS, 'V3.hulk'), 'private_key'));

  it('RSA encrypt / decrypt (generated key and hulk) of a serialized AES key', () => {
    for (const key of [rsa, hulk]) {
      const plaintext = serializeSymmetricKey(AesKey.generate());
      const ciphertext = key.publicKey.encrypt(plaintext);
      assert.equal(ciphertext.length, 128);
      const decrypted = key.decrypt(ciphertext);
      assert.deepEqual(decrypted, plaintext);
      assert.equal(symmetricKeyFromBytes(decrypted).algorithm, 'AES');
    }
  });

  it('RSA encryption of more than 117 bytes with a 1024-bit key fails with a ProtocolError', () => {
    throwsCode(() => rsa.publicKey.encrypt(new Uint8Array(118)), 'BAD_KEY');
    assert.equal(rsa.publicKey.encrypt(new Uint8Array(117)).length, 128);
  });

  it('RSA sign / verify (deterministic)', () => {
    const message = randomBytes(100);
    const signature = rsa.sign(message);
    assert.equal(signature.length, 128);
    assert.deepEqual(rsa.sign(message), signature);
    assert.ok(rsa.publicKey.verify(message, signature));
    message[0] = (message[0] ?? 0) ^ 1;
    assert.ok(!rsa.publicKey.verify(message, signature));
    assert.ok(!hulk.publicKey.verify(message, signature));
  });

  it('ECC sign / verify', () => {
    const message = randomBytes(100);
    const signature = ecc.sign(message);
    assert.ok(ecc.publicKey.verify(message, signature));
    assert.ok(ecdsaVerifyNoble(ecc.publicKey.point, message, signature));
    assert.ok(secp256k1.verify(signature, message, ecc.publicKey.point, { format: 'der' }));
    assert.ok(!ecc.publicKey.verify(utf8Encode('other'), signature));
    assert.ok(!EccPrivateKey.generate().publicKey.verify(message, signature));
  });

  it('ECC signatures we produce are DER and low-S', () => {
    for (let i = 0; i < 64; i++) {
      const signature = ecc.sign(randomBytes(32));
      assert.equal(signature[0], 0x30);
      const { s } = parseDerSignature(signature);
      assert.ok(s <= N / 2n, 'low-S');
      assert.equal(isHighS(signature), false);
    }
  });

  it('ECC cannot encrypt / decrypt', () => {
    const pub: PublicKey = ecc.publicKey;
    const priv: PrivateKey = ecc;
    throwsCode(() => pub.encrypt(new Uint8Array(1)), 'KEY_CANNOT_ENCRYPT');
    throwsCode(() => priv.decrypt(new Uint8Array(1)), 'KEY_CANNOT_ENCRYPT');
    assert.equal(ecc.publicKey.canEncrypt, false);
    assert.equal(ecc.canDecrypt, false);
  });

  it('a freshly generated key toDict() reparses to an equal key; its public dict too', () => {
    for (const key of [rsa, ecc, RsaPrivateKey.generate(), EccPrivateKey.generate()] as PrivateKey[]) {
      const again = parsePrivateKey(JSON.parse(JSON.stringify(key.toDict())));
      assert.equal(again.algorithm, key.algorithm);
      assert.ok(again.publicKey.equals(key.publicKey));
      const pub: PublicKey = parsePublicKey(JSON.parse(JSON.stringify(key.publicKey.dict)));
      assert.ok(pub.equals(key.publicKey));
      const message = randomBytes(16);
      assert.ok(pub.verify(message, again.sign(message)));
    }
  });

  it('vector private keys toDict() reparse to equal keys', () => {
    const v1 = parsePublicKey(metaKeyDict('V1'));
    const again = parsePrivateKey(hulk.toDict());
    assert.ok(again.publicKey.equals(v1));
    assert.deepEqual(again.sign(utf8Encode('hulk')), hulk.sign(utf8Encode('hulk')));
    const pair = EccPrivateKey.fromDict({
      algorithm: 'ECC',
      data: str(input(KEYS, 'V10.pem-pair'), 'private_key_pem'),
    });
    assert.ok(parsePrivateKey(pair.toDict()).publicKey.equals(pair.publicKey));
  });

  it('wrong key: RSA decrypt of a ciphertext for another key throws or yields a rejected key', () => {
    for (let i = 0; i < 8; i++) {
      const ciphertext = rsa.publicKey.encrypt(serializeSymmetricKey(AesKey.generate()));
      let decrypted: Uint8Array;
      try {
        decrypted = hulk.decrypt(ciphertext);
      } catch (err) {
        assert.ok(isProtocolError(err, 'DECRYPT_FAILED'), `unexpected ${String(err)}`);
        continue;
      }
      throwsCode(() => symmetricKeyFromBytes(decrypted), 'BAD_SYMMETRIC_KEY');
    }
  });

  it('RSA decrypt of malformed ciphertexts throws DECRYPT_FAILED or yields a rejected key', () => {
    for (const ciphertext of [new Uint8Array(0), new Uint8Array(5), new Uint8Array(129), randomBytes(128)]) {
      let decrypted: Uint8Array;
      try {
        decrypted = hulk.decrypt(ciphertext);
      } catch (err) {
        assert.ok(isProtocolError(err, 'DECRYPT_FAILED'), `unexpected ${String(err)}`);
        continue;
      }
      throwsCode(() => symmetricKeyFromBytes(decrypted), 'BAD_SYMMETRIC_KEY');
    }
  });
});

describe('malformed inputs produce ProtocolError codes', () => {
  const eccPem = str(input(KEYS, 'V10.pem-pair'), 'public_key_pem');
  const eccPrivPem = str(input(KEYS, 'V10.pem-pair'), 'private_key_pem');
  const rsaPem = str(metaKeyDict('V1'), 'data');
  const rsaPrivPem = str(dict(input(KEYS, 'V3.hulk'), 'private_key'), 'data');

  it('bad PEM: garbage, unterminated armor, empty body -> BAD_PEM or BAD_KEY', () => {
    const bad = [
      'garbage',
      'garbage!!',
      '   ',
      '',
      '-----BEGIN PUBLIC KEY-----\nMFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAE82Xdir58NnH',
      '-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----',
      '-----BEGIN PUBLIC KEY-----\n\r\n-----END PUBLIC KEY-----',
      '-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----',
      '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PRIVATE KEY-----',
      rewrap(new Uint8Array(100), 'PUBLIC KEY'),
      rewrap(new Uint8Array(200).fill(0x55), 'RSA PUBLIC KEY'),
    ];
    for (const data of bad) {
      for (const algorithm of ['RSA', 'ECC']) {
        throwsCode(() => parsePublicKey({ algorithm, data }), ['BAD_PEM', 'BAD_KEY']);
        throwsCode(() => parsePrivateKey({ algorithm, data }), ['BAD_PEM', 'BAD_KEY']);
      }
    }
  });

  it('wrong key type -> BAD_KEY', () => {
    throwsCode(() => parsePublicKey({ algorithm: 'RSA', data: eccPem }), 'BAD_KEY');
    throwsCode(() => parsePublicKey({ algorithm: 'ECC', data: rsaPem }), 'BAD_KEY');
    throwsCode(
      () => parsePublicKey({ algorithm: 'ECC', data: str(metaKeyDict('V7.python'), 'data') }),
      'BAD_KEY',
    );
    throwsCode(() => parsePrivateKey({ algorithm: 'RSA', data: eccPrivPem }), 'BAD_KEY');
    throwsCode(() => parsePrivateKey({ algorithm: 'ECC', data: rsaPrivPem }), 'BAD_KEY');
    throwsCode(
      () => parsePrivateKey({ algorithm: 'RSA', data: str(input(KEYS, 'V10.hex-key'), 'private_key_hex') }),
      ['BAD_KEY', 'BAD_PEM'],
    );
    // a public PEM where a private key is expected
    throwsCode(() => parsePrivateKey({ algorithm: 'RSA', data: rsaPem }), ['BAD_KEY', 'BAD_PEM']);
    throwsCode(() => parsePrivateKey({ algorithm: 'ECC', data: eccPem }), ['BAD_KEY', 'BAD_PEM']);
  });

  it('unknown algorithm -> UNSUPPORTED_KEY', () => {
    for (const algorithm of ['DSA', 'Ed25519', 'AES', 'PLAIN', 'DES', '']) {
      throwsCode(() => parsePublicKey({ algorithm, data: rsaPem }), 'UNSUPPORTED_KEY');
      throwsCode(() => parsePrivateKey({ algorithm, data: rsaPrivPem }), 'UNSUPPORTED_KEY');
    }
  });

  it('non-dict, missing algorithm, non-string data -> BAD_KEY', () => {
    for (const value of [null, undefined, 'RSA', 42, true, [], [{ algorithm: 'RSA', data: rsaPem }]]) {
      throwsCode(() => parsePublicKey(value), 'BAD_KEY');
      throwsCode(() => parsePrivateKey(value), 'BAD_KEY');
    }
    throwsCode(() => parsePublicKey({ data: rsaPem }), 'BAD_KEY');
    throwsCode(() => parsePublicKey({ algorithm: 7, data: rsaPem }), 'BAD_KEY');
    throwsCode(() => parsePublicKey({ algorithm: 'RSA', data: 42 }), 'BAD_KEY');
    throwsCode(() => parsePublicKey({ algorithm: 'RSA', data: { pem: rsaPem } }), 'BAD_KEY');
    throwsCode(() => parsePublicKey({ algorithm: 'RSA' }), ['BAD_KEY', 'BAD_PEM']);
    throwsCode(() => parsePublicKey({ algorithm: 'ECC' }), ['BAD_KEY', 'BAD_PEM']);
    throwsCode(() => parsePrivateKey({ algorithm: 'ECC' }), ['BAD_KEY', 'BAD_PEM']);
  });

  it('oversize data (> 16 KiB) -> FIELD_TOO_LARGE', () => {
    const big = `-----BEGIN PUBLIC KEY-----\n${'A'.repeat(16 * 1024 + 4)}\n-----END PUBLIC KEY-----`;
    for (const algorithm of ['RSA', 'ECC']) {
      throwsCode(() => parsePublicKey({ algorithm, data: big }), 'FIELD_TOO_LARGE');
      throwsCode(() => parsePrivateKey({ algorithm, data: big }), 'FIELD_TOO_LARGE');
      throwsCode(() => parsePublicKey({ algorithm, data: '0'.repeat(20000) }), 'FIELD_TOO_LARGE');
    }
  });

  it('invalid point -> BAD_KEY', () => {
    const pointHex = str(expected(KEYS, 'V10.pem-pair'), 'public_key_uncompressed_hex');
    const offCurve = `${pointHex.slice(0, -2)}${pointHex.endsWith('5a') ? '5b' : '5a'}`;
    const bad = [
      `04${'00'.repeat(64)}`,
      offCurve,
      offCurve.slice(2),
      `05${pointHex.slice(2)}`,
      `02${'ff'.repeat(32)}`,
      '04',
      pointHex.slice(0, 100),
      `${pointHex}00`,
      rewrap(
        Uint8Array.from([
          ...hexDecode('3056301006072a8648ce3d020106052b8104000a034200'),
          ...hexDecode(offCurve),
        ]),
        'PUBLIC KEY',
      ),
    ];
    for (const data of bad) {
      throwsCode(() => parsePublicKey({ algorithm: 'ECC', data }), 'BAD_KEY');
      throwsCode(() => EccPublicKey.fromDict({ algorithm: 'ECC', data }), 'BAD_KEY');
    }
  });

  it('invalid ECC scalars -> BAD_KEY', () => {
    for (const data of ['00'.repeat(32), N.toString(16).padStart(64, '0'), 'ff'.repeat(32)]) {
      throwsCode(() => parsePrivateKey({ algorithm: 'ECC', data }), 'BAD_KEY');
    }
    throwsCode(() => new EccPrivateKey(new Uint8Array(32)), 'BAD_KEY');
    throwsCode(() => new EccPrivateKey(new Uint8Array(31).fill(1)), 'BAD_KEY');
  });

  it('verify() with a garbage signature returns false, never throws', () => {
    const rsaKey = parsePublicKey(metaKeyDict('V1'));
    const eccKey = parsePublicKey({ algorithm: 'ECC', data: eccPem });
    const garbage = [
      new Uint8Array(0),
      Uint8Array.of(1, 2, 3),
      randomBytes(64),
      randomBytes(72),
      randomBytes(128),
      randomBytes(129),
      Uint8Array.of(0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00), // r = s = 0
      derSignature(N, 1n), // r out of range
      derSignature(1n, N + 1n), // s out of range
      Uint8Array.of(0x30, 0x81),
    ];
    const message = utf8Encode('hello');
    for (const signature of garbage) {
      assert.equal(rsaKey.verify(message, signature), false);
      assert.equal(eccKey.verify(message, signature), false);
      assert.ok(eccKey instanceof EccPublicKey);
      assert.equal(ecdsaVerifyNoble(eccKey.point, message, signature), false);
      assert.equal(ecdsaVerifyNode(eccKey.keyObject, message, signature), false);
      assert.equal(isHighS(signature), false);
    }
  });
});

describe('RSA key bounds (verify cost)', () => {
  it('refuses public exponents above 2^32', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const jwk = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    // e = 2^64 + 1: parses in OpenSSL, makes every verify ~50x slower
    const e = Buffer.alloc(9);
    e[0] = 1;
    e[8] = 1;
    const hugeExponent = createPublicKey({ key: { ...jwk, e: e.toString('base64url') }, format: 'jwk' });
    const pem = hugeExponent.export({ format: 'pem', type: 'spki' }).toString();
    assert.throws(
      () => parsePublicKey({ algorithm: 'RSA', data: pem }),
      (e) => isProtocolError(e, 'BAD_KEY'),
    );
  });

  it('refuses public key data longer than 4096 characters', () => {
    const padded = `${'\n'.repeat(4097)}04${'11'.repeat(64)}`;
    assert.throws(
      () => parsePublicKey({ algorithm: 'ECC', data: padded }),
      (e) => isProtocolError(e, 'FIELD_TOO_LARGE'),
    );
  });
});

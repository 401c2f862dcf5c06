/**
 * Metas and the IDs they generate: every vector of vectors/ids-and-metas.json (V1, V2, V7.python, V7.objc,
 * V8.gsp-s001/2, V12a, V12b.meta) parses, is valid and matches exactly the listed IDs — and nothing else
 * (other network bytes, other names, tampered fingerprints, another meta's address). Plus the meta parser's
 * type aliases, its rejections and the compatible output form.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { EccPrivateKey, EccPublicKey } from '../../../src/protocol/crypto/ecc.ts';
import { base64Decode, base64Encode, hexEncode, utf8Encode } from '../../../src/protocol/crypto/encoding.ts';
import { parsePrivateKey } from '../../../src/protocol/crypto/keys.ts';
import { RsaPublicKey } from '../../../src/protocol/crypto/rsa.ts';
import { btcAddress } from '../../../src/protocol/mkm/address.ts';
import { EntityType } from '../../../src/protocol/mkm/entity-type.ts';
import { parseId } from '../../../src/protocol/mkm/identifier.ts';
import { createMeta, MetaType, parseMeta } from '../../../src/protocol/mkm/meta.ts';
import type { Meta } from '../../../src/protocol/mkm/meta.ts';
import { isProtocolError } from '../../../src/protocol/protocol-error.ts';
import type { ProtocolErrorCode } from '../../../src/protocol/protocol-error.ts';
import { readVectorFile, vectorById } from '../../helpers/vectors.ts';
import type { Vector } from '../../helpers/vectors.ts';

const FILE = 'ids-and-metas.json';

function throwsCode(fn: () => unknown, code: ProtocolErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isProtocolError(err), `expected a ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

type Dict = Record<string, unknown>;

function metaDict(vector: Vector): Dict {
  const meta = vector.input?.['meta'];
  assert.ok(meta !== null && typeof meta === 'object', `${vector.id}: input.meta`);
  return meta as Dict;
}

/** Expected IDs of a vector as (raw network byte → ID string). */
function expectedIds(vector: Vector): Map<number, string> {
  const expected = vector.expected ?? {};
  const out = new Map<number, string>();
  const identifiers = expected['identifiers'] as Record<string, string> | undefined;
  if (identifiers) for (const [hex, id] of Object.entries(identifiers)) out.set(parseInt(hex, 16), id);
  if (typeof expected['identifier'] === 'string') {
    const network = typeof expected['network'] === 'number' ? expected['network'] : EntityType.USER;
    out.set(network, expected['identifier']);
  }
  assert.ok(out.size > 0, `${vector.id}: no expected identifiers`);
  return out;
}

/** A copy of the meta dictionary with one fingerprint byte flipped. */
function tamperedFingerprint(dict: Dict, index = 10): Dict {
  const bytes = base64Decode(dict['fingerprint'] as string);
  bytes[index] = (bytes[index] ?? 0) ^ 0x01;
  return { ...dict, fingerprint: base64Encode(bytes) };
}

const vectors = readVectorFile(FILE).vectors;
const OTHER_NETWORKS = [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x88, 0xc8];

describe('ids-and-metas.json: every vector', () => {
  it('covers the documented vectors', () => {
    assert.deepEqual(
      vectors.map((v) => v.id),
      ['V1', 'V2', 'V7.python', 'V7.objc', 'V8.gsp-s001', 'V8.gsp-s002', 'V12a', 'V12b.meta'],
    );
  });

  for (const vector of vectors) {
    describe(vector.id, () => {
      const dict = metaDict(vector);
      const ids = expectedIds(vector);

      it('parses (legacy `version`, PKCS#1-body / SPKI RSA PEMs, ECC SPKI PEM or hex)', () => {
        const meta = parseMeta(dict);
        const wireType = dict['type'] ?? dict['version'];
        assert.equal(meta.type, wireType);
        assert.equal(meta.key.algorithm, String((dict['key'] as Dict)['algorithm']));
        if (meta.hasSeed) {
          assert.equal(meta.seed, dict['seed']);
          assert.deepEqual(meta.fingerprint, base64Decode(dict['fingerprint'] as string));
        } else {
          assert.equal(meta.seed, undefined);
          assert.equal(meta.fingerprint, undefined);
        }
      });

      it('is valid (fingerprint verifies over UTF-8(seed) with the meta key)', () => {
        const meta = parseMeta(dict);
        assert.equal(meta.isValid(), true);
        if (meta.hasSeed) {
          const signed = vector.expected?.['fingerprint_signed_data_utf8'];
          assert.equal(meta.seed, signed);
          assert.equal(
            meta.key.verify(utf8Encode(meta.seed as string), meta.fingerprint as Uint8Array),
            true,
          );
          assert.equal(
            meta.key.verify(utf8Encode(`${meta.seed as string}!`), meta.fingerprint as Uint8Array),
            false,
          );
        }
      });

      for (const [network, identifier] of ids) {
        it(`generates ${identifier} with network 0x${network.toString(16).padStart(2, '0')} and matches it`, () => {
          const meta = parseMeta(dict);
          const id = parseId(identifier);
          assert.equal(id.string, identifier);
          assert.equal(id.address.network, network);
          assert.equal(meta.generateAddress(network).text, id.address.text);
          assert.equal(meta.matches(id), true);
        });

        it(`does not generate ${identifier} with another network byte`, () => {
          const meta = parseMeta(dict);
          const address = parseId(identifier).address.text;
          const others = meta.type === MetaType.ETH ? [] : OTHER_NETWORKS.filter((n) => n !== network);
          for (const other of others) {
            const generated = meta.generateAddress(other);
            assert.notEqual(generated.text, address, `network 0x${other.toString(16)}`);
            assert.equal(generated.network, other);
          }
          if (meta.type === MetaType.ETH) {
            // ETH addresses exist for users only
            throwsCode(() => meta.generateAddress(EntityType.STATION), 'BAD_META');
          }
        });

        it(`does not match ${identifier} under another name`, () => {
          const meta = parseMeta(dict);
          const id = parseId(identifier);
          const address = id.address.text;
          if (meta.hasSeed) {
            assert.equal(meta.matches(parseId(`${meta.seed as string}x@${address}`)), false);
            assert.equal(meta.matches(parseId(`${(meta.seed as string).toUpperCase()}@${address}`)), false);
            assert.equal(meta.matches(parseId(address)), false, 'ID without a name');
          } else {
            assert.equal(meta.matches(parseId(`someone@${address}`)), false);
          }
        });
      }

      if (dict['fingerprint'] !== undefined) {
        it('a tampered fingerprint makes the meta invalid and matching fail', () => {
          const tampered = parseMeta(tamperedFingerprint(dict));
          assert.equal(tampered.isValid(), false);
          for (const identifier of ids.values()) assert.equal(tampered.matches(parseId(identifier)), false);
          // a tampered seed does not verify either
          const reseeded = parseMeta({ ...dict, seed: `${dict['seed'] as string}x` });
          assert.equal(reseeded.isValid(), false);
          for (const identifier of ids.values()) {
            const address = parseId(identifier).address.text;
            assert.equal(reseeded.matches(parseId(`${dict['seed'] as string}x@${address}`)), false);
          }
        });
      }
    });
  }
});

describe('ids-and-metas.json: specifics', () => {
  it('V1, V2 and V8 use the legacy `version` field, V7/V12a an integer `type`', () => {
    for (const id of ['V1', 'V2', 'V8.gsp-s001', 'V8.gsp-s002']) {
      const dict = metaDict(vectorById(FILE, id));
      assert.equal(dict['type'], undefined, id);
      assert.equal(parseMeta(dict).type, MetaType.MKM, id);
    }
    for (const id of ['V7.python', 'V7.objc', 'V12a']) {
      assert.equal(metaDict(vectorById(FILE, id))['type'], 1, id);
    }
  });

  it('V1: the PKCS#1 body under a PUBLIC KEY label loads (prefix 30 81 89 02 81 81 00 b0)', () => {
    const vector = vectorById(FILE, 'V1');
    const key = parseMeta(metaDict(vector)).key;
    assert.ok(key instanceof RsaPublicKey);
    const pem = (metaDict(vector)['key'] as Dict)['data'] as string;
    const body = base64Decode(pem.replace(/-----[^-]+-----/g, ''));
    assert.equal(hexEncode(body.subarray(0, 8)), vector.expected?.['public_key_der_prefix_hex']);
    assert.equal(key.keyObject.asymmetricKeyDetails?.modulusLength, 1024);
  });

  it('V7: the private keys reproduce the fingerprints byte-for-byte (RSA PKCS#1 v1.5 is deterministic)', () => {
    for (const id of ['V7.python', 'V7.objc']) {
      const vector = vectorById(FILE, id);
      const privateKey = parsePrivateKey(vector.input?.['private_key']);
      const meta = parseMeta(metaDict(vector));
      assert.ok(privateKey.publicKey.equals(meta.key), id);
      const created = createMeta(MetaType.MKM, privateKey, 'moky');
      assert.deepEqual(created.fingerprint, meta.fingerprint, id);
      for (const identifier of expectedIds(vector).values())
        assert.equal(created.matches(parseId(identifier)), true);
    }
  });

  it('V7: the JSON texts as fed to the Java parser (escaped slashes, trailing newline) parse identically', () => {
    for (const id of ['V7.python', 'V7.objc']) {
      const vector = vectorById(FILE, id);
      const fromText = parseMeta(JSON.parse(vector.input?.['meta_json_text'] as string));
      assert.equal(fromText.isValid(), true, id);
      assert.ok(fromText.key.equals(parseMeta(metaDict(vector)).key), id);
    }
  });

  it('metas with the same seed do not match each other’s IDs (V7.python / V7.objc / V12a are all "moky")', () => {
    const group = ['V7.python', 'V7.objc', 'V12a'].map((id) => vectorById(FILE, id));
    for (const a of group) {
      const meta = parseMeta(metaDict(a));
      for (const b of group) {
        if (a === b) continue;
        for (const identifier of expectedIds(b).values()) {
          assert.equal(meta.matches(parseId(identifier)), false, `${a.id} vs ${identifier}`);
        }
      }
    }
  });

  it('V8: the 0x88 station IDs map to STATION and are not broadcast', () => {
    for (const id of ['V8.gsp-s001', 'V8.gsp-s002']) {
      const vector = vectorById(FILE, id);
      const station = parseId(vector.expected?.['identifier']);
      assert.equal(station.address.network, 0x88);
      assert.equal(station.type, EntityType.STATION);
      assert.equal(station.type, vector.expected?.['entity_type_after_legacy_mapping']);
      assert.equal(station.isStation, true);
      assert.equal(station.isBroadcast, false);
      // §1.3 predicates: a station is a user-kind entity (bit 0 clear), not a group
      assert.equal(station.isUser, true);
      assert.equal(station.isGroup, false);
      // the profile stored next to the meta names the same ID
      assert.equal((vector.input?.['profile'] as Dict)['ID'], station.string);
    }
  });

  it('V1 / V2 / V7 with the legacy 0x08 byte are USERs', () => {
    for (const id of ['V1', 'V2', 'V7.python', 'V7.objc', 'V12a']) {
      for (const [network, identifier] of expectedIds(vectorById(FILE, id))) {
        if (network !== 0x08) continue;
        const user = parseId(identifier);
        assert.equal(user.address.network, 0x08);
        assert.equal(user.type, EntityType.USER, identifier);
        assert.equal(user.isUser, true);
        assert.equal(user.isGroup, false);
        assert.equal(user.isBroadcast, false);
      }
    }
  });

  it('V12a: the high-S ECC fingerprint is valid for us but rejected by noble’s default verify', () => {
    const vector = vectorById(FILE, 'V12a');
    const meta = parseMeta(metaDict(vector));
    assert.ok(meta.key instanceof EccPublicKey);
    const fingerprint = meta.fingerprint as Uint8Array;
    const seed = utf8Encode('moky');
    assert.equal(meta.isValid(), true);
    assert.equal(secp256k1.Signature.fromBytes(fingerprint, 'der').hasHighS(), true);
    // the point in the SPKI PEM is the public half of the vector's private key
    const point = secp256k1.getPublicKey(
      Buffer.from(vector.input?.['private_key_hex'] as string, 'hex'),
      false,
    );
    assert.deepEqual(meta.key.point, point);
    // noble with the defaults (sha256 prehash, lowS: true) rejects; with lowS: false it accepts
    let defaultVerify: boolean;
    try {
      defaultVerify = secp256k1.verify(fingerprint, seed, point, { format: 'der' });
    } catch {
      defaultVerify = false;
    }
    assert.equal(defaultVerify, false);
    assert.equal(secp256k1.verify(fingerprint, seed, point, { format: 'der', lowS: false }), true);
    // the low-S twin (s' = n - s) is accepted by both
    const sig = secp256k1.Signature.fromBytes(fingerprint, 'der');
    const n = secp256k1.Point.CURVE().n;
    const twin = new secp256k1.Signature(sig.r, n - sig.s).toBytes('der');
    assert.equal(secp256k1.verify(twin, seed, point, { format: 'der' }), true);
    const lowMeta = parseMeta({ ...metaDict(vector), fingerprint: base64Encode(twin) });
    assert.equal(lowMeta.isValid(), true);
    // but it is another fingerprint, hence another address
    for (const identifier of expectedIds(vector).values())
      assert.equal(lowMeta.matches(parseId(identifier)), false);
  });

  it('V12a: a fresh ECC MKM meta from the same private key is valid but generates other IDs', () => {
    const vector = vectorById(FILE, 'V12a');
    const privateKey = new EccPrivateKey(Buffer.from(vector.input?.['private_key_hex'] as string, 'hex'));
    const fresh = createMeta(MetaType.MKM, privateKey, 'moky');
    assert.equal(fresh.isValid(), true);
    const own = parseId(`moky@${fresh.generateAddress(0x08).text}`);
    assert.equal(fresh.matches(own), true);
    for (const identifier of expectedIds(vector).values())
      assert.equal(fresh.matches(parseId(identifier)), false);
  });

  describe('V12b.meta (ETH)', () => {
    const vector = vectorById(FILE, 'V12b.meta');
    const dict = metaDict(vector);
    const identifier = vector.expected?.['identifier'] as string;

    it('generates the EIP-55 ETH ID, has no seed, and matches it', () => {
      const meta = parseMeta(dict);
      assert.equal(meta.type, MetaType.ETH);
      assert.equal(meta.hasSeed, false);
      assert.equal(meta.seed, undefined);
      assert.equal(meta.fingerprint, undefined);
      assert.equal(vector.expected?.['has_seed'], false);
      assert.equal(meta.isValid(), true);
      const generated = meta.generateAddress(EntityType.USER);
      assert.equal(generated.kind, 'eth');
      assert.equal(generated.text, identifier);
      const id = parseId(identifier);
      assert.equal(id.name, undefined);
      assert.equal(id.type, EntityType.USER);
      assert.equal(meta.matches(id), true);
    });

    it('does not match the lowercased (or uppercased) address, nor a named ID', () => {
      const meta = parseMeta(dict);
      const lower = `0x${identifier.slice(2).toLowerCase()}`;
      const upper = `0x${identifier.slice(2).toUpperCase()}`;
      assert.notEqual(lower, identifier);
      assert.equal(meta.matches(parseId(lower)), false);
      assert.equal(meta.matches(parseId(upper)), false);
      assert.equal(meta.matches(parseId(`eth@${identifier}`)), false);
    });

    it('the SPKI PEM encoding of the same key generates the same ID', () => {
      const pemKey = { ...(dict['key'] as Dict), data: vector.input?.['public_key_spki_pem'] };
      const meta = parseMeta({ ...dict, key: pemKey });
      assert.equal(meta.isValid(), true);
      assert.equal(meta.matches(parseId(identifier)), true);
    });

    it('another key does not generate it', () => {
      const other = metaDict(vectorById(FILE, 'V12a'))['key'];
      const meta = parseMeta({ ...dict, key: other });
      assert.equal(meta.isValid(), true);
      assert.equal(meta.matches(parseId(identifier)), false);
    });

    it('an ETH meta carrying a seed and fingerprint is not valid', () => {
      const v12a = metaDict(vectorById(FILE, 'V12a'));
      const meta = parseMeta({ ...dict, seed: v12a['seed'], fingerprint: v12a['fingerprint'] });
      assert.equal(meta.isValid(), false);
      assert.equal(meta.matches(parseId(identifier)), false);
    });
  });
});

describe('parseMeta: types, rejections, output form', () => {
  const v2 = metaDict(vectorById(FILE, 'V2'));
  const v2Id = parseId(vectorById(FILE, 'V2').expected?.['identifier']);
  const v12b = metaDict(vectorById(FILE, 'V12b.meta'));
  const v12bId = parseId(vectorById(FILE, 'V12b.meta').expected?.['identifier']);
  const { version: _version, ...v2Bare } = v2;

  it('accepts the MKM aliases as `type` and as legacy `version`', () => {
    for (const alias of ['mkm', 'MKM', '1', 1]) {
      for (const field of ['type', 'version']) {
        const meta = parseMeta({ ...v2Bare, [field]: alias });
        assert.equal(meta.type, MetaType.MKM, `${field}=${String(alias)}`);
        assert.equal(meta.isValid(), true);
        assert.equal(meta.matches(v2Id), true);
      }
    }
  });

  it('accepts the ETH aliases', () => {
    const { type: _type, version: _v, ...bare } = v12b;
    for (const alias of ['eth', 'ETH', '4', 4]) {
      const meta = parseMeta({ ...bare, type: alias });
      assert.equal(meta.type, MetaType.ETH, String(alias));
      assert.equal(meta.matches(v12bId), true);
    }
  });

  it('accepts the BTC alias and generates a BTC-style address over the key data', () => {
    const { type: _type, version: _v, ...bare } = v12b;
    const meta = parseMeta({ ...bare, type: 'btc' });
    assert.equal(meta.type, MetaType.BTC);
    assert.equal(meta.isValid(), true);
    const address = meta.generateAddress(0);
    assert.equal(address.kind, 'btc');
    assert.equal(address.text, btcAddress((meta.key as EccPublicKey).point, 0).text);
    assert.equal(meta.matches(parseId(address.text)), true);
    assert.equal(meta.matches(v12bId), false);
  });

  it('`type` wins over `version`', () => {
    const meta = parseMeta({ ...v12b, type: 4, version: 1 });
    assert.equal(meta.type, MetaType.ETH);
  });

  it('rejects unknown types with BAD_META', () => {
    for (const type of [0, 3, 5, 'ExBTC', 'ExETH', 'rsa', 'Mkm', '01', 1.5, null, true, {}, []]) {
      throwsCode(() => parseMeta({ ...v2Bare, type }), 'BAD_META');
    }
    throwsCode(() => parseMeta(v2Bare), 'BAD_META'); // neither type nor version
  });

  it('rejects non-dictionaries with BAD_META', () => {
    for (const value of [null, undefined, 'meta', 1, [v2]]) throwsCode(() => parseMeta(value), 'BAD_META');
  });

  it('rejects a meta without key with BAD_META', () => {
    const { key: _key, ...keyless } = v2;
    throwsCode(() => parseMeta(keyless), 'BAD_META');
  });

  it('rejects a meta with only one of seed / fingerprint with BAD_META', () => {
    const { seed: _seed, ...noSeed } = v2;
    const { fingerprint: _fp, ...noFingerprint } = v2;
    throwsCode(() => parseMeta(noSeed), 'BAD_META');
    throwsCode(() => parseMeta(noFingerprint), 'BAD_META');
    throwsCode(() => parseMeta({ ...v2, seed: '' }), 'BAD_META');
    throwsCode(() => parseMeta({ ...v2, fingerprint: '' }), 'BAD_META');
    throwsCode(() => parseMeta({ ...v12b, seed: 'moky' }), 'BAD_META');
  });

  it('rejects an undecodable fingerprint and a non-string seed with BAD_META', () => {
    throwsCode(() => parseMeta({ ...v2, fingerprint: 'not base64 !!!' }), 'BAD_META');
    throwsCode(() => parseMeta({ ...v2, seed: 42 }), 'BAD_META');
  });

  it('an MKM meta without seed and fingerprint parses but is not valid', () => {
    const { seed: _seed, fingerprint: _fp, ...seedless } = v2;
    const meta = parseMeta(seedless);
    assert.equal(meta.type, MetaType.MKM);
    assert.equal(meta.isValid(), false);
    assert.equal(meta.matches(v2Id), false);
  });

  it('an ETH meta with an RSA key is not valid and matches nothing', () => {
    const meta = parseMeta({ type: 4, key: v2['key'] });
    assert.equal(meta.isValid(), false);
    throwsCode(() => meta.generateAddress(EntityType.USER), 'BAD_META');
    assert.equal(meta.matches(v12bId), false);
    assert.equal(meta.matches(v2Id), false);
  });

  it('an MKM meta whose fingerprint is signed by another key is not valid', () => {
    const v1 = metaDict(vectorById(FILE, 'V1'));
    const meta = parseMeta({ ...v2, key: v1['key'] });
    assert.equal(meta.isValid(), false);
    assert.equal(meta.matches(v2Id), false);
  });

  it('toJSON emits integer type and version, the key, seed and fingerprint', () => {
    const fromAlias = parseMeta({ ...v2Bare, type: 'mkm' }).toJSON();
    assert.equal(fromAlias['type'], 1);
    assert.equal(fromAlias['version'], 1);
    assert.deepEqual(fromAlias['key'], v2['key']);
    assert.equal(fromAlias['seed'], v2['seed']);
    assert.equal(fromAlias['fingerprint'], v2['fingerprint']);
    const eth = parseMeta({ key: v12b['key'], type: 'ETH' }).toJSON();
    assert.equal(eth['type'], 4);
    assert.equal(eth['version'], 4);
    assert.equal('seed' in eth, false);
    assert.equal('fingerprint' in eth, false);
    // the output parses back to a meta generating the same IDs
    const again: Meta = parseMeta(JSON.parse(JSON.stringify(fromAlias)));
    assert.equal(again.matches(v2Id), true);
    assert.equal(parseMeta(eth).matches(v12bId), true);
  });
});

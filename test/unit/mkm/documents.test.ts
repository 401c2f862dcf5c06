/**
 * Documents: vectors/documents.json (V6 old profile without `type`, V12b.visa 2026 visa with a terminal and
 * an RSA encryption key), the signature covering only the exact `data` string, sign/verify round trips, the
 * parser's rejections, and every meta + visa pair attached in the two reference traces.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EccPrivateKey } from '../../../src/protocol/crypto/ecc.ts';
import { base64Decode, base64Encode, utf8Encode } from '../../../src/protocol/crypto/encoding.ts';
import { parsePrivateKey } from '../../../src/protocol/crypto/keys.ts';
import { RsaPrivateKey, RsaPublicKey } from '../../../src/protocol/crypto/rsa.ts';
import type { PrivateKey } from '../../../src/protocol/crypto/asymmetric-key.ts';
import {
  inferDocumentType,
  MAX_DOCUMENT_DATA_LENGTH,
  parseDocument,
  signDocument,
} from '../../../src/protocol/mkm/document.ts';
import { parseId } from '../../../src/protocol/mkm/identifier.ts';
import { createMeta, MetaType, parseMeta } from '../../../src/protocol/mkm/meta.ts';
import { isProtocolError } from '../../../src/protocol/protocol-error.ts';
import type { ProtocolErrorCode } from '../../../src/protocol/protocol-error.ts';
import { vectorById, vectorsDir } from '../../helpers/vectors.ts';

const FILE = 'documents.json';
type Dict = Record<string, unknown>;

function throwsCode(fn: () => unknown, code: ProtocolErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isProtocolError(err), `expected a ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

function metaOf(vectorId: string) {
  return parseMeta(vectorById('ids-and-metas.json', vectorId).input?.['meta']);
}

function flipByte(b64: string, index: number): string {
  const bytes = base64Decode(b64);
  bytes[index] = (bytes[index] ?? 0) ^ 0x01;
  return base64Encode(bytes);
}

describe('documents.json V6 (old profile, no `type`)', () => {
  const vector = vectorById(FILE, 'V6');
  const dict = vector.input?.['document'] as Dict;
  const meta = metaOf(vector.input?.['verify_with_meta_of'] as string);

  it('infers the type `visa` from the user ID', () => {
    assert.equal(dict['type'], undefined);
    const doc = parseDocument(dict);
    assert.equal(doc.type, 'visa');
    assert.equal(doc.type, vector.expected?.['document_type_inferred']);
    assert.equal(doc.id.string, dict['did']);
    assert.equal(doc.properties['name'], '齐天大圣');
    // a group ID would infer a bulletin; a station is a user-kind entity (bit 0 clear), so still a visa
    assert.equal(
      inferDocumentType(parseId('Group-1280719982@7oMeWadRw4qat2sL4mTdcQSDAqZSo7LH5G')),
      'bulletin',
    );
    assert.equal(parseDocument({ ...dict, did: 'gsp-s001@x5Zh9ixt8ECr59XLye1y5WWfaX4fcoaaSC' }).type, 'visa');
  });

  it('verifies with V2’s meta key over the exact data string', () => {
    const doc = parseDocument(dict);
    assert.equal(utf8Encode(doc.data).length, vector.expected?.['signed_bytes_length']);
    assert.equal(meta.matches(doc.id), true);
    assert.equal(doc.verify(meta.key), true);
    assert.equal(vector.expected?.['signature_verifies'], true);
  });

  it('does not verify with another meta key', () => {
    const doc = parseDocument(dict);
    assert.equal(doc.verify(metaOf('V1').key), false);
    assert.equal(doc.verify(metaOf('V12a').key), false);
  });

  it('a re-serialized data string (same JSON value) does not verify', () => {
    const pyStyle = '{"name": "\\u9f50\\u5929\\u5927\\u5723"}';
    assert.deepEqual(JSON.parse(pyStyle), JSON.parse(dict['data'] as string));
    assert.equal(parseDocument({ ...dict, data: pyStyle }).verify(meta.key), false);
    const spaced = JSON.stringify(JSON.parse(dict['data'] as string), null, 1);
    assert.equal(parseDocument({ ...dict, data: spaced }).verify(meta.key), false);
  });

  it('a flipped signature byte does not verify', () => {
    for (const index of [0, 64, 127]) {
      const doc = parseDocument({ ...dict, signature: flipByte(dict['signature'] as string, index) });
      assert.equal(doc.verify(meta.key), false, `byte ${index}`);
    }
  });

  it('toJSON carries both did and ID, the explicit type, and the verbatim data and signature', () => {
    const out = parseDocument(dict).toJSON();
    assert.equal(out['did'], dict['did']);
    assert.equal(out['ID'], dict['did']);
    assert.equal(out['type'], 'visa');
    assert.equal(out['data'], dict['data']);
    assert.equal(out['signature'], dict['signature']);
    assert.equal(parseDocument(JSON.parse(JSON.stringify(out))).verify(meta.key), true);
  });

  it('accepts the legacy `ID` field in place of `did`', () => {
    const { did, ...rest } = dict;
    const doc = parseDocument({ ...rest, ID: did });
    assert.equal(doc.id.string, did);
    assert.equal(doc.verify(meta.key), true);
  });
});

describe('documents.json V12b.visa (ETH user, ECC meta key, RSA visa key)', () => {
  const vector = vectorById(FILE, 'V12b.visa');
  const dict = vector.input?.['visa'] as Dict;
  const meta = metaOf(vector.input?.['verify_with_meta_of'] as string);

  it('parses as a visa with terminal AquilaRift', () => {
    const doc = parseDocument(dict);
    assert.equal(doc.type, 'visa');
    assert.equal(doc.terminal, 'AquilaRift');
    assert.equal(doc.id.string, '0x3E9003153d9A39D3f57B126b0c38513D5e289c3E');
    assert.equal(doc.id.terminal, undefined);
    assert.equal(doc.time, 1767225600.5);
    assert.equal(doc.properties['app_id'], 'chat.dim.tarsier');
  });

  it('verifies with the V12b.meta key (which matches the did), not with another key', () => {
    const doc = parseDocument(dict);
    assert.equal(meta.type, MetaType.ETH);
    assert.equal(meta.matches(doc.id), true);
    assert.equal(doc.verify(meta.key), true);
    assert.equal(doc.verify(metaOf('V12a').key), false);
    assert.equal(doc.verify(metaOf('V2').key), false);
    assert.equal(doc.verify(doc.visaKey as RsaPublicKey), false);
  });

  it('a changed data string or flipped signature byte does not verify', () => {
    const data = (dict['data'] as string).replace('Vector Tester', 'Vector Taster');
    assert.equal(parseDocument({ ...dict, data }).verify(meta.key), false);
    assert.equal(
      parseDocument({ ...dict, signature: flipByte(dict['signature'] as string, 40) }).verify(meta.key),
      false,
    );
  });

  it('its visa key is RSA and is the public half of visa_key_private_pem', () => {
    const visaKey = parseDocument(dict).visaKey;
    assert.ok(visaKey instanceof RsaPublicKey);
    assert.equal(visaKey.algorithm, vector.expected?.['visa_key_algorithm']);
    assert.equal(visaKey.canEncrypt, true);
    const privateKey = parsePrivateKey({ algorithm: 'RSA', data: vector.input?.['visa_key_private_pem'] });
    assert.equal(privateKey.publicKey.equals(visaKey), true);
    assert.equal(RsaPrivateKey.generate().publicKey.equals(visaKey), false);
    assert.equal(visaKey.equals(meta.key), false);
    // and it really pairs: encrypt to the visa key, decrypt with the private PEM
    const plaintext = utf8Encode('{"algorithm":"AES","data":"AAAA"}');
    assert.deepEqual(privateKey.decrypt(visaKey.encrypt(plaintext)), plaintext);
  });

  it('did / ID / type / terminal are outside the signature', () => {
    const variants: Dict[] = [
      {
        ...dict,
        did: 'moki@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk',
        ID: 'moki@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk',
      },
      { ...dict, did: `${dict['did'] as string}/OtherDevice` },
      { ...dict, type: 'profile' },
      { ...dict, type: 'bulletin' },
      { ...dict, terminal: 'SomewhereElse' },
    ];
    const { terminal: _terminal, type: _type, ...bare } = dict;
    variants.push(bare);
    for (const variant of variants) assert.equal(parseDocument(variant).verify(meta.key), true);
    // but the binding to an ID comes from the meta: moki's meta does not verify it
    assert.equal(parseDocument(variants[0] as Dict).verify(metaOf('V2').key), false);
    // the terminal falls back to the did's terminal when there is no outer one
    const { terminal: _t, ...noTerminal } = dict;
    assert.equal(parseDocument({ ...noTerminal, did: `${dict['did'] as string}/Phone` }).terminal, 'Phone');
    assert.equal(parseDocument(noTerminal).terminal, undefined);
  });
});

describe('signDocument round trips', () => {
  const now = 1767225600.25;
  const identities: Array<{ label: string; privateKey: PrivateKey; otherKey: PrivateKey }> = [
    { label: 'ECC', privateKey: EccPrivateKey.generate(), otherKey: EccPrivateKey.generate() },
    {
      label: 'RSA',
      privateKey: parsePrivateKey(vectorById('ids-and-metas.json', 'V7.python').input?.['private_key']),
      otherKey: RsaPrivateKey.generate(),
    },
  ];

  for (const { label, privateKey, otherKey } of identities) {
    it(`${label}: sign, serialize, parse and verify with the meta key`, () => {
      const meta = createMeta(MetaType.MKM, privateKey, 'tester');
      assert.equal(meta.isValid(), true);
      const id = parseId(`tester@${meta.generateAddress(0x00).text}`);
      assert.equal(meta.matches(id), true);
      const visaKey = RsaPrivateKey.generate().publicKey;
      const doc = signDocument(
        'visa',
        id,
        { name: 'Tester / 测试', key: visaKey.dict },
        privateKey,
        now,
        'desk',
      );
      assert.equal(doc.verify(meta.key), true);
      assert.equal(doc.verify(otherKey.publicKey), false);
      assert.equal(doc.time, now);
      assert.equal(doc.terminal, 'desk');
      assert.equal(doc.properties['type'], 'visa');

      const wire = JSON.parse(JSON.stringify(doc.toJSON())) as Dict;
      assert.equal(wire['did'], id.string);
      assert.equal(wire['ID'], id.string);
      assert.equal(wire['type'], 'visa');
      assert.equal(wire['terminal'], 'desk');
      assert.equal(typeof wire['data'], 'string');
      const parsed = parseDocument(wire);
      assert.equal(parsed.verify(meta.key), true);
      assert.equal(parsed.id, id);
      assert.equal(parsed.data, doc.data);
      assert.ok(parsed.visaKey?.equals(visaKey));
      assert.equal(parsed.properties['name'], 'Tester / 测试');

      const tampered = parseDocument({ ...wire, data: (wire['data'] as string).replace('Tester', 'Taster') });
      assert.equal(tampered.verify(meta.key), false);
    });
  }
});

describe('parseDocument rejections', () => {
  const dict = vectorById(FILE, 'V6').input?.['document'] as Dict;

  it('non-dictionaries → BAD_DOCUMENT', () => {
    for (const value of [null, undefined, 'doc', 7, [dict]])
      throwsCode(() => parseDocument(value), 'BAD_DOCUMENT');
  });

  it('missing or empty data → BAD_DOCUMENT', () => {
    const { data: _data, ...noData } = dict;
    throwsCode(() => parseDocument(noData), 'BAD_DOCUMENT');
    throwsCode(() => parseDocument({ ...dict, data: '' }), 'BAD_DOCUMENT');
    throwsCode(() => parseDocument({ ...dict, data: { name: 'x' } }), 'BAD_DOCUMENT');
  });

  it('missing or empty signature → BAD_DOCUMENT', () => {
    const { signature: _signature, ...noSignature } = dict;
    throwsCode(() => parseDocument(noSignature), 'BAD_DOCUMENT');
    throwsCode(() => parseDocument({ ...dict, signature: '' }), 'BAD_DOCUMENT');
  });

  it('missing or invalid ID → BAD_DOCUMENT', () => {
    const { did: _did, ...noId } = dict;
    throwsCode(() => parseDocument(noId), 'BAD_DOCUMENT');
    throwsCode(() => parseDocument({ ...dict, did: 'moki@' }), 'BAD_DOCUMENT');
    throwsCode(() => parseDocument({ ...dict, did: 42 }), 'BAD_DOCUMENT');
  });

  it('data longer than 64 KiB → FIELD_TOO_LARGE (64 KiB itself is accepted)', () => {
    assert.equal(MAX_DOCUMENT_DATA_LENGTH, 64 * 1024);
    throwsCode(() => parseDocument({ ...dict, data: 'x'.repeat(64 * 1024 + 1) }), 'FIELD_TOO_LARGE');
    assert.equal(parseDocument({ ...dict, data: 'x'.repeat(64 * 1024) }).data.length, 64 * 1024);
  });

  it('an undecodable signature → BAD_DOCUMENT', () => {
    for (const signature of ['not base64 at all!', 'abc*def', 'data:text/plain,hello', 42]) {
      throwsCode(() => parseDocument({ ...dict, signature }), 'BAD_DOCUMENT');
    }
  });
});

describe('reference traces: every attached visa verifies with the attached meta', () => {
  const traceDir = join(vectorsDir, 'traces');
  const traceFiles = ['sample-mtp-trace-vs-ref-station.jsonl', 'sample-mtp-trace-with-login-and-ping.jsonl'];
  interface Attachment {
    where: string;
    sender: string;
    meta: unknown;
    visa: unknown;
  }
  const attachments: Attachment[] = [];
  for (const file of traceFiles) {
    const lines = readFileSync(join(traceDir, file), 'utf8').split('\n');
    lines.forEach((line, index) => {
      if (line.trim() === '') return;
      const frame = JSON.parse(line) as { type: number; body: string };
      if (frame.type !== 2) return;
      const message = JSON.parse(frame.body) as Dict;
      if (message['visa'] === undefined && message['meta'] === undefined) return;
      attachments.push({
        where: `${file}:${index + 1}`,
        sender: message['sender'] as string,
        meta: message['meta'],
        visa: message['visa'],
      });
    });
  }

  it('finds the attachments (client handshakes and the station’s replies, in both traces)', () => {
    assert.equal(attachments.length, 16);
    const senders = new Set(attachments.map((a) => a.sender));
    assert.deepEqual([...senders].sort(), [
      '0x245481170c6E3706C0b58041136491b619070c36',
      '0x26eC4874456457BF35e2d030508c54557681Ddfe',
      'bob@16qadPbxZy1P2cfxgUdVR6dxPCjQHFyVkB',
      'bob@18e6eTCpk34DoPffY4X4ne3nySgZz57u1m',
      'local_station@wtcohRS3M3WiL1ch7KtosKLs6nNwMW8ep',
    ]);
    // the first message frame of each trace is a client handshake with meta + visa, the station answers with its own
    for (const file of traceFiles)
      assert.ok(
        attachments.some((a) => a.where === `${file}:1`),
        file,
      );
    for (const file of traceFiles)
      assert.ok(
        attachments.some((a) => a.where === `${file}:3`),
        file,
      );
  });

  for (const attachment of attachments) {
    it(`${attachment.where} (${attachment.sender})`, () => {
      assert.notEqual(attachment.meta, undefined);
      assert.notEqual(attachment.visa, undefined);
      const sender = parseId(attachment.sender);
      const meta = parseMeta(attachment.meta);
      assert.equal(meta.isValid(), true);
      assert.equal(meta.matches(sender), true);
      assert.equal(meta.type, sender.name === undefined ? MetaType.ETH : MetaType.MKM);
      const visa = parseDocument(attachment.visa);
      assert.equal(visa.type, 'visa');
      assert.equal(visa.id.string, attachment.sender);
      assert.equal(visa.verify(meta.key), true);
      // the visa carries an RSA encryption key (all these metas have ECC keys, which cannot encrypt)
      assert.ok(visa.visaKey instanceof RsaPublicKey);
      assert.equal(meta.key.canEncrypt, false);
      // negative: a visa does not verify with the key in it, nor with another sender's meta key
      assert.equal(visa.verify(visa.visaKey), false);
      for (const other of attachments) {
        if (other.sender === attachment.sender) continue;
        const otherMeta = parseMeta(other.meta);
        assert.equal(visa.verify(otherMeta.key), false, other.sender);
        assert.equal(otherMeta.matches(sender), false, other.sender);
      }
    });
  }
});

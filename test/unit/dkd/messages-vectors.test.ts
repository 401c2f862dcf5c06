/**
 * Reliable-message vectors (vectors/messages.json): parsing, signature verification with the named key
 * (and failure with a flipped byte), decryption of the upstream and constructed messages, the AES step of
 * the captured ones, attachments of the first handshakes and the byte-exact relay of V13.54 → V13.56.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PrivateKey, PublicKey } from '../../../src/protocol/crypto/asymmetric-key.ts';
import {
  base64Decode,
  base64Encode,
  hexEncode,
  utf8Decode,
  utf8Encode,
} from '../../../src/protocol/crypto/encoding.ts';
import { parsePrivateKey } from '../../../src/protocol/crypto/keys.ts';
import { symmetricKeyFromBytes } from '../../../src/protocol/crypto/symmetric-key.ts';
import type { Document } from '../../../src/protocol/mkm/document.ts';
import { parseMeta } from '../../../src/protocol/mkm/meta.ts';
import type { Meta } from '../../../src/protocol/mkm/meta.ts';
import { attachedMeta, attachedVisa, senderVerifyKeys } from '../../../src/protocol/dkd/attachments.ts';
import { ContentType } from '../../../src/protocol/dkd/content-type.ts';
import { parseContent } from '../../../src/protocol/dkd/content.ts';
import { openMessage, verifyMessage } from '../../../src/protocol/dkd/message-packer.ts';
import { parseReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import type { ReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import { isProtocolError } from '../../../src/protocol/protocol-error.ts';
import type { ProtocolErrorCode } from '../../../src/protocol/protocol-error.ts';
import { readTrace, readVectorFile, vectorById } from '../../helpers/vectors.ts';
import type { Vector } from '../../helpers/vectors.ts';

const MESSAGES = 'messages.json';
const IDS = 'ids-and-metas.json';
const KEYS = 'keys-and-signatures.json';
const STATION = 'local_station@wtcohRS3M3WiL1ch7KtosKLs6nNwMW8ep';

interface MessageExpected {
  decrypted_key_json_text?: string;
  plaintext?: string;
  iv_hex?: string;
  signed_bytes_length?: number;
  content?: Record<string, unknown>;
  envelope_type?: string;
  content_type?: number;
}

interface TraceRef {
  file: string;
  line: number;
  conn: number;
  dir: string;
}

function throwsCode(fn: () => unknown, code: ProtocolErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isProtocolError(err), `expected a ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

function vector(id: string): Vector {
  return vectorById(MESSAGES, id);
}

function messageDict(id: string): Record<string, unknown> {
  const dict = vector(id).input?.['message'];
  assert.ok(dict !== null && typeof dict === 'object', `${id} has a message`);
  return structuredClone(dict) as Record<string, unknown>;
}

function expectedOf(id: string): MessageExpected {
  return (vector(id).expected ?? {}) as MessageExpected;
}

function parsed(id: string): ReliableMessage {
  return parseReliableMessage(messageDict(id));
}

function metaOfVector(id: string): Meta {
  const meta = parseMeta(vectorById(IDS, id).input?.['meta']);
  assert.ok(meta.isValid(), `${id} meta is valid`);
  return meta;
}

function privateKeyOf(id: string): PrivateKey {
  return parsePrivateKey(vectorById(KEYS, id).input?.['private_key']);
}

/** A copy of the message dictionary with one byte of the decoded field flipped (re-encoded as base64). */
function withFlippedByte(
  dict: Record<string, unknown>,
  field: 'signature' | 'data',
  index?: number,
): ReliableMessage {
  const bytes = base64Decode(dict[field] as string);
  const at = index ?? Math.floor(bytes.length / 2);
  bytes[at] = (bytes[at] as number) ^ 0x01;
  return parseReliableMessage({ ...dict, [field]: base64Encode(bytes) });
}

/** A copy of a broadcast message with one character of the plaintext `data` changed. */
function withChangedText(dict: Record<string, unknown>): ReliableMessage {
  const data = dict['data'] as string;
  const at = data.indexOf('Hello world!');
  assert.ok(at > 0);
  return parseReliableMessage({ ...dict, data: `${data.slice(0, at)}hello world!${data.slice(at + 12)}` });
}

function assertSignatureChecks(msg: ReliableMessage, keys: readonly PublicKey[]): void {
  assert.equal(verifyMessage(msg, keys), true, 'signature verifies');
  const dict = msg.dict;
  assert.equal(verifyMessage(withFlippedByte(dict, 'signature'), keys), false, 'flipped signature byte');
  assert.equal(verifyMessage(withFlippedByte(dict, 'signature', 0), keys), false, 'flipped DER tag');
  if (msg.isBroadcast) {
    assert.equal(verifyMessage(withChangedText(dict), keys), false, 'changed plaintext data');
  } else {
    assert.equal(verifyMessage(withFlippedByte(dict, 'data'), keys), false, 'flipped data byte');
    assert.equal(verifyMessage(withFlippedByte(dict, 'data', 0), keys), false, 'flipped first data byte');
  }
  assert.equal(verifyMessage(msg, []), false, 'no candidate key');
}

/** The V13 vectors: attachments (meta / visa per sender) seen in the trace up to and including `line`. */
function traceKeysUpTo(ref: TraceRef): Map<string, { meta: Meta; visas: Document[] }> {
  const frames = readTrace(ref.file);
  const known = new Map<string, { meta: Meta; visas: Document[] }>();
  frames.slice(0, ref.line).forEach((frame) => {
    if (frame.type !== 2) return;
    const msg = parseReliableMessage(frame.body);
    const meta = attachedMeta(msg) ?? known.get(msg.sender.string)?.meta;
    if (meta === undefined) return;
    const entry = known.get(msg.sender.string) ?? { meta, visas: [] };
    const visa = attachedVisa(msg, meta);
    if (visa) entry.visas.push(visa);
    known.set(msg.sender.string, entry);
  });
  return known;
}

function traceRef(id: string): TraceRef {
  const ref = vector(id).input?.['trace'] as TraceRef | undefined;
  assert.ok(ref, `${id} names its trace frame`);
  return ref;
}

const allVectors = readVectorFile(MESSAGES).vectors;

describe('messages.json: every vector parses', () => {
  it('has the vectors the README lists', () => {
    const ids = allVectors.map((v) => v.id);
    for (const id of [
      'V4',
      'V5',
      'V12b.personal',
      'V12b.handshake',
      'V13.32',
      'V13.40',
      'V13.41',
      'V13.42',
    ]) {
      assert.ok(ids.includes(id), id);
    }
    for (const id of ['V13.43', 'V13.53', 'V13.54', 'V13.56']) assert.ok(ids.includes(id), id);
  });

  for (const v of allVectors) {
    it(`${v.id}: parseReliableMessage keeps the envelope and the dictionary`, () => {
      const dict = messageDict(v.id);
      const msg = parseReliableMessage(dict);
      assert.equal(msg.sender.string, dict['sender']);
      assert.equal(msg.receiver.string, dict['receiver']);
      assert.equal(msg.data, dict['data']);
      assert.equal(msg.signatureText, dict['signature']);
      assert.deepEqual(msg.dict, dict);
      assert.deepEqual(JSON.parse(JSON.stringify(msg)), dict, 'serializes back to the same fields');
      if (typeof v.input?.['body'] === 'string') {
        const body = v.input['body'];
        assert.deepEqual(JSON.parse(body), dict, 'the body text is the message');
        const fromBody = parseReliableMessage(body);
        assert.deepEqual(fromBody.dict, dict);
        const ref = traceRef(v.id);
        const frame = readTrace(ref.file)[ref.line - 1];
        assert.ok(frame, 'trace line exists');
        assert.equal(frame.body, body, 'the body is the trace frame byte for byte');
        assert.equal(frame.conn, ref.conn);
        assert.equal(frame.dir, ref.dir);
      }
    });
  }
});

describe('V4: moki → hulk, classic `key`, no IV', () => {
  const exp = expectedOf('V4');

  it('verifies with the moki meta key (V2) and not with a flipped byte or another key', () => {
    const msg = parsed('V4');
    assert.equal(msg.isBroadcast, false);
    assert.equal(msg.dataBytes.length, exp.signed_bytes_length);
    const moki = metaOfVector('V2');
    assert.ok(moki.matches(msg.sender));
    assertSignatureChecks(msg, senderVerifyKeys(moki, []));
    assert.equal(
      verifyMessage(msg, [metaOfVector('V1').key]),
      false,
      "hulk's key does not verify moki's message",
    );
  });

  it('the RSA step gives the expected key text and the AES step (zero IV) the plaintext', () => {
    const msg = parsed('V4');
    assert.equal(msg.iv, undefined);
    const hulk = privateKeyOf('V3.hulk');
    const candidates = msg.encryptedKeysFor(msg.receiver);
    assert.equal(candidates.length, 1);
    const keyBytes = hulk.decrypt(candidates[0] as Uint8Array);
    assert.equal(utf8Decode(keyBytes), exp.decrypted_key_json_text);
    const key = symmetricKeyFromBytes(keyBytes);
    assert.equal(key.algorithm, 'AES');
    assert.equal(utf8Decode(key.decrypt(msg.dataBytes, msg.iv)), exp.plaintext);
  });

  it('openMessage with V3.hulk gives the plaintext content', () => {
    const msg = parsed('V4');
    const opened = openMessage(msg, { privateKeys: [privateKeyOf('V3.hulk')] });
    assert.deepEqual(opened.content.dict, JSON.parse(exp.plaintext as string));
    assert.equal(opened.content.type, ContentType.TEXT);
    assert.equal(opened.content.sn, 412968873);
    assert.equal(opened.content.dict['text'], 'Hey guy!');
    assert.equal(opened.key.algorithm, 'AES');
  });

  it("openMessage with moki's private key (wrong receiver) fails with DECRYPT_FAILED", () => {
    const msg = parsed('V4');
    throwsCode(() => openMessage(msg, { privateKeys: [privateKeyOf('V3.moki')] }), 'DECRYPT_FAILED');
    throwsCode(() => openMessage(msg, { privateKeys: [] }), 'DECRYPT_FAILED');
  });
});

describe('V5: legacy passphrase key', () => {
  const exp = expectedOf('V5');

  it('verifies with the moki meta key (V2), not when modified', () => {
    assertSignatureChecks(parsed('V5'), senderVerifyKeys(metaOfVector('V2'), []));
  });

  it('the decrypted key text is the passphrase key; the AES key is the padded passphrase', () => {
    const msg = parsed('V5');
    const keyBytes = privateKeyOf('V3.hulk').decrypt(msg.encryptedKeysFor(msg.receiver)[0] as Uint8Array);
    assert.equal(utf8Decode(keyBytes), exp.decrypted_key_json_text);
    const key = symmetricKeyFromBytes(keyBytes);
    assert.equal(utf8Decode(key.decrypt(msg.dataBytes)), exp.plaintext);
    // the same key written the modern way: the passphrase padded with zero bytes to 32 bytes
    const raw = new Uint8Array(32);
    raw.set(utf8Encode('12345678'));
    const modern = symmetricKeyFromBytes(
      utf8Encode(JSON.stringify({ algorithm: 'AES', data: base64Encode(raw) })),
    );
    assert.equal(utf8Decode(modern.decrypt(msg.dataBytes)), exp.plaintext);
  });

  it('openMessage with V3.hulk gives the plaintext content', () => {
    const opened = openMessage(parsed('V5'), { privateKeys: [privateKeyOf('V3.hulk')] });
    assert.deepEqual(opened.content.dict, JSON.parse(exp.plaintext as string));
    assert.equal(opened.content.type, 1);
  });
});

describe('V12b.personal: 2026 `keys` map, top-level IV', () => {
  const exp = expectedOf('V12b.personal');

  it('verifies with the V12b.meta key; envelope type is an integer', () => {
    const msg = parsed('V12b.personal');
    const meta = metaOfVector('V12b.meta');
    assert.ok(meta.matches(msg.sender));
    assert.equal(msg.type, 1);
    assertSignatureChecks(msg, senderVerifyKeys(meta, []));
    assert.equal(verifyMessage(msg, [metaOfVector('V2').key]), false);
  });

  it('the key comes from `keys[receiver]`, the IV from the top level', () => {
    const msg = parsed('V12b.personal');
    assert.equal(msg.dict['key'], undefined);
    assert.equal(hexEncode(msg.iv as Uint8Array), exp.iv_hex);
    const candidates = msg.encryptedKeysFor(msg.receiver);
    assert.equal(candidates.length, 1);
    const keyBytes = privateKeyOf('V3.hulk').decrypt(candidates[0] as Uint8Array);
    assert.equal(utf8Decode(keyBytes), exp.decrypted_key_json_text);
    const key = symmetricKeyFromBytes(keyBytes);
    assert.equal(utf8Decode(key.decrypt(msg.dataBytes, msg.iv)), exp.plaintext);
    // without the top-level IV (zero IV) the first block comes out wrong
    let wrong: string | undefined;
    try {
      wrong = utf8Decode(key.decrypt(msg.dataBytes));
    } catch {
      wrong = undefined;
    }
    assert.notEqual(wrong, exp.plaintext);
  });

  it('openMessage with V3.hulk gives the plaintext content', () => {
    const opened = openMessage(parsed('V12b.personal'), { privateKeys: [privateKeyOf('V3.hulk')] });
    assert.deepEqual(opened.content.dict, JSON.parse(exp.plaintext as string));
    assert.equal(opened.content.time, 1767225600.5);
  });

  it('a `keys` map for another receiver yields no key material', () => {
    const dict = messageDict('V12b.personal');
    const keys = dict['keys'] as Record<string, string>;
    const entry = keys['hulk@4YeVEN3aUnvC1DNUufCq1bs9zoBSJTzVEj'] as string;
    const msg = parseReliableMessage({ ...dict, keys: { 'moki@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk': entry } });
    assert.equal(msg.encryptedKeysFor(msg.receiver).length, 0);
    throwsCode(() => openMessage(msg, { privateKeys: [privateKeyOf('V3.hulk')] }), 'NO_KEY_FOR_RECEIVER');
  });
});

/** Broadcast first handshakes with attached meta and visa. */
for (const id of ['V12b.handshake', 'V13.32', 'V13.40']) {
  describe(`${id}: broadcast handshake with attachments`, () => {
    const exp = expectedOf(id);

    it('is broadcast with plaintext data and no key material', () => {
      const msg = parsed(id);
      assert.equal(msg.isBroadcast, true);
      assert.equal(msg.dict['key'], undefined);
      assert.equal(msg.dict['keys'], undefined);
      assert.equal(msg.encryptedKeysFor(msg.receiver).length, 0);
      assert.deepEqual(msg.dataBytes, utf8Encode(msg.data), 'signed bytes are the UTF-8 of the data text');
    });

    it('the attached meta matches the sender, the visa verifies with it, the signature with the meta key', () => {
      const msg = parsed(id);
      const meta = attachedMeta(msg);
      assert.ok(meta, 'meta attached');
      assert.ok(meta.matches(msg.sender));
      const visa = attachedVisa(msg, meta);
      assert.ok(visa, 'visa attached');
      assert.ok(visa.id.isSameAs(msg.sender));
      assert.equal(visa.verify(meta.key), true);
      assert.equal(visa.type, 'visa');
      assert.ok(visa.visaKey, 'the visa carries an encryption key');
      assert.equal(visa.visaKey.canEncrypt, true);
      assertSignatureChecks(msg, senderVerifyKeys(meta, [visa]));
      assert.equal(
        verifyMessage(msg, visa.visaKey ? [visa.visaKey] : []),
        false,
        'the visa key did not sign it',
      );
    });

    it('the content is the handshake command with an integer type', () => {
      const msg = parsed(id);
      const opened = openMessage(msg, { privateKeys: [] });
      assert.equal(opened.key.algorithm, 'PLAIN');
      const content = opened.content;
      assert.equal(content.type, ContentType.COMMAND);
      assert.equal(content.command, 'handshake');
      assert.equal(content.group?.string, 'stations@everywhere');
      for (const [field, value] of Object.entries(exp.content ?? {})) {
        if (value === null) assert.equal(content.dict[field], undefined, `${field} absent`);
        else assert.deepEqual(content.dict[field], value, field);
      }
      assert.equal((JSON.parse(msg.data) as Record<string, unknown>)['type'], 136, 'content type is an int');
    });
  });
}

describe('V13.40: envelope type is a string, content type an int', () => {
  it('raw envelope `type` is "136" while `.type` is 136', () => {
    const exp = expectedOf('V13.40');
    const msg = parsed('V13.40');
    assert.equal(exp.envelope_type, '136');
    assert.equal(msg.dict['type'], exp.envelope_type);
    assert.equal(typeof msg.dict['type'], 'string');
    assert.equal(msg.type, 136);
    const content = parseContent(JSON.parse(msg.data));
    assert.equal(content.type, exp.content_type);
    assert.equal(typeof (JSON.parse(msg.data) as Record<string, unknown>)['type'], 'number');
  });

  it('the ETH meta is seedless and generates the EIP-55 sender', () => {
    const msg = parsed('V13.40');
    const meta = attachedMeta(msg);
    assert.ok(meta);
    assert.equal(meta.type, 4);
    assert.equal(meta.generateAddress(0).text, msg.sender.string);
  });
});

describe('V13: signatures verify with the keys attached earlier in the trace', () => {
  for (const v of allVectors.filter((x) => x.id.startsWith('V13.'))) {
    it(`${v.id}`, () => {
      const msg = parsed(v.id);
      const known = traceKeysUpTo(traceRef(v.id)).get(msg.sender.string);
      assert.ok(known, `a meta of ${msg.sender.string} was attached before line ${traceRef(v.id).line}`);
      assert.ok(known.meta.matches(msg.sender));
      assertSignatureChecks(msg, senderVerifyKeys(known.meta, known.visas));
      assert.equal(typeof msg.dict['type'], 'string');
      assert.equal(msg.type, Number(msg.dict['type']));
    });
  }

  it('V13.41: the station attaches its own meta and visa to its first reply', () => {
    const msg = parsed('V13.41');
    assert.equal(msg.sender.string, STATION);
    assert.equal(msg.isBroadcast, false);
    const meta = attachedMeta(msg);
    assert.ok(meta);
    assert.equal(meta.type, 1);
    const visa = attachedVisa(msg, meta);
    assert.ok(visa);
    assert.equal(visa.visaKey?.algorithm, 'RSA');
    assert.equal(verifyMessage(msg, [meta.key]), true);
    // the station's meta does not belong to the ETH user
    const other = parsed('V13.42');
    assert.equal(meta.matches(other.sender), false);
    assert.equal(verifyMessage(other, [meta.key]), false);
  });
});

describe('V13.42 / V13.53: the AES step with the session key', () => {
  const keyText = expectedOf('V13.42').decrypted_key_json_text as string;

  for (const [id, type] of [
    ['V13.42', ContentType.COMMAND],
    ['V13.53', ContentType.FORWARD],
  ] as const) {
    it(`${id}: decrypts with the top-level IV to the expected plaintext`, () => {
      const msg = parsed(id);
      const exp = expectedOf(id);
      assert.equal(msg.isBroadcast, false);
      assert.equal(msg.encryptedKeysFor(msg.receiver).length, 1, 'classic `key`');
      const key = symmetricKeyFromBytes(utf8Encode(keyText));
      const iv = msg.iv;
      assert.ok(iv);
      assert.equal(iv.length, 16);
      const plaintext = utf8Decode(key.decrypt(msg.dataBytes, iv));
      assert.equal(plaintext, exp.plaintext);
      const content = parseContent(JSON.parse(plaintext));
      assert.equal(content.type, type);
      assert.equal(msg.type, type);
      // the cached-key path of openMessage (message without key material) gives the same content
      const { key: _dropped, ...withoutKey } = msg.dict;
      const opened = openMessage(parseReliableMessage(withoutKey), { privateKeys: [], cachedKey: key });
      assert.deepEqual(opened.content.dict, JSON.parse(exp.plaintext as string));
      // a different AES key does not give the plaintext
      const other = symmetricKeyFromBytes(
        utf8Encode(JSON.stringify({ algorithm: 'AES', data: base64Encode(new Uint8Array(32)) })),
      );
      assert.throws(() =>
        openMessage(parseReliableMessage(withoutKey), { privateKeys: [], cachedKey: other }),
      );
    });
  }

  it('V13.42: the handshake restart carries the session', () => {
    const msg = parsed('V13.42');
    const key = symmetricKeyFromBytes(utf8Encode(keyText));
    const content = parseContent(JSON.parse(utf8Decode(key.decrypt(msg.dataBytes, msg.iv))));
    assert.equal(content.command, 'handshake');
    assert.equal(content.dict['session'], '0bcd66fe307706306a1a256bdf907b954dc3f02c0428b00a82be14b1af7844b8');
  });
});

describe('V13.54 vs V13.56: relay adds only `traces`', () => {
  it('every field is equal except `traces`', () => {
    const sent = parsed('V13.54');
    const relayed = parsed('V13.56');
    const { traces, ...rest } = relayed.dict;
    assert.deepEqual(rest, sent.dict);
    assert.equal(sent.dict['traces'], undefined);
    assert.ok(Array.isArray(traces));
    assert.equal(traces.length, 1);
    const entry = traces[0] as Record<string, unknown>;
    assert.equal(entry['ID'], STATION);
    assert.equal(entry['did'], STATION);
    assert.equal(typeof entry['time'], 'number');
    assert.equal(relayed.signatureText, sent.signatureText);
  });

  it('the relayed body is the sent body byte for byte, with `traces` appended', () => {
    const sentBody = vector('V13.54').input?.['body'] as string;
    const relayedBody = vector('V13.56').input?.['body'] as string;
    assert.ok(relayedBody.startsWith(sentBody.slice(0, -1)));
    assert.ok(relayedBody.slice(sentBody.length - 1).startsWith(', "traces": ['));
  });

  it('withFields reproduces the relay', () => {
    const sent = parsed('V13.54');
    const relayed = parsed('V13.56');
    assert.deepEqual(sent.withFields({ traces: relayed.dict['traces'] }).dict, relayed.dict);
  });
});

/**
 * Malformed input: every rejection is a ProtocolError with a stable code, never a crash and never a silent
 * acceptance. Ends with a seeded fuzz over mutations of real trace bodies.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { PublicKey } from '../../../src/protocol/crypto/asymmetric-key.ts';
import { base64Decode, base64Encode } from '../../../src/protocol/crypto/encoding.ts';
import { ANYONE } from '../../../src/protocol/mkm/identifier.ts';
import { attachedMeta, attachedVisa, senderVerifyKeys } from '../../../src/protocol/dkd/attachments.ts';
import { parseContentType } from '../../../src/protocol/dkd/content-type.ts';
import { parseContent } from '../../../src/protocol/dkd/content.ts';
import { openMessage, verifyMessage } from '../../../src/protocol/dkd/message-packer.ts';
import { DEFAULT_MESSAGE_LIMITS, parseReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import type { ReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import { isProtocolError, ProtocolError } from '../../../src/protocol/protocol-error.ts';
import type { ProtocolErrorCode } from '../../../src/protocol/protocol-error.ts';
import { readTrace, vectorById, vectorsDir } from '../../helpers/vectors.ts';
import { createPrng } from '../../helpers/seeded-prng.ts';

function throwsCode(fn: () => unknown, code: ProtocolErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isProtocolError(err), `expected a ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return true;
  });
}

function vectorMessage(id: string): Record<string, unknown> {
  return structuredClone(vectorById('messages.json', id).input?.['message']) as Record<string, unknown>;
}

/** A personal (encrypted) message: ETH user → station (V13.42). */
const personal = vectorMessage('V13.42');
/** The ETH user's first handshake with meta and visa (V13.40), and bob's (V13.32). */
const ethHandshake = vectorMessage('V13.40');
const bobHandshake = vectorMessage('V13.32');
const ethMeta = attachedMeta(parseReliableMessage(ethHandshake));
assert.ok(ethMeta);

function without(dict: Record<string, unknown>, field: string): Record<string, unknown> {
  const out = { ...dict };
  delete out[field];
  return out;
}

describe('malformed messages: parse errors', () => {
  it('not JSON → BAD_JSON', () => {
    for (const text of ['', '{', 'not json', '{"sender": }', '{"a":1}}', "{'sender':'x'}", '\u0000']) {
      throwsCode(() => parseReliableMessage(text), 'BAD_JSON');
    }
  });

  it('JSON that is not an object → BAD_MESSAGE', () => {
    for (const text of ['[]', 'null', '42', '"text"', 'true', '[{"sender":"x"}]']) {
      throwsCode(() => parseReliableMessage(text), 'BAD_MESSAGE');
    }
    for (const value of [null, undefined, [], 42, true, [personal]]) {
      throwsCode(() => parseReliableMessage(value), 'BAD_MESSAGE');
    }
  });

  it('missing or invalid sender / data / signature → BAD_MESSAGE', () => {
    for (const field of ['sender', 'data', 'signature']) {
      throwsCode(() => parseReliableMessage(without(personal, field)), 'BAD_MESSAGE');
      throwsCode(() => parseReliableMessage(JSON.stringify(without(personal, field))), 'BAD_MESSAGE');
      throwsCode(() => parseReliableMessage({ ...personal, [field]: '' }), 'BAD_MESSAGE');
      throwsCode(() => parseReliableMessage({ ...personal, [field]: 12345 }), 'BAD_MESSAGE');
      throwsCode(() => parseReliableMessage({ ...personal, [field]: null }), 'BAD_MESSAGE');
      throwsCode(() => parseReliableMessage({ ...personal, [field]: { a: 1 } }), 'BAD_MESSAGE');
    }
    for (const sender of ['not an id', 'a@b@', 'x@!!!', '@', 'bob@16qadPbxZy1P2cfxgUdVR6dxPCjQHFyVkB/']) {
      throwsCode(() => parseReliableMessage({ ...personal, sender }), 'BAD_MESSAGE');
    }
  });

  it('data longer than the limit → FIELD_TOO_LARGE', () => {
    const limits = { ...DEFAULT_MESSAGE_LIMITS, maxDataLength: 64 };
    assert.ok((personal['data'] as string).length > 64);
    throwsCode(() => parseReliableMessage(personal, limits), 'FIELD_TOO_LARGE');
    const huge = 'A'.repeat(DEFAULT_MESSAGE_LIMITS.maxDataLength + 4);
    throwsCode(() => parseReliableMessage({ ...personal, data: huge }), 'FIELD_TOO_LARGE');
    // exactly at the limit is accepted
    const atLimit = 'A'.repeat(DEFAULT_MESSAGE_LIMITS.maxDataLength);
    assert.equal(parseReliableMessage({ ...personal, data: atLimit }).data.length, atLimit.length);
  });

  it('too many `keys` entries → FIELD_TOO_LARGE; `keys` not a map → BAD_MESSAGE', () => {
    const keys: Record<string, string> = {};
    for (let i = 0; i <= DEFAULT_MESSAGE_LIMITS.maxKeys; i++) keys[`user${i}@anywhere`] = 'AAAA';
    throwsCode(() => parseReliableMessage({ ...personal, keys }), 'FIELD_TOO_LARGE');
    throwsCode(
      () =>
        parseReliableMessage(
          { ...personal, keys: { a: 'x', b: 'y' } },
          { ...DEFAULT_MESSAGE_LIMITS, maxKeys: 1 },
        ),
      'FIELD_TOO_LARGE',
    );
    for (const bad of [null, [], ['AAAA'], 'AAAA', 5]) {
      throwsCode(() => parseReliableMessage({ ...personal, keys: bad }), 'BAD_MESSAGE');
    }
  });

  it('`key` not a string → BAD_MESSAGE; an overlong `key` → FIELD_TOO_LARGE', () => {
    for (const bad of [null, 5, {}, ['AAAA']])
      throwsCode(() => parseReliableMessage({ ...personal, key: bad }), 'BAD_MESSAGE');
    throwsCode(() => parseReliableMessage({ ...personal, key: 'A'.repeat(10000) }), 'FIELD_TOO_LARGE');
  });

  it('signature longer than 2048 characters → FIELD_TOO_LARGE', () => {
    throwsCode(() => parseReliableMessage({ ...personal, signature: 'A'.repeat(2049) }), 'FIELD_TOO_LARGE');
    assert.ok(parseReliableMessage({ ...personal, signature: 'A'.repeat(2048) }));
  });

  it('an invalid group → BAD_MESSAGE; an empty group is no group', () => {
    for (const group of ['not a group', 5, {}, ['x'], 'a@b@c', '@@']) {
      throwsCode(() => parseReliableMessage({ ...personal, group }), 'BAD_MESSAGE');
    }
    assert.equal(parseReliableMessage({ ...personal, group: '' }).group, undefined);
    assert.equal(parseReliableMessage({ ...personal, group: null }).group, undefined);
  });

  it('a missing or invalid receiver is anyone@anywhere', () => {
    for (const receiver of [undefined, null, '', 5, 'not an id', {}]) {
      const dict = receiver === undefined ? without(personal, 'receiver') : { ...personal, receiver };
      const msg = parseReliableMessage(dict);
      assert.equal(msg.receiver, ANYONE);
      assert.equal(msg.receiver.string, 'anyone@anywhere');
    }
  });

  it('undecodable base64 data: dataBytes throws BAD_MESSAGE and verifyMessage is false', () => {
    const keys = senderVerifyKeys(ethMeta, []);
    assert.equal(verifyMessage(parseReliableMessage(personal), keys), true);
    const data = (personal['data'] as string).replace(/=+$/, '');
    const cut = data.slice(0, data.length - ((data.length - 1) % 4));
    assert.equal(cut.length % 4, 1);
    for (const bad of [cut, `${data.slice(0, 20)}!${data.slice(21)}`, `${data}===`, 'A']) {
      const msg = parseReliableMessage({ ...personal, data: bad });
      throwsCode(() => msg.dataBytes, 'BAD_MESSAGE');
      assert.equal(verifyMessage(msg, keys), false);
      throwsCode(() => openMessage(msg, { privateKeys: [] }), 'BAD_MESSAGE');
    }
    // truncated to a decodable length: decodes, but the signature no longer matches
    const shorter = parseReliableMessage({ ...personal, data: data.slice(0, 64) });
    assert.equal(shorter.dataBytes.length, 48);
    assert.equal(verifyMessage(shorter, keys), false);
  });

  it('undecodable signature / IV: coded errors, verifyMessage false', () => {
    const keys = senderVerifyKeys(ethMeta, []);
    const badSig = parseReliableMessage({ ...personal, signature: 'MEQ!' });
    throwsCode(() => badSig.signature, 'BAD_MESSAGE');
    assert.equal(verifyMessage(badSig, keys), false);
    const emptySig = parseReliableMessage({ ...personal, signature: 'AAAA' });
    assert.equal(verifyMessage(emptySig, keys), false);
    const badIv = parseReliableMessage({ ...personal, IV: 'not base64!' });
    throwsCode(() => badIv.iv, 'BAD_MESSAGE');
    throwsCode(() => openMessage(badIv, { privateKeys: [] }), 'BAD_MESSAGE');
  });

  it('a broadcast whose data is not a content → BAD_CONTENT', () => {
    for (const data of ['not json', '[]', '"text"', 'null', '{}', '{"type":"nonsense"}', '{"type":256}']) {
      const msg = parseReliableMessage({ ...ethHandshake, data });
      assert.equal(msg.isBroadcast, true);
      throwsCode(() => openMessage(msg, { privateKeys: [] }), 'BAD_CONTENT');
    }
  });
});

describe('malformed contents and types', () => {
  it('content without a valid type → BAD_CONTENT', () => {
    for (const value of [
      {},
      { text: 'hi' },
      { type: null },
      { type: 'nonsense' },
      { type: 256 },
      { type: -1 },
      { type: 1.5 },
      { type: '' },
      { type: {} },
      { type: 'toString' },
      { type: 'constructor' },
    ]) {
      throwsCode(() => parseContent(value), 'BAD_CONTENT');
    }
    for (const value of [null, undefined, 'text', 5, []])
      throwsCode(() => parseContent(value), 'BAD_CONTENT');
  });

  it('"text", "1", 1 (and short `T`) all parse to type 1', () => {
    for (const type of ['text', '1', 1, '0x01']) {
      const content = parseContent({ type, sn: 1, text: 'hi' });
      assert.equal(content.type, 1, JSON.stringify(type));
      assert.equal(content.dict['type'], 1);
    }
    assert.equal(parseContent({ T: 'text', N: 3 }).type, 1);
    assert.equal(parseContent({ T: 'text', N: 3 }).sn, 3);
    assert.equal(parseContentType('command'), 136);
    assert.equal(parseContentType('136'), 136);
    assert.equal(parseContentType('forward'), 255);
    assert.equal(parseContentType('1.0'), undefined);
    assert.equal(parseContentType(' 1'), undefined);
    assert.equal(parseContentType('toString'), undefined, 'no prototype lookups');
    assert.equal(parseContentType('__proto__'), undefined, 'no prototype lookups');
  });

  it('envelope types: "text", "1" and 1 all give `.type` 1; nonsense gives undefined', () => {
    for (const type of ['text', '1', 1]) assert.equal(parseReliableMessage({ ...personal, type }).type, 1);
    for (const type of ['x', {}, 300, 'constructor', '__proto__']) {
      assert.equal(parseReliableMessage({ ...personal, type }).type, undefined);
    }
  });

  it('command from `command`, else legacy `cmd`', () => {
    assert.equal(parseContent({ type: 136, cmd: 'login' }).command, 'login');
    assert.equal(parseContent({ type: 136, command: 'report', cmd: 'login' }).command, 'report');
    assert.equal(parseContent({ type: 136, command: 5 }).command, undefined);
  });
});

describe('malformed attachments', () => {
  it("another user's meta → META_MISMATCH", () => {
    const msg = parseReliableMessage({ ...ethHandshake, meta: bobHandshake['meta'] });
    throwsCode(() => attachedMeta(msg), 'META_MISMATCH');
    const bob = parseReliableMessage({ ...bobHandshake, meta: ethHandshake['meta'] });
    throwsCode(() => attachedMeta(bob), 'META_MISMATCH');
  });

  it('an invalid meta (fingerprint not over the seed) → BAD_META', () => {
    const meta = { ...(bobHandshake['meta'] as Record<string, unknown>), seed: 'eve' };
    throwsCode(() => attachedMeta(parseReliableMessage({ ...bobHandshake, meta })), 'BAD_META');
    throwsCode(() => attachedMeta(parseReliableMessage({ ...bobHandshake, meta: 'meta' })), 'BAD_META');
    // a meta type naming an Object.prototype member is not a meta type
    const odd = {
      ...(ethHandshake['meta'] as Record<string, unknown>),
      type: 'constructor',
      version: 'constructor',
    };
    throwsCode(() => attachedMeta(parseReliableMessage({ ...ethHandshake, meta: odd })), 'BAD_META');
  });

  it("another user's visa → BAD_DOCUMENT", () => {
    const msg = parseReliableMessage({ ...ethHandshake, visa: bobHandshake['visa'] });
    const meta = attachedMeta(msg);
    assert.ok(meta);
    throwsCode(() => attachedVisa(msg, meta), 'BAD_DOCUMENT');
  });

  it('a visa that does not verify → BAD_DOCUMENT', () => {
    const visa = ethHandshake['visa'] as Record<string, unknown>;
    const bobVisa = bobHandshake['visa'] as Record<string, unknown>;
    const variants = [
      { ...visa, data: (visa['data'] as string).replace('"visa"', '"Visa"') },
      { ...visa, signature: bobVisa['signature'] },
      {
        ...visa,
        signature: base64Encode(
          base64Decode(visa['signature'] as string).map((b, i) => (i === 10 ? b ^ 1 : b)),
        ),
      },
    ];
    for (const variant of variants) {
      const msg = parseReliableMessage({ ...ethHandshake, visa: variant });
      const meta = attachedMeta(msg);
      assert.ok(meta);
      throwsCode(() => attachedVisa(msg, meta), 'BAD_DOCUMENT');
    }
    // verifying with another meta key fails as well
    const bob = parseReliableMessage(bobHandshake);
    throwsCode(
      () =>
        attachedVisa(
          parseReliableMessage(ethHandshake),
          attachedMeta(bob) as NonNullable<ReturnType<typeof attachedMeta>>,
        ),
      'BAD_DOCUMENT',
    );
  });

  it('a visa that is not a document → BAD_DOCUMENT', () => {
    for (const visa of [
      'visa',
      5,
      [],
      {},
      { did: ethHandshake['sender'] },
      { did: ethHandshake['sender'], data: 'x', signature: '!!' },
    ]) {
      const msg = parseReliableMessage({ ...ethHandshake, visa });
      throwsCode(() => attachedVisa(msg, ethMeta), 'BAD_DOCUMENT');
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Seeded fuzz

/** Seeded PRNG (sfc32, shared test helper) as a function returning floats in [0, 1). */
const prng = (seed: number): (() => number) => createPrng(seed).next;

const bodies: string[] = [];
const knownKeys = new Map<string, PublicKey[]>();
for (const file of readdirSync(join(vectorsDir, 'traces'))
  .filter((n) => n.endsWith('.jsonl'))
  .sort()) {
  for (const frame of readTrace(file)) {
    if (frame.type !== 2) continue;
    bodies.push(frame.body);
    const msg = parseReliableMessage(frame.body);
    const meta = attachedMeta(msg);
    if (meta && !knownKeys.has(msg.sender.string))
      knownKeys.set(msg.sender.string, senderVerifyKeys(meta, []));
  }
}

const CHARS = '{}[]":,\\ 0123456789abcdefABCDEF+/=-_.@eE\u00e9\u4e16\n';

function randomJson(rand: () => number, depth = 0): unknown {
  const r = rand();
  if (depth > 3 || r < 0.3) {
    const s = rand();
    if (s < 0.2) return null;
    if (s < 0.35) return rand() < 0.5;
    if (s < 0.55) return (Math.floor(rand() * 1e6) * (rand() < 0.2 ? -1 : 1)) / (rand() < 0.3 ? 7 : 1);
    let str = '';
    const len = Math.floor(rand() * 24);
    for (let i = 0; i < len; i++) str += CHARS[Math.floor(rand() * CHARS.length)];
    return str;
  }
  if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => randomJson(rand, depth + 1));
  const out: Record<string, unknown> = {};
  const fields = [
    'sender',
    'receiver',
    'data',
    'signature',
    'key',
    'keys',
    'meta',
    'visa',
    'type',
    'group',
    'IV',
    'F',
    'K',
    'x',
  ];
  for (let i = Math.floor(rand() * 6); i > 0; i--)
    out[fields[Math.floor(rand() * fields.length)] as string] = randomJson(rand, depth + 1);
  return out;
}

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)] as T;
}

type Mutation = { kind: string; input: unknown };

function mutate(rand: () => number, body: string): Mutation {
  const choice = Math.floor(rand() * 7);
  switch (choice) {
    case 0:
      return { kind: 'truncate', input: body.slice(0, Math.floor(rand() * body.length)) };
    case 1: {
      const chars = [...body];
      for (let n = 1 + Math.floor(rand() * 5); n > 0; n--)
        chars[Math.floor(rand() * chars.length)] = pick(rand, [...CHARS]);
      return { kind: 'flip-chars', input: chars.join('') };
    }
    case 2: {
      const dict = JSON.parse(body) as Record<string, unknown>;
      const fields = Object.keys(dict);
      for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) delete dict[pick(rand, fields)];
      return { kind: 'delete-fields', input: rand() < 0.5 ? JSON.stringify(dict) : dict };
    }
    case 3:
      return {
        kind: 'random-json',
        input: rand() < 0.5 ? JSON.stringify(randomJson(rand)) : randomJson(rand),
      };
    case 4: {
      const dict = JSON.parse(body) as Record<string, unknown>;
      const field = pick(rand, [...Object.keys(dict), 'keys', 'group', 'K', 'V', 'D']);
      dict[field] = randomJson(rand);
      return { kind: 'replace-field', input: JSON.stringify(dict) };
    }
    case 5: {
      // nested damage: inside meta / visa / keys
      const dict = JSON.parse(body) as Record<string, unknown>;
      for (const field of ['meta', 'visa']) {
        const inner = dict[field];
        if (inner !== null && typeof inner === 'object') {
          const innerDict = inner as Record<string, unknown>;
          const key = pick(rand, [...Object.keys(innerDict), 'key', 'data']);
          if (rand() < 0.5) delete innerDict[key];
          else innerDict[key] = randomJson(rand);
        }
      }
      if (rand() < 0.3)
        dict['keys'] = { [String(dict['receiver'])]: randomJson(rand), digest: randomJson(rand) };
      return { kind: 'nested', input: JSON.stringify(dict) };
    }
    default: {
      // flip characters inside data or signature only: must parse, must not verify
      const dict = JSON.parse(body) as Record<string, unknown>;
      const field = rand() < 0.5 ? 'data' : 'signature';
      const chars = [...(dict[field] as string)];
      const at = Math.floor(rand() * chars.length);
      chars[at] = chars[at] === 'A' ? 'B' : 'A';
      dict[field] = chars.join('');
      return { kind: 'flip-signed', input: JSON.stringify(dict) };
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function exercise(msg: ReliableMessage): void {
  const meta = attachedMeta(msg);
  if (meta) attachedVisa(msg, meta);
  msg.encryptedKeysFor(msg.receiver, ['t']);
  void msg.iv;
  if (msg.isBroadcast) openMessage(msg, { privateKeys: [] });
}

describe('seeded fuzz over trace bodies', () => {
  it('2,000 mutations only ever throw ProtocolError', () => {
    assert.equal(bodies.length, 72);
    const rand = prng(0x5eed1234);
    const counts = new Map<string, number>();
    let parsedCount = 0;
    let rejectedBySignature = 0;
    for (let i = 0; i < 2000; i++) {
      const original = pick(rand, bodies);
      const { kind, input } = mutate(rand, original);
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      let msg: ReliableMessage;
      try {
        msg = parseReliableMessage(input);
      } catch (err) {
        assert.ok(err instanceof ProtocolError, `#${i} ${kind}: parse threw ${String(err)}`);
        continue;
      }
      parsedCount++;
      const keys = knownKeys.get(msg.sender.string) ?? [];
      let verified = false;
      try {
        verified = verifyMessage(msg, keys);
      } catch (err) {
        assert.fail(`#${i} ${kind}: verifyMessage threw ${String(err)}`);
      }
      if (kind === 'flip-signed') {
        const before = parseReliableMessage(original);
        let changed = true;
        try {
          changed =
            !sameBytes(msg.dataBytes, before.dataBytes) || !sameBytes(msg.signature, before.signature);
        } catch (err) {
          assert.ok(err instanceof ProtocolError, `#${i} ${kind}: ${String(err)}`);
        }
        if (changed) {
          assert.equal(verified, false, `#${i}: a changed data/signature must not verify`);
          rejectedBySignature++;
        }
      }
      try {
        exercise(msg);
      } catch (err) {
        assert.ok(err instanceof ProtocolError, `#${i} ${kind}: ${String(err)}`);
      }
    }
    assert.ok(parsedCount > 300, `${parsedCount} mutations still parsed`);
    assert.ok(rejectedBySignature > 100, `${rejectedBySignature} signature rejections`);
    for (const kind of [
      'truncate',
      'flip-chars',
      'delete-fields',
      'random-json',
      'replace-field',
      'nested',
      'flip-signed',
    ]) {
      assert.ok((counts.get(kind) ?? 0) > 150, kind);
    }
  });

  it('the unmutated bodies verify (the fuzz keys are the right ones)', () => {
    for (const body of bodies) {
      const msg = parseReliableMessage(body);
      assert.equal(verifyMessage(msg, knownKeys.get(msg.sender.string) ?? []), true);
    }
  });
});

/**
 * Our own sender and receiver pipelines: fresh identities (MKM meta with an ECC key + RSA visa, ETH meta +
 * RSA visa, MKM meta with an RSA key that also encrypts), packMessage → JSON text → parseReliableMessage →
 * verifyMessage → openMessage, the output form, broadcasts, key selection (`keys` with terminals and a
 * `digest` entry, classic `key`, cached keys), short-key input and the failure codes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PrivateKey } from '../../../src/protocol/crypto/asymmetric-key.ts';
import { EccPrivateKey } from '../../../src/protocol/crypto/ecc.ts';
import { base64Decode, base64Encode, utf8Decode, utf8Encode } from '../../../src/protocol/crypto/encoding.ts';
import { RsaPrivateKey } from '../../../src/protocol/crypto/rsa.ts';
import { AesKey } from '../../../src/protocol/crypto/symmetric-key.ts';
import { signDocument } from '../../../src/protocol/mkm/document.ts';
import type { Document } from '../../../src/protocol/mkm/document.ts';
import { EntityType } from '../../../src/protocol/mkm/entity-type.ts';
import { ANY_STATION, EVERYONE, parseId } from '../../../src/protocol/mkm/identifier.ts';
import type { ID } from '../../../src/protocol/mkm/identifier.ts';
import { createMeta, MetaType, parseMeta } from '../../../src/protocol/mkm/meta.ts';
import type { Meta } from '../../../src/protocol/mkm/meta.ts';
import { attachedMeta, attachedVisa, senderVerifyKeys } from '../../../src/protocol/dkd/attachments.ts';
import { ContentType } from '../../../src/protocol/dkd/content-type.ts';
import { compatContent } from '../../../src/protocol/dkd/content.ts';
import { openMessage, packMessage, verifyMessage } from '../../../src/protocol/dkd/message-packer.ts';
import type { PackOptions, ReceiverKey } from '../../../src/protocol/dkd/message-packer.ts';
import { parseReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import type { ReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import { isProtocolError } from '../../../src/protocol/protocol-error.ts';
import type { ProtocolErrorCode } from '../../../src/protocol/protocol-error.ts';

const NOW = 1795324955.25;

interface User {
  id: ID;
  meta: Meta;
  metaKey: PrivateKey;
  visa: Document | undefined;
  visaKey: PrivateKey | undefined;
  /** Keys that can decrypt messages to this user. */
  decryptKeys: PrivateKey[];
  /** Encryption keys for messages to this user. */
  receiverKeys: ReceiverKey[];
}

function throwsCode(fn: () => unknown, code: ProtocolErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isProtocolError(err), `expected a ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

/** An identity with `metaKey`; an RSA visa key unless `withVisa` is false. */
function makeUser(
  type: 1 | 4,
  metaKey: PrivateKey,
  seed: string | undefined,
  withVisa: boolean,
  terminal?: string,
): User {
  const meta = createMeta(type, metaKey, seed);
  assert.ok(meta.isValid());
  const address = meta.generateAddress(EntityType.USER);
  const id = parseId(seed === undefined ? address.text : `${seed}@${address.text}`);
  assert.ok(meta.matches(id));
  let visa: Document | undefined;
  let visaKey: PrivateKey | undefined;
  if (withVisa) {
    visaKey = RsaPrivateKey.generate();
    visa = signDocument(
      'visa',
      id,
      { name: seed ?? 'eth user', key: visaKey.publicKey.dict },
      metaKey,
      NOW - 60,
      terminal,
    );
    assert.ok(visa.verify(meta.key));
  }
  const decryptKeys = [visaKey, metaKey].filter((k): k is PrivateKey => k !== undefined && k.canDecrypt);
  const receiverKeys: ReceiverKey[] = decryptKeys.map((k) => ({ key: k.publicKey }));
  return { id, meta, metaKey, visa, visaKey, decryptKeys, receiverKeys };
}

const alice = makeUser(MetaType.MKM, EccPrivateKey.generate(), 'alice', true);
const eth = makeUser(MetaType.ETH, EccPrivateKey.generate(), undefined, true);
const carol = makeUser(MetaType.MKM, RsaPrivateKey.generate(), 'carol', false);

function attachmentsOf(user: User): Record<string, unknown> {
  const out: Record<string, unknown> = { meta: user.meta.toJSON() };
  if (user.visa) out['visa'] = user.visa.toJSON();
  return out;
}

function pack(
  from: User,
  to: User,
  content: Record<string, unknown>,
  extra: Partial<PackOptions> = {},
): ReliableMessage {
  return packMessage({
    sender: from.id,
    receiver: to.id,
    content,
    time: NOW,
    signer: from.metaKey,
    receiverKeys: to.receiverKeys,
    ...extra,
  });
}

/** Serialize to the wire and parse back, as a peer would. */
function wire(msg: ReliableMessage): { text: string; parsed: ReliableMessage } {
  const text = JSON.stringify(msg);
  return { text, parsed: parseReliableMessage(text) };
}

function senderKeys(user: User): ReturnType<typeof senderVerifyKeys> {
  return senderVerifyKeys(user.meta, user.visa ? [user.visa] : []);
}

const textContent = { type: ContentType.TEXT, sn: 42, time: NOW, text: 'Hello, 世界!\nsecond line' };

describe('pipeline: round trips between generated identities', () => {
  const pairs: Array<[string, User, User]> = [
    ['alice (MKM/ECC) → eth (ETH)', alice, eth],
    ['eth (ETH) → alice (MKM/ECC)', eth, alice],
    ['alice → carol (RSA meta key encrypts)', alice, carol],
    ['carol (RSA meta key signs) → eth', carol, eth],
  ];
  for (const [name, from, to] of pairs) {
    it(name, () => {
      const content = { type: 'text', sn: 7, time: NOW, text: `to ${to.id.string}` };
      const { text, parsed } = wire(pack(from, to, content, { attachments: attachmentsOf(from) }));
      assert.equal(text.includes('\n'), false);
      assert.equal(parsed.sender.string, from.id.string);
      assert.equal(parsed.receiver.string, to.id.string);
      // the receiver learns the sender's keys from the attachments
      const meta = attachedMeta(parsed);
      assert.ok(meta);
      assert.ok(meta.key.equals(from.meta.key));
      const visa = attachedVisa(parsed, meta);
      assert.equal(visa === undefined, from.visa === undefined);
      assert.equal(verifyMessage(parsed, senderVerifyKeys(meta, visa ? [visa] : [])), true);
      assert.equal(verifyMessage(parsed, senderKeys(to)), false, "the receiver's keys do not verify it");
      const opened = openMessage(parsed, { privateKeys: to.decryptKeys });
      assert.deepEqual(opened.content.dict, { ...content, type: 1 });
      assert.equal(opened.content.type, 1);
      assert.equal(opened.key.algorithm, 'AES');
      // the sender cannot read what it encrypted to someone else
      if (from.decryptKeys.length > 0) {
        throwsCode(() => openMessage(parsed, { privateKeys: from.decryptKeys }), 'DECRYPT_FAILED');
      }
    });
  }

  it('commands come out with an integer type and both `command` and `cmd`', () => {
    const content = { type: 'command', sn: 9, time: NOW, cmd: 'handshake', title: 'Hello world!' };
    const msg = pack(eth, alice, content);
    assert.equal(msg.dict['type'], ContentType.COMMAND);
    const { parsed } = wire(msg);
    const opened = openMessage(parsed, { privateKeys: alice.decryptKeys });
    assert.equal(opened.content.type, ContentType.COMMAND);
    assert.equal(typeof opened.content.dict['type'], 'number');
    assert.equal(opened.content.command, 'handshake');
    assert.equal(opened.content.dict['command'], 'handshake');
    assert.equal(opened.content.dict['cmd'], 'handshake');
    assert.deepEqual(opened.content.dict, compatContent(content));
  });

  it('a text with newlines and non-ASCII characters survives byte for byte', () => {
    const { parsed } = wire(pack(alice, eth, textContent));
    const opened = openMessage(parsed, { privateKeys: eth.decryptKeys });
    assert.equal(opened.content.dict['text'], textContent.text);
  });
});

describe('pipeline: output form', () => {
  it('integer `type`, `keys` by the bare receiver ID, top-level IV, long names, no newlines', () => {
    const msg = pack(alice, eth, textContent);
    const { text } = wire(msg);
    const dict = JSON.parse(text) as Record<string, unknown>;
    assert.equal(dict['type'], 1);
    assert.equal(typeof dict['type'], 'number');
    assert.equal(dict['sender'], alice.id.string);
    assert.equal(dict['receiver'], eth.id.string);
    assert.equal(dict['time'], NOW);
    assert.equal(dict['key'], undefined);
    assert.deepEqual(Object.keys(dict['keys'] as object), [eth.id.string]);
    assert.equal(base64Decode(dict['IV'] as string).length, 16);
    for (const short of ['F', 'R', 'W', 'T', 'G', 'K', 'D', 'V', 'M', 'P'])
      assert.equal(short in dict, false, short);
    assert.equal(text.includes('\n'), false);
    assert.equal(text.includes('\r'), false);
    assert.equal(base64Decode(dict['data'] as string).length % 16, 0);
    // the signature covers the decoded ciphertext
    assert.ok(
      alice.metaKey.publicKey.verify(
        base64Decode(dict['data'] as string),
        base64Decode(dict['signature'] as string),
      ),
    );
  });

  it('terminal keys add `ID/terminal` entries next to the bare ID', () => {
    const phone = RsaPrivateKey.generate();
    const desktop = RsaPrivateKey.generate();
    const msg = pack(alice, carol, textContent, {
      receiverKeys: [
        { key: phone.publicKey, terminal: 'phone' },
        { key: desktop.publicKey, terminal: 'desktop' },
      ],
    });
    const keys = msg.dict['keys'] as Record<string, string>;
    const bare = carol.id.string;
    assert.deepEqual(Object.keys(keys).sort(), [bare, `${bare}/desktop`, `${bare}/phone`].sort());
    // the bare entry is for the first key; each terminal entry for its own key
    const decrypt = (key: PrivateKey, entry: string): string =>
      utf8Decode(key.decrypt(base64Decode(keys[entry] as string)));
    assert.equal(decrypt(phone, bare), decrypt(phone, `${bare}/phone`));
    assert.equal(decrypt(desktop, `${bare}/desktop`), decrypt(phone, bare));
    const opened = openMessage(wire(msg).parsed, { privateKeys: [desktop], terminals: ['desktop'] });
    assert.equal(opened.content.dict['text'], textContent.text);
  });

  it('a reused symmetric key is used as given', () => {
    const key = AesKey.generate();
    const msg = pack(alice, eth, textContent, { symmetricKey: key });
    const opened = openMessage(wire(msg).parsed, { privateKeys: eth.decryptKeys });
    assert.deepEqual(opened.key.dict, key.dict);
  });

  it('a non-broadcast message without receiver keys cannot be packed', () => {
    throwsCode(() => pack(alice, eth, textContent, { receiverKeys: [] }), 'NO_KEY_FOR_RECEIVER');
  });
});

describe('pipeline: broadcast', () => {
  for (const receiver of [ANY_STATION, EVERYONE]) {
    it(`to ${receiver.string}: plaintext data, no keys, signature over the UTF-8 data`, () => {
      const content = {
        type: ContentType.COMMAND,
        sn: 1,
        time: NOW,
        command: 'handshake',
        title: 'Hello world!',
      };
      const msg = packMessage({
        sender: alice.id,
        receiver,
        content,
        time: NOW,
        signer: alice.metaKey,
        attachments: attachmentsOf(alice),
      });
      const { text, parsed } = wire(msg);
      assert.equal(text.includes('\n'), false);
      assert.equal(parsed.isBroadcast, true);
      assert.equal(parsed.dict['keys'], undefined);
      assert.equal(parsed.dict['key'], undefined);
      assert.equal(parsed.dict['IV'], undefined);
      assert.deepEqual(JSON.parse(parsed.data), compatContent(content));
      assert.ok(alice.metaKey.publicKey.verify(utf8Encode(parsed.data), base64Decode(parsed.signatureText)));
      assert.equal(verifyMessage(parsed, senderKeys(alice)), true);
      const opened = openMessage(parsed, { privateKeys: [] });
      assert.equal(opened.key.algorithm, 'PLAIN');
      assert.equal(opened.content.command, 'handshake');
      // any change to the plaintext breaks the signature
      const changed = parseReliableMessage({ ...parsed.dict, data: parsed.data.replace('Hello', 'Hallo') });
      assert.equal(verifyMessage(changed, senderKeys(alice)), false);
    });
  }

  it('a broadcast group makes the message broadcast', () => {
    const msg = packMessage({
      sender: alice.id,
      receiver: eth.id,
      group: parseId('stations@everywhere'),
      content: textContent,
      time: NOW,
      signer: alice.metaKey,
    });
    const { parsed } = wire(msg);
    assert.equal(parsed.isBroadcast, true);
    assert.equal(parsed.group?.string, 'stations@everywhere');
    assert.equal(verifyMessage(parsed, senderKeys(alice)), true);
  });
});

describe('pipeline: failures when opening', () => {
  it('a wrong RSA private key gives DECRYPT_FAILED, never a content (implicit rejection)', () => {
    const wrong = [RsaPrivateKey.generate(), carol.metaKey];
    for (let i = 0; i < 25; i++) {
      const { parsed } = wire(pack(alice, eth, { ...textContent, sn: i }));
      throwsCode(() => openMessage(parsed, { privateKeys: wrong }), 'DECRYPT_FAILED');
      // ECC keys cannot decrypt: skipped, still DECRYPT_FAILED
      throwsCode(() => openMessage(parsed, { privateKeys: [alice.metaKey, eth.metaKey] }), 'DECRYPT_FAILED');
    }
  });

  it('the wrong key and the right key together: the right one wins', () => {
    const { parsed } = wire(pack(alice, eth, textContent));
    const opened = openMessage(parsed, { privateKeys: [RsaPrivateKey.generate(), ...eth.decryptKeys] });
    assert.equal(opened.content.dict['text'], textContent.text);
  });

  it('no key material: the cached key decrypts; without a cache NO_KEY_FOR_RECEIVER', () => {
    const key = AesKey.generate();
    const msg = pack(alice, eth, textContent, { symmetricKey: key });
    const { keys: _keys, ...rest } = msg.dict;
    const bare = parseReliableMessage(JSON.stringify(rest));
    assert.equal(bare.encryptedKeysFor(bare.receiver).length, 0);
    assert.equal(verifyMessage(bare, senderKeys(alice)), true, 'key material is not signed');
    const opened = openMessage(bare, { privateKeys: eth.decryptKeys, cachedKey: key });
    assert.equal(opened.content.dict['text'], textContent.text);
    assert.equal(opened.key, key);
    throwsCode(() => openMessage(bare, { privateKeys: eth.decryptKeys }), 'NO_KEY_FOR_RECEIVER');
    // a cached key for another direction does not decrypt it
    assert.throws(
      () => openMessage(bare, { privateKeys: [], cachedKey: AesKey.generate() }),
      (err: unknown) => isProtocolError(err),
    );
  });

  it('a tampered ciphertext fails verification', () => {
    const { parsed } = wire(pack(alice, eth, textContent));
    const data = base64Decode(parsed.data);
    data[0] = (data[0] as number) ^ 0x80;
    const tampered = parseReliableMessage({ ...parsed.dict, data: base64Encode(data) });
    assert.equal(verifyMessage(tampered, senderKeys(alice)), false);
  });
});

describe('pipeline: short-key input', () => {
  function shorten(dict: Record<string, unknown>): Record<string, unknown> {
    const names: Record<string, string> = {
      sender: 'F',
      receiver: 'R',
      time: 'W',
      type: 'T',
      data: 'D',
      signature: 'V',
      key: 'K',
      keys: 'K',
      meta: 'M',
      visa: 'P',
    };
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(dict)) out[names[k] ?? k] = v;
    return out;
  }

  it('K as a map becomes `keys`; the message verifies and opens the same', () => {
    const msg = pack(alice, eth, textContent, { attachments: attachmentsOf(alice) });
    const short = shorten(msg.dict);
    assert.equal(typeof short['K'], 'object');
    assert.equal('sender' in short, false);
    const parsed = parseReliableMessage(JSON.stringify(short));
    assert.equal(parsed.sender.string, alice.id.string);
    assert.equal(parsed.receiver.string, eth.id.string);
    assert.equal(parsed.type, 1);
    assert.equal(parsed.time, NOW);
    assert.deepEqual(parsed.dict['keys'], msg.dict['keys']);
    assert.equal('K' in parsed.dict, false);
    const meta = attachedMeta(parsed);
    assert.ok(meta);
    assert.ok(attachedVisa(parsed, meta));
    assert.equal(verifyMessage(parsed, senderKeys(alice)), true);
    assert.deepEqual(
      openMessage(parsed, { privateKeys: eth.decryptKeys }).content.dict,
      compatContent(textContent),
    );
  });

  it('K as a string becomes the classic `key`', () => {
    const msg = pack(alice, carol, textContent);
    const keys = msg.dict['keys'] as Record<string, string>;
    const { keys: _keys, ...rest } = msg.dict;
    const short = shorten({ ...rest, key: keys[carol.id.string] });
    assert.equal(typeof short['K'], 'string');
    const parsed = parseReliableMessage(short);
    assert.equal(parsed.dict['key'], keys[carol.id.string]);
    assert.equal(parsed.dict['keys'], undefined);
    assert.equal(verifyMessage(parsed, senderKeys(alice)), true);
    assert.equal(
      openMessage(parsed, { privateKeys: carol.decryptKeys }).content.dict['text'],
      textContent.text,
    );
  });

  it('long names win over short ones', () => {
    const msg = pack(alice, eth, textContent);
    const parsed = parseReliableMessage({ ...msg.dict, F: eth.id.string, D: 'AAAA' });
    assert.equal(parsed.sender.string, alice.id.string);
    assert.equal(parsed.data, msg.data);
    assert.equal(verifyMessage(parsed, senderKeys(alice)), true);
  });

  it('short keys inside the content and the symmetric key are expanded', () => {
    const key = AesKey.generate();
    const content = { T: 1, N: 5, W: NOW, text: 'short' };
    const plaintext = utf8Encode(JSON.stringify(content));
    const { ciphertext, iv } = key.encrypt(plaintext);
    const keyJson = JSON.stringify({ A: 'AES', D: key.dict.data });
    const msg = packMessage({
      sender: alice.id,
      receiver: eth.id,
      content: textContent,
      time: NOW,
      signer: alice.metaKey,
      receiverKeys: eth.receiverKeys,
    });
    const dict = {
      ...msg.dict,
      data: base64Encode(ciphertext),
      IV: base64Encode(iv),
      keys: {
        [eth.id.string]: base64Encode(eth.receiverKeys[0]?.key.encrypt(utf8Encode(keyJson)) as Uint8Array),
      },
      signature: base64Encode(alice.metaKey.sign(ciphertext)),
    };
    const parsed = parseReliableMessage(dict);
    assert.equal(verifyMessage(parsed, senderKeys(alice)), true);
    const opened = openMessage(parsed, { privateKeys: eth.decryptKeys });
    assert.deepEqual(opened.key.dict, { algorithm: 'AES', data: key.dict.data });
    assert.equal(opened.content.type, 1);
    assert.equal(opened.content.sn, 5);
    assert.equal(opened.content.dict['text'], 'short');
  });
});

describe('pipeline: 2026 `keys` map with terminals and a digest entry', () => {
  const phone = RsaPrivateKey.generate();
  const desktop = RsaPrivateKey.generate();

  function terminalMessage(): ReliableMessage {
    const key = AesKey.generate();
    const msg = pack(eth, carol, textContent, {
      symmetricKey: key,
      receiverKeys: [
        { key: phone.publicKey, terminal: 'phone' },
        { key: desktop.publicKey, terminal: 'desktop' },
      ],
    });
    const keys = { ...(msg.dict['keys'] as Record<string, string>), digest: key.digest() };
    return parseReliableMessage(JSON.stringify({ ...msg.dict, keys }));
  }

  it('parses with the `digest` entry and still verifies', () => {
    const msg = terminalMessage();
    assert.equal(typeof (msg.dict['keys'] as Record<string, unknown>)['digest'], 'string');
    assert.equal(verifyMessage(msg, senderKeys(eth)), true);
  });

  it('encryptedKeysFor picks the terminal entry first, then the bare ID', () => {
    const msg = terminalMessage();
    const keys = msg.dict['keys'] as Record<string, string>;
    const bare = carol.id.string;
    const forDesktop = msg.encryptedKeysFor(carol.id, ['desktop']);
    assert.equal(forDesktop.length, 2);
    assert.equal(base64Encode(forDesktop[0] as Uint8Array), keys[`${bare}/desktop`]);
    assert.equal(base64Encode(forDesktop[1] as Uint8Array), keys[bare]);
    const viaId = msg.encryptedKeysFor(carol.id.withTerminal('desktop'));
    assert.equal(base64Encode(viaId[0] as Uint8Array), keys[`${bare}/desktop`]);
    const none = msg.encryptedKeysFor(carol.id);
    assert.deepEqual(
      none.map((b) => base64Encode(b)),
      [keys[bare]],
      'without terminals only the bare entry (never `digest`)',
    );
    assert.equal(msg.encryptedKeysFor(eth.id).length, 0);
  });

  it('the desktop key opens it only when the desktop terminal is named', () => {
    const msg = terminalMessage();
    const opened = openMessage(msg, { privateKeys: [desktop], terminals: ['desktop'] });
    assert.equal(opened.content.dict['text'], textContent.text);
    throwsCode(() => openMessage(msg, { privateKeys: [desktop] }), 'DECRYPT_FAILED');
    // the phone key is also the bare entry's key
    assert.equal(openMessage(msg, { privateKeys: [phone] }).content.dict['text'], textContent.text);
  });
});

describe('pipeline: attachments', () => {
  it('meta / visa survive JSON and re-parse with integer meta type', () => {
    const msg = wire(pack(eth, alice, textContent, { attachments: attachmentsOf(eth) })).parsed;
    const metaDict = msg.dict['meta'] as Record<string, unknown>;
    assert.equal(metaDict['type'], 4);
    assert.ok(parseMeta(metaDict).matches(eth.id));
    const meta = attachedMeta(msg);
    assert.ok(meta);
    const visa = attachedVisa(msg, meta);
    assert.ok(visa?.visaKey?.equals(eth.visaKey?.publicKey as NonNullable<User['visaKey']>['publicKey']));
  });
});

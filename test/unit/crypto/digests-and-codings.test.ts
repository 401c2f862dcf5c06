/**
 * Digests and text codings: the V11 known answers (vectors/digests-and-codings.json), md5/sha1 known
 * answers, and the tolerant decoders (base64 with whitespace, TED prefixes, data URIs, `{algorithm,data}`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keccak256, md5, ripemd160, sha1, sha256 } from '../../../src/protocol/crypto/digest.ts';
import {
  base58Decode,
  base58Encode,
  base64Decode,
  base64Encode,
  decodeTed,
  hexDecode,
  hexEncode,
  utf8Decode,
  utf8Encode,
} from '../../../src/protocol/crypto/encoding.ts';
import { isProtocolError } from '../../../src/protocol/protocol-error.ts';
import type { ProtocolErrorCode } from '../../../src/protocol/protocol-error.ts';
import { readVectorFile } from '../../helpers/vectors.ts';

interface CodingCase {
  function: string;
  input_utf8: string;
  output: string;
  output_encoding: string;
}

interface CodingFile {
  vectors: Array<{ id: string; cases: CodingCase[] }>;
}

function throwsCode(fn: () => unknown, code: ProtocolErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isProtocolError(err), `expected a ProtocolError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

const hashes: Record<string, (data: Uint8Array) => Uint8Array> = { sha256, ripemd160, keccak256 };

describe('V11 digest and coding known answers', () => {
  const file = readVectorFile<CodingFile>('digests-and-codings.json');
  const v11 = file.vectors.find((v) => v.id === 'V11');
  assert.ok(v11, 'V11 present');
  assert.ok(v11.cases.length >= 8);

  for (const c of v11.cases) {
    it(`${c.function}(${JSON.stringify(c.input_utf8.length > 16 ? c.input_utf8.slice(0, 16) + '…' : c.input_utf8)})`, () => {
      const input = utf8Encode(c.input_utf8);
      const hash = hashes[c.function];
      if (hash) {
        assert.equal(c.output_encoding, 'hex');
        assert.equal(hexEncode(hash(input)), c.output);
      } else if (c.function === 'base58') {
        assert.equal(base58Encode(input), c.output);
        assert.deepEqual(base58Decode(c.output), input);
      } else if (c.function === 'base64') {
        assert.equal(base64Encode(input), c.output);
        assert.deepEqual(base64Decode(c.output), input);
        assert.deepEqual(decodeTed(c.output), input);
      } else {
        assert.fail(`unknown function ${c.function}`);
      }
    });
  }

  it('keccak256 is original Keccak, not NIST SHA3-256', () => {
    // SHA3-256("abc") = 3a985da7…; Keccak-256("abc") = 4e03657a… (V11)
    assert.equal(hexEncode(keccak256(utf8Encode('abc'))).slice(0, 8), '4e03657a');
  });
});

describe('md5 / sha1 / sha256 known answers', () => {
  it('md5', () => {
    assert.equal(hexEncode(md5(utf8Encode('abc'))), '900150983cd24fb0d6963f7d28e17f72');
    assert.equal(hexEncode(md5(new Uint8Array(0))), 'd41d8cd98f00b204e9800998ecf8427e');
  });

  it('sha1', () => {
    assert.equal(hexEncode(sha1(utf8Encode('abc'))), 'a9993e364706816aba3e25717850c26c9cd0d89d');
    // RFC 6455 §1.3 WebSocket accept key example
    const accept = base64Encode(
      sha1(utf8Encode('dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11')),
    );
    assert.equal(accept, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('sha256 and ripemd160 of "abc"', () => {
    assert.equal(
      hexEncode(sha256(utf8Encode('abc'))),
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    assert.equal(hexEncode(ripemd160(utf8Encode('abc'))), '8eb208f7e05d987a9b044a8e98c6b087f15a0bfc');
  });

  it('digests accept subarray views', () => {
    const buf = utf8Encode('xxabcxx').subarray(2, 5);
    assert.equal(hexEncode(sha256(buf)), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(hexEncode(buf), '616263');
    assert.equal(base64Encode(buf), 'YWJj');
  });
});

describe('hex', () => {
  it('lowercase on output, case-insensitive on input, 0x prefix accepted', () => {
    const bytes = Uint8Array.of(0xde, 0xad, 0xbe, 0xef);
    assert.equal(hexEncode(bytes), 'deadbeef');
    assert.deepEqual(hexDecode('DEADbeef'), bytes);
    assert.deepEqual(hexDecode('0xdeadbeef'), bytes);
    assert.deepEqual(hexDecode(''), new Uint8Array(0));
  });

  it('bad hex -> BAD_HEX', () => {
    throwsCode(() => hexDecode('abc'), 'BAD_HEX');
    throwsCode(() => hexDecode('zz'), 'BAD_HEX');
    throwsCode(() => hexDecode('de ad'), 'BAD_HEX');
  });
});

describe('base58', () => {
  it('round-trips leading zero bytes', () => {
    const bytes = Uint8Array.of(0, 0, 1, 2, 3);
    const text = base58Encode(bytes);
    assert.ok(text.startsWith('11'));
    assert.deepEqual(base58Decode(text), bytes);
  });

  it('bad base58 -> BAD_BASE58', () => {
    throwsCode(() => base58Decode('0OIl'), 'BAD_BASE58');
    throwsCode(() => base58Decode('3oF5MJ+'), 'BAD_BASE58');
  });
});

describe('base64 tolerance', () => {
  const bytes = utf8Encode('The quick brown fox jumps over the lazy dog.');
  const b64 = base64Encode(bytes);

  it('ignores whitespace and newlines (LF, CRLF, tabs, spaces)', () => {
    const wrapped = b64.replace(/.{8}/g, '$&\n');
    assert.deepEqual(base64Decode(wrapped), bytes);
    assert.deepEqual(base64Decode(b64.replace(/.{8}/g, '$&\r\n')), bytes);
    assert.deepEqual(base64Decode(` \t${b64.slice(0, 10)} ${b64.slice(10)}\n`), bytes);
  });

  it('accepts missing padding, JSON-escaped slashes and the URL-safe alphabet', () => {
    const withSlash = Uint8Array.of(0xff, 0xff, 0xff, 0xfb, 0xef);
    const text = base64Encode(withSlash);
    assert.ok(text.includes('/') && text.includes('+'));
    assert.deepEqual(base64Decode(text.replace(/=+$/, '')), withSlash);
    assert.deepEqual(base64Decode(text.replaceAll('/', '\\/')), withSlash);
    assert.deepEqual(base64Decode(text.replaceAll('+', '-').replaceAll('/', '_')), withSlash);
    assert.deepEqual(base64Decode(''), new Uint8Array(0));
  });

  it('truncated base64 (length % 4 == 1) -> BAD_BASE64', () => {
    throwsCode(() => base64Decode('bW9reQ='), 'BAD_BASE64'); // bad padding
    throwsCode(() => base64Decode('bW9re'), 'BAD_BASE64');
    throwsCode(() => base64Decode('a'), 'BAD_BASE64');
  });

  it('invalid characters -> BAD_BASE64', () => {
    throwsCode(() => base64Decode('bW9r*Q=='), 'BAD_BASE64');
    throwsCode(() => base64Decode('bW9r+-=='), 'BAD_BASE64'); // mixed standard and URL-safe alphabets
    throwsCode(() => base64Decode('bW9reQ==bW9r'), 'BAD_BASE64'); // padding in the middle
    throwsCode(() => base64Decode('bW9reQ==='), 'BAD_BASE64');
    throwsCode(() => base64Decode('héllo'), 'BAD_BASE64');
  });
});

describe('TED (transportable encoded data)', () => {
  const bytes = Uint8Array.of(0x00, 0x01, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xff);
  const b64 = base64Encode(bytes);

  it('plain base64 (the default), with whitespace', () => {
    assert.deepEqual(decodeTed(b64), bytes);
    assert.deepEqual(decodeTed(`${b64.slice(0, 4)}\n${b64.slice(4)}`), bytes);
  });

  it('base64, base58 and hex prefixes', () => {
    assert.deepEqual(decodeTed(`base64,${b64}`), bytes);
    assert.deepEqual(decodeTed(`base58,${base58Encode(bytes)}`), bytes);
    assert.deepEqual(decodeTed(`hex,${hexEncode(bytes)}`), bytes);
    assert.deepEqual(decodeTed(`hex,${hexEncode(bytes).toUpperCase()}`), bytes);
  });

  it('RFC 2397 data URIs', () => {
    assert.deepEqual(decodeTed(`data:image/png;base64,${b64}`), bytes);
    assert.deepEqual(decodeTed(`data:image/jpeg;filename=avatar.jpg;base64,${b64}`), bytes);
    assert.deepEqual(
      decodeTed(`data:text/plain;charset=utf-8;base64,${base64Encode(utf8Encode('hi'))}`),
      utf8Encode('hi'),
    );
    throwsCode(() => decodeTed('data:text/plain,hello'), 'BAD_TED');
    throwsCode(() => decodeTed('data:image/png;base64'), 'BAD_TED');
  });

  it('{algorithm, data} objects and their JSON text', () => {
    assert.deepEqual(decodeTed({ algorithm: 'base64', data: b64 }), bytes);
    assert.deepEqual(decodeTed({ algorithm: 'base58', data: base58Encode(bytes) }), bytes);
    assert.deepEqual(decodeTed({ algorithm: 'hex', data: hexEncode(bytes) }), bytes);
    assert.deepEqual(decodeTed({ data: b64 }), bytes);
    assert.deepEqual(decodeTed(JSON.stringify({ algorithm: 'base64', data: b64 })), bytes);
    assert.deepEqual(decodeTed(JSON.stringify({ algorithm: 'hex', data: hexEncode(bytes) })), bytes);
    // JSON text with an escaped slash, as ObjC/py encoders write it
    const slashy = Uint8Array.of(0xff, 0xff, 0xff);
    assert.deepEqual(
      decodeTed(`{"algorithm":"base64","data":"${base64Encode(slashy).replaceAll('/', '\\/')}"}`),
      slashy,
    );
  });

  it('errors carry codes', () => {
    throwsCode(() => decodeTed('base32,MZXW6==='), 'BAD_TED');
    throwsCode(() => decodeTed('foo,abcd'), 'BAD_TED');
    throwsCode(() => decodeTed({ algorithm: 'base32', data: 'MZXW6===' }), 'BAD_TED');
    throwsCode(() => decodeTed({ algorithm: 'base64' }), 'BAD_TED');
    throwsCode(() => decodeTed('{not json'), 'BAD_TED');
    throwsCode(() => decodeTed(42), 'BAD_TED');
    throwsCode(() => decodeTed(null), 'BAD_TED');
    throwsCode(() => decodeTed('hex,xyz'), 'BAD_HEX');
    throwsCode(() => decodeTed('base58,0OIl'), 'BAD_BASE58');
    throwsCode(() => decodeTed('base64,a'), 'BAD_BASE64');
    throwsCode(() => decodeTed('not*base64'), 'BAD_BASE64');
  });
});

describe('UTF-8', () => {
  it('round-trips and rejects malformed bytes', () => {
    const text = '齐天大圣 Monkey King 🐒';
    assert.equal(utf8Decode(utf8Encode(text)), text);
    throwsCode(() => utf8Decode(Uint8Array.of(0xc3, 0x28)), 'BAD_JSON');
    throwsCode(() => utf8Decode(Uint8Array.of(0xff)), 'BAD_JSON');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MTP_COMMAND,
  MTP_COMMAND_RESPONSE,
  MTP_FRAGMENT_RESPONSE,
  MTP_MAX_PAGES,
  MTP_MESSAGE,
  MTP_MESSAGE_FRAGMENT,
  MTP_MESSAGE_RESPONSE,
  MTP_PROBE_INCOMPLETE,
  encodeFrame,
  encodeMtpHeader,
  generateSn,
  isMtpDataType,
  isMtpFragmentType,
  isMtpResponseType,
  parseMtpHeader,
  probeMtpHeader,
  type MtpDataType,
} from '../../../src/transport/mtp-header.ts';
import { isTransportError } from '../../../src/transport/transport-error.ts';
import { readTrace } from '../../helpers/vectors.ts';
import { traceNames } from './trace-streams.ts';

const hex = (text: string): Buffer => Buffer.from(text.replace(/[\s…]/g, ''), 'hex');
const SN = hex('0102030405060708');

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => isTransportError(err, code));
}

describe('MTP header: trace round-trip (vectors README "Trace files" 1)', () => {
  const names = traceNames();

  it('finds both trace files', () => {
    assert.ok(names.length >= 2, `trace files: ${names.join(', ')}`);
  });

  for (const name of names) {
    it(`${name}: every frame header encodes byte for byte and parses back`, () => {
      const frames = readTrace(name);
      assert.ok(frames.length > 0);
      for (const [i, f] of frames.entries()) {
        const where = `${name}:${i + 1}`;
        const sn = hex(f.sn_hex);
        const length = Buffer.byteLength(f.body, 'utf8');
        assert.ok(isMtpDataType(f.type), where);
        const type = f.type as MtpDataType;

        const encoded = encodeFrame({ type, sn, body: f.body });
        assert.equal(encoded.subarray(0, 16).toString('hex'), f.header_hex, where);
        assert.deepEqual(encoded.subarray(16), Buffer.from(f.body, 'utf8'), where);
        assert.equal(encodeMtpHeader({ type, sn, bodyLength: length }).toString('hex'), f.header_hex, where);

        const header = parseMtpHeader(hex(f.header_hex));
        assert.equal(header.headerLength, 16, where);
        assert.equal(header.type, f.type, where);
        assert.equal(header.sn.toString('hex'), f.sn_hex, where);
        assert.equal(header.bodyLength, length, where);
        assert.equal(header.pages, 1, where);
        assert.equal(header.index, 0, where);
      }
    });
  }
});

describe('MTP header: reference-station.md §2.2 examples (sn = 01…08)', () => {
  const examples: { name: string; frame: Parameters<typeof encodeFrame>[0]; bytes: string }[] = [
    {
      name: 'message with body {...}',
      frame: { type: MTP_MESSAGE, sn: SN, body: '{...}' },
      bytes: '44 49 4D 42  01 02 03 04 05 06 07 08  00 00 00 05  7B 2E 2E 2E 7D',
    },
    {
      name: 'its ack (Message Response OK)',
      frame: { type: MTP_MESSAGE_RESPONSE, sn: SN, body: 'OK' },
      bytes: '44 49 4D 43  01 02 03 04 05 06 07 08  00 00 00 02  4F 4B',
    },
    {
      name: 'PING (Command)',
      frame: { type: MTP_COMMAND, sn: SN, body: 'PING' },
      bytes: '44 49 4D 40  01 02 03 04 05 06 07 08  00 00 00 04  50 49 4E 47',
    },
    {
      name: 'PONG (Command Response)',
      frame: { type: MTP_COMMAND_RESPONSE, sn: SN, body: 'PONG' },
      bytes: '44 49 4D 41  01 02 03 04 05 06 07 08  00 00 00 04  50 4F 4E 47',
    },
    {
      name: 'fragment page 1 of 3 (24-byte header)',
      frame: { type: MTP_MESSAGE_FRAGMENT, sn: SN, pages: 3, index: 1, body: 'ab' },
      bytes: '44 49 4D 6A  01 02 03 04 05 06 07 08  00 00 00 03  00 00 00 01  00 00 00 02  61 62',
    },
  ];

  for (const { name, frame, bytes } of examples) {
    it(`${name}: encodes byte-exactly and parses back`, () => {
      const expected = hex(bytes);
      const encoded = encodeFrame(frame);
      assert.equal(encoded.toString('hex'), expected.toString('hex'));
      assert.deepEqual(encodeFrame({ ...frame, body: Buffer.from(frame.body as string) }), expected);

      const header = parseMtpHeader(expected);
      assert.equal(header.type, frame.type);
      assert.deepEqual(header.sn, SN);
      assert.equal(header.pages, frame.pages ?? 1);
      assert.equal(header.index, frame.index ?? 0);
      assert.equal(header.bodyLength, expected.length - header.headerLength);
      assert.equal(header.headerLength, frame.pages === undefined ? 16 : 24);
    });
  }
});

describe('MTP header: the six header sizes', () => {
  const cases: { size: number; fields: Parameters<typeof encodeMtpHeader>[0]; stream: boolean }[] = [
    { size: 4, fields: { type: MTP_MESSAGE }, stream: false },
    { size: 8, fields: { type: MTP_MESSAGE, bodyLength: 7 }, stream: true },
    { size: 12, fields: { type: MTP_COMMAND, sn: SN }, stream: false },
    { size: 16, fields: { type: MTP_MESSAGE_RESPONSE, sn: SN, bodyLength: 2 }, stream: true },
    { size: 20, fields: { type: MTP_MESSAGE_FRAGMENT, sn: SN, pages: 5, index: 4 }, stream: false },
    {
      size: 24,
      fields: { type: MTP_FRAGMENT_RESPONSE, sn: SN, pages: 5, index: 4, bodyLength: 2 },
      stream: true,
    },
  ];

  for (const { size, fields, stream } of cases) {
    it(`${size} bytes: encode, parse (${stream ? 'stream' : 'datagram only'})`, () => {
      const bytes = encodeMtpHeader(fields);
      assert.equal(bytes.length, size);
      assert.equal(bytes[3]! >>> 4, size / 4);
      assert.equal(bytes[3]! & 0xf, fields.type);
      const header = parseMtpHeader(bytes, { stream: false });
      assert.equal(header.headerLength, size);
      assert.equal(header.type, fields.type);
      assert.deepEqual(header.sn, fields.sn ?? Buffer.alloc(8));
      assert.equal(header.pages, fields.pages ?? 1);
      assert.equal(header.index, fields.index ?? 0);
      assert.equal(header.bodyLength, fields.bodyLength ?? -1);
      if (stream) {
        assert.deepEqual(parseMtpHeader(bytes), header);
        assert.equal(probeMtpHeader(bytes, 0, bytes.length, true), size);
      } else {
        throwsCode(() => parseMtpHeader(bytes), 'MTP_NO_BODY_LENGTH');
        throwsCode(() => parseMtpHeader(bytes, { stream: true }), 'MTP_NO_BODY_LENGTH');
        assert.ok(probeMtpHeader(bytes, 0, bytes.length, true) < 0);
      }
    });
  }

  it('a Message Response may echo a fragment’s pages/index (24-byte header)', () => {
    const frame = encodeFrame({ type: MTP_MESSAGE_RESPONSE, sn: SN, pages: 3, index: 2, body: 'OK' });
    assert.equal(frame.length, 26);
    const header = parseMtpHeader(frame);
    assert.deepEqual([header.type, header.pages, header.index, header.bodyLength], [3, 3, 2, 2]);
  });
});

describe('MTP header: rejection', () => {
  const valid = hex('44494d42 0102030405060708 00000005');

  it('every proper prefix of a valid header is incomplete, not invalid', () => {
    const fragment = encodeMtpHeader({
      type: MTP_MESSAGE_FRAGMENT,
      sn: SN,
      pages: 2,
      index: 1,
      bodyLength: 0,
    });
    for (const header of [valid, fragment]) {
      for (let n = 0; n < header.length; n++) {
        assert.equal(probeMtpHeader(header, 0, n, true), MTP_PROBE_INCOMPLETE, `prefix ${n}`);
        throwsCode(() => parseMtpHeader(header.subarray(0, n)), 'MTP_HEADER_TRUNCATED');
      }
    }
  });

  it('probes at an offset and ignores bytes after the end', () => {
    const data = Buffer.concat([Buffer.from('xx'), valid, Buffer.from('yy')]);
    assert.equal(probeMtpHeader(data, 2, data.length, true), 16);
    assert.equal(probeMtpHeader(data, 2, 17, true), MTP_PROBE_INCOMPLETE);
    assert.ok(probeMtpHeader(data, 0, data.length, true) < 0);
  });

  it('bad magic', () => {
    for (const magic of ['dim', 'DIX', 'XIM', 'DJM', '\0\0\0']) {
      const bytes = Buffer.from(valid);
      bytes.write(magic, 0, 'latin1');
      throwsCode(() => parseMtpHeader(bytes), 'MTP_BAD_HEADER');
      // already decided on the first wrong byte
      const wrong = [...magic].findIndex((c, i) => c !== 'DIM'[i]);
      assert.ok(probeMtpHeader(bytes, 0, wrong + 1, true) < 0, magic);
    }
  });

  it('header-length nibble 0 or 7..15', () => {
    for (const words of [0, 7, 8, 15]) {
      const bytes = Buffer.from(valid);
      bytes[3] = (words << 4) | MTP_MESSAGE;
      throwsCode(() => parseMtpHeader(bytes, { stream: false }), 'MTP_BAD_HEADER');
    }
  });

  it('unknown data types', () => {
    for (let type = 0; type < 16; type++) {
      const bytes = Buffer.from(valid);
      bytes[3] = 0x40 | type;
      if (type <= 3) assert.equal(parseMtpHeader(bytes).type, type);
      else throwsCode(() => parseMtpHeader(bytes), 'MTP_BAD_HEADER');
      assert.equal(isMtpDataType(type), type <= 3 || type === 0xa || type === 0xb);
    }
  });

  it('header size that does not fit the type', () => {
    throwsCode(() => parseMtpHeader(hex('44494d4a 0102030405060708 00000005')), 'MTP_BAD_HEADER');
    throwsCode(() => parseMtpHeader(hex('44494d2b 00000005')), 'MTP_BAD_HEADER');
    throwsCode(
      () => parseMtpHeader(hex('44494d62 0102030405060708 00000002 00000001 00000005')),
      'MTP_BAD_HEADER',
    );
  });

  it('bad pages/index', () => {
    const frag = (pages: number, index: number): Buffer => {
      const bytes = hex('44494d6a 0102030405060708 00000000 00000000 00000005');
      bytes.writeUInt32BE(pages, 12);
      bytes.writeUInt32BE(index, 16);
      return bytes;
    };
    assert.equal(parseMtpHeader(frag(1, 0)).pages, 1);
    assert.equal(parseMtpHeader(frag(MTP_MAX_PAGES, MTP_MAX_PAGES - 1)).index, MTP_MAX_PAGES - 1);
    for (const [pages, index] of [
      [0, 0],
      [3, 3],
      [3, 7],
      [MTP_MAX_PAGES + 1, 0],
      [0xffffffff, 1],
    ] as const) {
      throwsCode(() => parseMtpHeader(frag(pages, index)), 'MTP_BAD_HEADER');
    }
  });

  it('reads the largest 32-bit body length unsigned', () => {
    assert.equal(parseMtpHeader(hex('44494d42 0102030405060708 ffffffff')).bodyLength, 0xffffffff);
  });
});

describe('MTP header: encoder input checks', () => {
  it('sn must be 8 bytes', () => {
    for (const sn of [Buffer.alloc(0), Buffer.alloc(7), Buffer.alloc(9)]) {
      throwsCode(() => encodeFrame({ type: MTP_MESSAGE, sn, body: 'x' }), 'MTP_BAD_ARGUMENT');
      throwsCode(() => encodeMtpHeader({ type: MTP_MESSAGE, sn, bodyLength: 1 }), 'MTP_BAD_ARGUMENT');
    }
  });

  it('type must be known', () => {
    throwsCode(() => encodeFrame({ type: 5 as MtpDataType, sn: SN, body: 'x' }), 'MTP_BAD_ARGUMENT');
    throwsCode(() => encodeMtpHeader({ type: 16 as MtpDataType }), 'MTP_BAD_ARGUMENT');
  });

  it('pages/index must be consistent and allowed by the type', () => {
    throwsCode(
      () => encodeFrame({ type: MTP_MESSAGE_FRAGMENT, sn: SN, body: '', pages: 2, index: 2 }),
      'MTP_BAD_ARGUMENT',
    );
    throwsCode(
      () => encodeFrame({ type: MTP_MESSAGE_FRAGMENT, sn: SN, body: '', pages: 0 }),
      'MTP_BAD_ARGUMENT',
    );
    throwsCode(
      () => encodeFrame({ type: MTP_MESSAGE_FRAGMENT, sn: SN, body: '', pages: 1.5 }),
      'MTP_BAD_ARGUMENT',
    );
    throwsCode(
      () => encodeFrame({ type: MTP_MESSAGE, sn: SN, body: '', pages: 2, index: 1 }),
      'MTP_BAD_ARGUMENT',
    );
    throwsCode(() => encodeFrame({ type: MTP_COMMAND, sn: SN, body: '', index: 1 }), 'MTP_BAD_ARGUMENT');
    throwsCode(() => encodeMtpHeader({ type: MTP_MESSAGE_FRAGMENT, pages: 2, index: 1 }), 'MTP_BAD_ARGUMENT');
    // the defaults (1, 0) on a non-fragment type give the plain 16-byte header
    assert.equal(encodeFrame({ type: MTP_MESSAGE, sn: SN, body: '', pages: 1, index: 0 }).length, 16);
  });

  it('body length must fit 32 bits', () => {
    throwsCode(
      () => encodeMtpHeader({ type: MTP_MESSAGE, sn: SN, bodyLength: 2 ** 32 }),
      'MTP_FRAME_TOO_LARGE',
    );
    throwsCode(() => encodeMtpHeader({ type: MTP_MESSAGE, sn: SN, bodyLength: -1 }), 'MTP_BAD_ARGUMENT');
  });

  it('string bodies are UTF-8; the header counts bytes', () => {
    const body = 'héllo 世界 🚀';
    const frame = encodeFrame({ type: MTP_MESSAGE, sn: SN, body });
    assert.equal(frame.readUInt32BE(12), Buffer.byteLength(body));
    assert.equal(frame.subarray(16).toString('utf8'), body);
  });

  it('encodes an empty body', () => {
    assert.equal(
      encodeFrame({ type: MTP_COMMAND, sn: SN, body: new Uint8Array(0) }).toString('hex'),
      '44494d400102030405060708' + '00000000',
    );
  });
});

describe('MTP header: type helpers and sn generation', () => {
  it('classifies types', () => {
    assert.deepEqual(
      (
        [
          MTP_COMMAND,
          MTP_COMMAND_RESPONSE,
          MTP_MESSAGE,
          MTP_MESSAGE_RESPONSE,
          MTP_MESSAGE_FRAGMENT,
          MTP_FRAGMENT_RESPONSE,
        ] as const
      ).map((t) => [isMtpResponseType(t), isMtpFragmentType(t)]),
      [
        [false, false],
        [true, false],
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ],
    );
  });

  it('generateSn gives fresh, independent 8-byte IDs', () => {
    const sns = Array.from({ length: 5000 }, () => generateSn()); // several refills of the random pool
    const hexes = sns.map((sn) => sn.toString('hex'));
    assert.ok(sns.every((sn) => sn.length === 8));
    assert.equal(new Set(hexes).size, sns.length);
    assert.ok(!hexes.includes('0000000000000000'));
    // the caller owns each ID: writing to one must not affect the others
    for (const sn of sns.slice(0, 100)) sn.fill(0xff);
    assert.deepEqual(
      sns.slice(100).map((sn) => sn.toString('hex')),
      hexes.slice(100),
    );
  });
});

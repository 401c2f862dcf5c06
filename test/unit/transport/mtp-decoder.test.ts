import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MtpDecoder, type MtpDecoderEvent, type MtpFrame } from '../../../src/transport/mtp-decoder.ts';
import {
  MTP_COMMAND,
  MTP_FRAGMENT_RESPONSE,
  MTP_MESSAGE,
  MTP_MESSAGE_FRAGMENT,
  MTP_MESSAGE_RESPONSE,
  encodeFrame,
  encodeMtpHeader,
  type MtpDataType,
} from '../../../src/transport/mtp-header.ts';
import { isTransportError } from '../../../src/transport/transport-error.ts';
import { readTrace } from '../../helpers/vectors.ts';
import { traceNames, traceStreams } from './trace-streams.ts';
import { createPrng, randomSplit, type Prng } from '../../helpers/seeded-prng.ts';

const SEED = 0x5eed_0001;
const SN = Buffer.from('0102030405060708', 'hex');

interface Expected {
  type: number;
  sn: string;
  body: Buffer;
}

interface Stream {
  name: string;
  bytes: Buffer;
  frames: Expected[];
}

/** Per trace file, connection and direction: the concatenated wire bytes and the frames they carry. */
function expectedStreams(): Stream[] {
  return traceStreams().map((stream) => ({
    name: stream.name,
    bytes: Buffer.concat(stream.wires),
    frames: stream.frames.map((f) => ({ type: f.type, sn: f.sn_hex, body: Buffer.from(f.body, 'utf8') })),
  }));
}

function decodeAll(decoder: MtpDecoder, chunks: Iterable<Uint8Array>): MtpFrame[] {
  const out: MtpFrame[] = [];
  for (const chunk of chunks) decoder.push(chunk, out);
  return out;
}

function* bytewise(data: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i < data.length; i++) yield data.subarray(i, i + 1);
}

function assertFrames(actual: readonly MtpFrame[], expected: readonly Expected[], where: string): void {
  assert.equal(actual.length, expected.length, `${where}: frame count`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    assert.equal(a.type, e.type, `${where} #${i} type`);
    assert.equal(a.sn.toString('hex'), e.sn, `${where} #${i} sn`);
    assert.ok(a.body.equals(e.body), `${where} #${i} body`);
  }
}

function collectEvents(): { events: MtpDecoderEvent[]; onEvent: (e: MtpDecoderEvent) => void } {
  const events: MtpDecoderEvent[] = [];
  return { events, onEvent: (e) => events.push(e) };
}

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => isTransportError(err, code));
}

/** Garbage that can never contain or end with (a prefix of) "DIM". */
function plainGarbage(rng: Prng, size: number): Buffer {
  const bytes = rng.bytes(size);
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x44) bytes[i] = 0x45;
  return bytes;
}

/** Tricky garbage: near-miss magics and headers that are invalid on a stream. */
const TRICKY_GARBAGE = [
  'D',
  'DI',
  'DD',
  'DIDI',
  'DIDIM\x00',
  'DIM\x00',
  'DIM\x4f',
  'DIM\x4c',
  'DIM\x1f',
  'DIM\x70',
  'DIM\x32', // 12-byte header (no body length): not framable on a stream
  'DIM\x12',
  'DIM\x52',
  'DIM\x4a', // fragment type in a 16-byte header
  'DIM\x62', // message type in a 24-byte header
  'DIM\x6a\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x00', // pages 0
  'DIM\x6a\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x02\x00\x00\x00\x02', // index >= pages
  'xyzDIMDIM',
].map((s) => Buffer.from(s, 'latin1'));

describe('MTP decoder: trace streams (vectors README "Trace files" 2)', () => {
  const streams = expectedStreams();

  it('has one stream per trace, connection and direction', () => {
    assert.equal(streams.length, traceNames().length * 4);
    assert.equal(
      streams.reduce((n, s) => n + s.frames.length, 0),
      traceNames().reduce((n, name) => n + readTrace(name).length, 0),
    );
  });

  for (const stream of streams) {
    it(`${stream.name}: whole, 1 byte at a time, and at random split points`, () => {
      const whole = new MtpDecoder();
      assertFrames(whole.push(stream.bytes), stream.frames, `${stream.name} whole`);
      assert.equal(whole.bufferedBytes, 0);

      const continuous = new MtpDecoder();
      const { events, onEvent } = collectEvents();
      const bytewiseDecoder = new MtpDecoder({ onEvent });
      assertFrames(
        decodeAll(bytewiseDecoder, bytewise(stream.bytes)),
        stream.frames,
        `${stream.name} bytewise`,
      );
      assert.equal(bytewiseDecoder.bufferedBytes, 0);
      assert.equal(bytewiseDecoder.droppedBytes, 0);
      assert.deepEqual(events, []);

      const rng = createPrng(SEED);
      for (let iteration = 0; iteration < 300; iteration++) {
        const decoder = iteration % 2 === 0 ? new MtpDecoder() : continuous; // reused decoder: continuous stream
        const maxChunk = rng.pick([2, 17, 100, 1472, 8192]);
        const frames = decodeAll(decoder, randomSplit(stream.bytes, rng, maxChunk));
        assertFrames(frames, stream.frames, `${stream.name} split #${iteration} (seed ${SEED})`);
        assert.equal(decoder.bufferedBytes, 0);
        assert.equal(decoder.droppedBytes, 0);
      }
      assert.equal(continuous.framesDecoded, 150 * stream.frames.length);
    });
  }

  it('all header lengths are 16 and pages/index are the defaults', () => {
    for (const stream of streams) {
      for (const frame of new MtpDecoder().push(stream.bytes)) {
        assert.deepEqual([frame.headerLength, frame.pages, frame.index], [16, 1, 0]);
      }
    }
  });
});

describe('MTP decoder: framing details', () => {
  it('decodes 8-, 16- and 24-byte headers in one stream', () => {
    const noSn = Buffer.concat([encodeMtpHeader({ type: MTP_MESSAGE, bodyLength: 3 }), Buffer.from('abc')]);
    const bytes = Buffer.concat([
      noSn,
      encodeFrame({ type: MTP_MESSAGE_FRAGMENT, sn: SN, pages: 3, index: 2, body: 'xy' }),
      encodeFrame({ type: MTP_FRAGMENT_RESPONSE, sn: SN, pages: 3, index: 2, body: 'OK' }),
      encodeFrame({ type: MTP_MESSAGE_RESPONSE, sn: SN, pages: 3, index: 1, body: 'OK' }),
      encodeFrame({ type: MTP_COMMAND, sn: SN, body: '' }),
    ]);
    for (const frames of [new MtpDecoder().push(bytes), decodeAll(new MtpDecoder(), bytewise(bytes))]) {
      assert.deepEqual(
        frames.map((f) => [
          f.headerLength,
          f.type,
          f.sn.toString('hex'),
          f.pages,
          f.index,
          f.body.toString(),
        ]),
        [
          [8, MTP_MESSAGE, '0000000000000000', 1, 0, 'abc'],
          [24, MTP_MESSAGE_FRAGMENT, '0102030405060708', 3, 2, 'xy'],
          [24, MTP_FRAGMENT_RESPONSE, '0102030405060708', 3, 2, 'OK'],
          [24, MTP_MESSAGE_RESPONSE, '0102030405060708', 3, 1, 'OK'],
          [16, MTP_COMMAND, '0102030405060708', 1, 0, ''],
        ],
      );
    }
  });

  it('accepts plain Uint8Array chunks and returns copies that do not alias the input', () => {
    const wire = encodeFrame({ type: MTP_MESSAGE, sn: SN, body: 'hello' });
    const input = new Uint8Array(wire); // not a Buffer
    const [frame] = new MtpDecoder().push(input);
    assert.ok(frame);
    input.fill(0);
    assert.equal(frame.body.toString(), 'hello');
    assert.equal(frame.sn.toString('hex'), '0102030405060708');

    const decoder = new MtpDecoder();
    const chunk = Buffer.from(wire);
    assert.deepEqual(decoder.push(chunk.subarray(0, 7)), []);
    const [late] = decoder.push(chunk.subarray(7));
    chunk.fill(0);
    assert.equal(late?.body.toString(), 'hello');
  });

  it('appends to the given output array and ignores empty chunks', () => {
    const decoder = new MtpDecoder();
    const out: MtpFrame[] = [];
    assert.equal(decoder.push(new Uint8Array(0), out), out);
    decoder.push(encodeFrame({ type: MTP_MESSAGE, sn: SN, body: 'a' }), out);
    decoder.push(encodeFrame({ type: MTP_MESSAGE, sn: SN, body: 'b' }), out);
    assert.deepEqual(
      out.map((f) => f.body.toString()),
      ['a', 'b'],
    );
  });

  it('decodes a maximum-size body split into TCP-sized reads, then releases the large buffer', () => {
    const maxBodyLength = 256 * 1024;
    const body = createPrng(SEED).bytes(maxBodyLength);
    const wire = Buffer.concat([
      encodeFrame({ type: MTP_MESSAGE, sn: SN, body }),
      encodeFrame({ type: MTP_MESSAGE_RESPONSE, sn: SN, body: 'OK' }),
    ]);
    const decoder = new MtpDecoder({ maxBodyLength });
    const frames: MtpFrame[] = [];
    for (let at = 0; at < wire.length; at += 1472) {
      decoder.push(wire.subarray(at, at + 1472), frames);
      assert.ok(decoder.bufferedBytes <= 24 + maxBodyLength);
      assert.ok(decoder.bufferCapacity <= 24 + maxBodyLength);
    }
    assert.equal(frames.length, 2);
    assert.ok(frames[0]!.body.equals(body));
    assert.equal(decoder.bufferedBytes, 0);
    assert.ok(decoder.bufferCapacity <= 64 * 1024);
  });

  it('reuses a small carry-over buffer for many short frames (compaction), any split', () => {
    const rng = createPrng(SEED + 3);
    const bodies = ['OK', 'PING', 'PONG', '', 'AGAIN', 'NOOP', '12345678'];
    for (let iteration = 0; iteration < 300; iteration++) {
      const wires: Buffer[] = [];
      const expected: Expected[] = [];
      for (let i = 0; i < 40; i++) {
        const body = Buffer.from(rng.pick(bodies));
        const sn = rng.bytes(8);
        const type = rng.pick([MTP_COMMAND, MTP_MESSAGE, MTP_MESSAGE_RESPONSE] as const);
        wires.push(encodeFrame({ type, sn, body }));
        expected.push({ type, sn: sn.toString('hex'), body });
      }
      const decoder = new MtpDecoder({ maxBodyLength: 8 }); // buffer capacity at most 32 bytes
      const frames = decodeAll(decoder, randomSplit(Buffer.concat(wires), rng, rng.pick([5, 20, 40])));
      assertFrames(frames, expected, `short frames #${iteration} (seed ${SEED + 3})`);
      assert.ok(decoder.bufferCapacity <= 32);
    }
  });

  it('rejects bad options', () => {
    throwsCode(() => new MtpDecoder({ maxBodyLength: -1 }), 'MTP_BAD_ARGUMENT');
    throwsCode(() => new MtpDecoder({ maxGarbage: 1.5 }), 'MTP_BAD_ARGUMENT');
  });
});

describe('MTP decoder: resynchronisation on garbage', () => {
  const stream = expectedStreams().find((s) => s.frames.length > 3)!;
  const frameBytes: Buffer[] = [];
  {
    // split the stream back into its frames (header length 16 + body)
    let at = 0;
    for (const f of stream.frames) {
      frameBytes.push(stream.bytes.subarray(at, at + 16 + f.body.length));
      at += 16 + f.body.length;
    }
  }

  function withGarbage(rng: Prng): { bytes: Buffer; garbage: number[]; total: number } {
    const parts: Buffer[] = [];
    const garbage: number[] = [];
    for (const frame of frameBytes) {
      if (rng.chance(0.7)) {
        const junk = rng.chance(0.5) ? plainGarbage(rng, 1 + rng.int(300)) : Buffer.alloc(0);
        const g = Buffer.concat([
          junk,
          rng.pick(TRICKY_GARBAGE),
          rng.chance(0.3) ? rng.pick(TRICKY_GARBAGE) : junk.subarray(0, 0),
        ]);
        parts.push(g);
        garbage.push(g.length);
      }
      parts.push(frame);
    }
    return { bytes: Buffer.concat(parts), garbage, total: garbage.reduce((a, b) => a + b, 0) };
  }

  it('skips garbage before and between frames (whole, bytewise, random splits)', () => {
    const rng = createPrng(SEED + 1);
    for (let iteration = 0; iteration < 200; iteration++) {
      const { bytes, garbage, total } = withGarbage(rng);
      const chunkings: Iterable<Uint8Array>[] = [[bytes], randomSplit(bytes, rng, rng.pick([3, 50, 1472]))];
      if (iteration < 10) chunkings.push(bytewise(bytes));
      for (const chunks of chunkings) {
        const { events, onEvent } = collectEvents();
        const decoder = new MtpDecoder({ onEvent });
        assertFrames(decodeAll(decoder, chunks), stream.frames, `garbage #${iteration} (seed ${rng.seed})`);
        assert.equal(decoder.droppedBytes, total);
        assert.equal(decoder.bufferedBytes, 0);
        assert.equal(decoder.garbageOverflows, 0);
        // one MTP_GARBAGE_SKIPPED per run of garbage (all are followed by a frame), exact sizes
        assert.deepEqual(
          events.map((e) => [e.code, e.bytes]),
          garbage.map((n) => ['MTP_GARBAGE_SKIPPED', n]),
        );
      }
    }
  });

  it('reports the stream offset of each garbage run', () => {
    const frame = encodeFrame({ type: MTP_MESSAGE, sn: SN, body: 'x' }); // 17 bytes
    const { events, onEvent } = collectEvents();
    const decoder = new MtpDecoder({ onEvent });
    const frames = decoder.push(Buffer.concat([Buffer.from('junk'), frame, Buffer.from('DIDI'), frame]));
    assert.equal(frames.length, 2);
    assert.deepEqual(events, [
      { code: 'MTP_GARBAGE_SKIPPED', bytes: 4, offset: 0 },
      { code: 'MTP_GARBAGE_SKIPPED', bytes: 4, offset: 21 },
    ]);
  });

  it('holds back only a possible magic prefix of trailing garbage', () => {
    const decoder = new MtpDecoder();
    decoder.push(Buffer.from('garbage garbage DI', 'latin1'));
    assert.equal(decoder.bufferedBytes, 2);
    assert.equal(decoder.droppedBytes, 16);
    decoder.push(Buffer.from('X'));
    assert.equal(decoder.bufferedBytes, 0);
    assert.equal(decoder.droppedBytes, 19);
    const frame = encodeFrame({ type: MTP_MESSAGE, sn: SN, body: 'ok' });
    assert.equal(decoder.push(Buffer.concat([Buffer.from('D'), frame])).length, 1);
  });

  it('treats UDP-only headers (4, 12, 20 bytes) as garbage on a stream', () => {
    const udp = [
      encodeMtpHeader({ type: MTP_MESSAGE }),
      encodeMtpHeader({ type: MTP_MESSAGE, sn: SN }),
      encodeMtpHeader({ type: MTP_MESSAGE_FRAGMENT, sn: SN, pages: 2, index: 0 }),
    ];
    const frame = encodeFrame({ type: MTP_MESSAGE, sn: SN, body: 'ok' });
    const decoder = new MtpDecoder();
    const frames = decoder.push(Buffer.concat([...udp, frame]));
    assert.equal(frames.length, 1);
    assert.equal(decoder.droppedBytes, 4 + 12 + 20);
  });
});

describe('MTP decoder: garbage cap', () => {
  it('discards garbage over the cap and reports MTP_GARBAGE_OVERFLOW (default 64 KiB)', () => {
    const rng = createPrng(SEED + 2);
    const garbage = plainGarbage(rng, 100 * 1024);
    const frame = encodeFrame({ type: MTP_MESSAGE, sn: SN, body: 'after' });
    const { events, onEvent } = collectEvents();
    const decoder = new MtpDecoder({ onEvent });
    const frames: MtpFrame[] = [];
    const wire = Buffer.concat([garbage, frame]);
    for (let at = 0; at < wire.length; at += 1472) {
      decoder.push(wire.subarray(at, at + 1472), frames);
      assert.ok(decoder.bufferedBytes < 24, 'garbage is never buffered');
    }
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.body.toString(), 'after');
    assert.equal(decoder.garbageOverflows, 1);
    assert.equal(decoder.droppedBytes, garbage.length);
    assert.equal(events.length, 2);
    const [overflow, skipped] = events;
    assert.equal(overflow?.code, 'MTP_GARBAGE_OVERFLOW');
    assert.ok(overflow.bytes > 64 * 1024 && overflow.bytes <= 64 * 1024 + 1472);
    assert.equal(overflow.offset, 0);
    assert.equal(skipped?.code, 'MTP_GARBAGE_SKIPPED');
    assert.equal(overflow.bytes + skipped.bytes, garbage.length);
    assert.equal(skipped.offset, overflow.bytes);
  });

  it('reports every cap-full of garbage with a small cap, in one chunk or bytewise', () => {
    const garbage = Buffer.alloc(1000, 0x20);
    for (const chunks of [[garbage], [...bytewise(garbage)]]) {
      const { events, onEvent } = collectEvents();
      const decoder = new MtpDecoder({ maxGarbage: 100, onEvent });
      decodeAll(decoder, chunks);
      assert.equal(decoder.bufferedBytes, 0);
      assert.equal(decoder.droppedBytes, 1000);
      assert.ok(events.every((e) => e.code === 'MTP_GARBAGE_OVERFLOW'));
      assert.equal(events.length, decoder.garbageOverflows);
      if (chunks.length === 1)
        assert.deepEqual(events, [{ code: 'MTP_GARBAGE_OVERFLOW', bytes: 1000, offset: 0 }]);
      else assert.equal(events.length, 9); // 101 bytes each
    }
  });
});

describe('MTP decoder: oversize frames', () => {
  const header = (type: MtpDataType, bodyLength: number, fragment = false): Buffer =>
    fragment
      ? encodeMtpHeader({ type, sn: SN, pages: 2, index: 0, bodyLength })
      : encodeMtpHeader({ type, sn: SN, bodyLength });

  it('throws MTP_FRAME_TOO_LARGE as soon as the header announces more than 1 MiB (default)', () => {
    const decoder = new MtpDecoder();
    throwsCode(() => decoder.push(header(MTP_MESSAGE, 1024 * 1024 + 1)), 'MTP_FRAME_TOO_LARGE');
    assert.equal(decoder.bufferedBytes, 0);
    assert.equal(decoder.error?.code, 'MTP_FRAME_TOO_LARGE');
    // the decoder is dead: the connection is to be closed
    throwsCode(
      () => decoder.push(encodeFrame({ type: MTP_MESSAGE, sn: SN, body: 'x' })),
      'MTP_FRAME_TOO_LARGE',
    );
  });

  it('accepts exactly the limit; one byte more throws, also for fragment headers and bytewise input', () => {
    const maxBodyLength = 1000;
    const ok = new MtpDecoder({ maxBodyLength });
    assert.equal(ok.push(encodeFrame({ type: MTP_MESSAGE, sn: SN, body: Buffer.alloc(1000) })).length, 1);
    for (const bad of [
      header(MTP_MESSAGE, 1001),
      header(MTP_MESSAGE_FRAGMENT, 1001, true),
      header(MTP_COMMAND, 0xffffffff),
    ]) {
      const decoder = new MtpDecoder({ maxBodyLength });
      let fed = 0;
      throwsCode(() => {
        for (const byte of bytewise(bad)) {
          decoder.push(byte);
          fed += 1;
        }
      }, 'MTP_FRAME_TOO_LARGE');
      assert.equal(fed, bad.length - 1, 'throws on the last header byte');
    }
  });

  it('frames completed earlier in the same chunk are delivered in the output array', () => {
    const decoder = new MtpDecoder({ maxBodyLength: 10 });
    const out: MtpFrame[] = [];
    const wire = Buffer.concat([
      encodeFrame({ type: MTP_MESSAGE, sn: SN, body: 'fine' }),
      header(MTP_MESSAGE, 11),
    ]);
    throwsCode(() => decoder.push(wire, out), 'MTP_FRAME_TOO_LARGE');
    assert.deepEqual(
      out.map((f) => f.body.toString()),
      ['fine'],
    );
  });

  it('a zero limit allows only empty bodies', () => {
    const decoder = new MtpDecoder({ maxBodyLength: 0 });
    assert.equal(decoder.push(encodeFrame({ type: MTP_COMMAND, sn: SN, body: '' })).length, 1);
    throwsCode(
      () => decoder.push(encodeFrame({ type: MTP_COMMAND, sn: SN, body: 'x' })),
      'MTP_FRAME_TOO_LARGE',
    );
  });
});

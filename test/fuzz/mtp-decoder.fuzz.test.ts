/**
 * Fuzz test of the MTP stream decoder: random bytes, near-miss headers and mutated real trace frames
 * (bit flips, truncation, duplicated "DIM" magic, inserted/deleted bytes), fed whole and at random split
 * points. Asserts: the only exception is TransportError MTP_FRAME_TOO_LARGE; buffered bytes stay bounded;
 * every input byte is accounted for (decoded + dropped + buffered); the decoded frames do not depend on how
 * the input is split; unmutated trace data decodes exactly.
 *
 * Reproduce a run with FUZZ_SEED=<seed> (printed at the start); FUZZ_ITERATIONS changes the input count.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MtpDecoder, type MtpFrame } from '../../src/transport/mtp-decoder.ts';
import {
  MTP_COMMAND,
  MTP_COMMAND_RESPONSE,
  MTP_FRAGMENT_RESPONSE,
  MTP_MAX_HEADER_LENGTH,
  MTP_MESSAGE,
  MTP_MESSAGE_FRAGMENT,
  MTP_MESSAGE_RESPONSE,
  encodeFrame,
  encodeMtpHeader,
  isMtpDataType,
} from '../../src/transport/mtp-header.ts';
import { isTransportError } from '../../src/transport/transport-error.ts';
import { createPrng, randomSplit, type Prng } from '../helpers/seeded-prng.ts';
import { traceStreams } from '../unit/transport/trace-streams.ts';

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 100_000);
const SEED =
  process.env.FUZZ_SEED !== undefined
    ? Number(process.env.FUZZ_SEED) >>> 0
    : (Date.now() ^ (Math.random() * 0x1_0000_0000)) >>> 0;

/** The wire bytes of every captured frame, per connection and direction in capture order. */
const STREAMS = traceStreams().map((stream) => stream.wires);
/** Byte 3 values of valid stream headers, and a few invalid ones. */
const TYPE_BYTES = [
  0x40, 0x41, 0x42, 0x43, 0x20, 0x21, 0x22, 0x23, 0x6a, 0x6b, 0x63, 0x4a, 0x32, 0x52, 0x00, 0xff,
];

/** A frame the input is known to contain, in the form of {@link summary}, with its body length. */
interface Known {
  summary: string;
  bodyLength: number;
}

interface Input {
  kind: string;
  bytes: Buffer;
  /** The exact frames of an unmutated input (trace data or synthetic frames); null for mutated/random. */
  exact: Known[] | null;
}

function traceWindow(rng: Prng): Buffer[] {
  const stream = rng.pick(STREAMS);
  const count = 1 + rng.int(Math.min(4, stream.length));
  const start = rng.int(stream.length - count + 1);
  return stream.slice(start, start + count);
}

/** A header-looking fragment: "DIM", a (mostly valid) byte 3, then random bytes with a small length. */
function nearHeader(rng: Prng): Buffer {
  const header = rng.bytes(24);
  header.write('DIM', 0, 'latin1');
  header[3] = rng.pick(TYPE_BYTES);
  if (rng.chance(0.7)) {
    // small pages/index/length so that the header is often valid
    header.writeUInt32BE(1 + rng.int(3), 12);
    header.writeUInt32BE(rng.int(2), 16);
    const words = header[3]! >>> 4;
    if (words === 2 || words === 4 || words === 6) header.writeUInt32BE(rng.int(64), words * 4 - 4);
  }
  return header.subarray(0, 4 + rng.int(21));
}

function mutate(data: Buffer, rng: Prng): Buffer {
  let bytes = Buffer.from(data);
  const rounds = 1 + rng.int(4);
  for (let round = 0; round < rounds; round++) {
    const at = rng.int(bytes.length + 1);
    switch (rng.int(7)) {
      case 0: {
        // bit flips, biased towards the first header
        const flips = 1 + rng.int(4);
        for (let i = 0; i < flips && bytes.length > 0; i++) {
          const pos = rng.chance(0.5) ? rng.int(Math.min(24, bytes.length)) : rng.int(bytes.length);
          bytes[pos]! ^= 1 << rng.int(8);
        }
        break;
      }
      case 1: // truncation
        bytes = bytes.subarray(0, at);
        break;
      case 2: // duplicated magic
        bytes = Buffer.concat([
          bytes.subarray(0, at),
          Buffer.from(rng.chance(0.5) ? 'DIM' : 'DIMDIM'),
          bytes.subarray(at),
        ]);
        break;
      case 3: // near-miss header inserted
        bytes = Buffer.concat([bytes.subarray(0, at), nearHeader(rng), bytes.subarray(at)]);
        break;
      case 4: // random garbage inserted
        bytes = Buffer.concat([bytes.subarray(0, at), rng.bytes(1 + rng.int(64)), bytes.subarray(at)]);
        break;
      case 5: // a range deleted
        bytes = Buffer.concat([
          bytes.subarray(0, at),
          bytes.subarray(Math.min(bytes.length, at + 1 + rng.int(40))),
        ]);
        break;
      default: // cut off the front
        bytes = bytes.subarray(rng.int(Math.min(bytes.length, 32) + 1));
    }
  }
  return bytes;
}

function knownTraceFrame(wire: Buffer): Known {
  const bodyHex = wire.toString('hex', 16);
  return {
    summary: `16:${wire[3]! & 0xf}:${wire.toString('hex', 4, 12)}:1/0:${bodyHex}`,
    bodyLength: wire.length - 16,
  };
}

const TYPES = [MTP_COMMAND, MTP_COMMAND_RESPONSE, MTP_MESSAGE, MTP_MESSAGE_RESPONSE] as const;
const FRAGMENT_TYPES = [MTP_MESSAGE_FRAGMENT, MTP_FRAGMENT_RESPONSE, MTP_MESSAGE_RESPONSE] as const;

/** Small frames with all stream header sizes (8, 16, 24), random types, sn and bodies. */
function syntheticFrames(rng: Prng): { wire: Buffer[]; known: Known[] } {
  const wire: Buffer[] = [];
  const known: Known[] = [];
  const n = 1 + rng.int(20);
  for (let i = 0; i < n; i++) {
    const body = rng.bytes(rng.chance(0.3) ? rng.int(3) : rng.int(48));
    const size = rng.pick([8, 16, 16, 24]);
    const type = size === 24 ? rng.pick(FRAGMENT_TYPES) : rng.pick(TYPES);
    const sn = size === 8 ? Buffer.alloc(8) : rng.bytes(8);
    const pages = size === 24 ? 2 + rng.int(5) : 1;
    const index = size === 24 ? rng.int(pages) : 0;
    wire.push(
      size === 8
        ? Buffer.concat([encodeMtpHeader({ type, bodyLength: body.length }), body])
        : encodeFrame({ type, sn, body, pages, index }),
    );
    known.push({
      summary: `${size}:${type}:${sn.toString('hex')}:${pages}/${index}:${body.toString('hex')}`,
      bodyLength: body.length,
    });
  }
  return { wire, known };
}

function makeInput(rng: Prng): Input {
  const choice = rng.int(10);
  if (choice === 0) return { kind: 'random', bytes: rng.bytes(rng.int(1500)), exact: null };
  if (choice === 1) {
    const parts: Buffer[] = [];
    const n = 1 + rng.int(12);
    for (let i = 0; i < n; i++) parts.push(rng.chance(0.6) ? nearHeader(rng) : rng.bytes(rng.int(40)));
    return { kind: 'near-headers', bytes: Buffer.concat(parts), exact: null };
  }
  if (choice <= 3) {
    const { wire, known } = syntheticFrames(rng);
    if (choice === 2) return { kind: 'synthetic', bytes: Buffer.concat(wire), exact: known };
    return { kind: 'synthetic-mutated', bytes: mutate(Buffer.concat(wire), rng), exact: null };
  }
  const window = traceWindow(rng);
  if (choice === 4)
    return { kind: 'trace', bytes: Buffer.concat(window), exact: window.map(knownTraceFrame) };
  return { kind: 'trace-mutated', bytes: mutate(Buffer.concat(window), rng), exact: null };
}

interface Outcome {
  frames: MtpFrame[];
  error: string | null;
  decoder: MtpDecoder;
}

function run(
  chunks: readonly Uint8Array[],
  options: { maxBodyLength: number; maxGarbage: number },
  total: number,
): Outcome {
  let events = 0;
  const decoder = new MtpDecoder({ ...options, onEvent: () => void (events += 1) });
  const frames: MtpFrame[] = [];
  const bound = options.maxGarbage + options.maxBodyLength + MTP_MAX_HEADER_LENGTH;
  let error: string | null = null;
  for (const chunk of chunks) {
    try {
      decoder.push(chunk, frames);
    } catch (err) {
      assert.ok(isTransportError(err, 'MTP_FRAME_TOO_LARGE'), `unexpected exception: ${String(err)}`);
      error = err.code;
      assert.equal(decoder.bufferedBytes, 0);
      break;
    }
    // bounded memory: never more than a header + the largest body (tighter than cap + frame + header)
    assert.ok(decoder.bufferedBytes <= bound, `buffered ${decoder.bufferedBytes} > ${bound}`);
    assert.ok(decoder.bufferedBytes <= options.maxBodyLength + MTP_MAX_HEADER_LENGTH);
    assert.ok(decoder.bufferCapacity <= options.maxBodyLength + MTP_MAX_HEADER_LENGTH);
  }
  let decodedBytes = 0;
  for (const frame of frames) {
    assert.ok(isMtpDataType(frame.type));
    assert.ok(frame.headerLength === 8 || frame.headerLength === 16 || frame.headerLength === 24);
    assert.equal(frame.sn.length, 8);
    assert.ok(frame.body.length <= options.maxBodyLength);
    assert.ok(frame.pages >= 1 && frame.index < frame.pages);
    decodedBytes += frame.headerLength + frame.body.length;
  }
  if (error === null) {
    // every byte is decoded, dropped as garbage, or still buffered
    assert.equal(decodedBytes + decoder.droppedBytes + decoder.bufferedBytes, total, 'byte accounting');
    assert.equal(decoder.framesDecoded, frames.length);
  }
  assert.ok(events >= decoder.garbageOverflows);
  return { frames, error, decoder };
}

const summary = (frames: readonly MtpFrame[]): string[] =>
  frames.map(
    (f) =>
      `${f.headerLength}:${f.type}:${f.sn.toString('hex')}:${f.pages}/${f.index}:${f.body.toString('hex')}`,
  );

it(`MTP decoder fuzz: ${ITERATIONS} inputs (seed ${SEED})`, (t) => {
  t.diagnostic(`FUZZ_SEED=${SEED}`);
  console.log(`# MTP decoder fuzz: FUZZ_SEED=${SEED} FUZZ_ITERATIONS=${ITERATIONS}`);
  const started = performance.now();
  const kinds = new Map<string, number>();
  let thrown = 0;
  let frames = 0;
  let dropped = 0;
  let overflows = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const iterationSeed = (SEED + Math.imul(i, 0x9e3779b9)) >>> 0;
    const rng = createPrng(iterationSeed);
    const input = makeInput(rng);
    const options = {
      // mostly limits above the largest trace frame, sometimes small ones that trip MTP_FRAME_TOO_LARGE
      maxBodyLength: rng.pick([1024 * 1024, 1024 * 1024, 1024 * 1024, 4096, 4096, 1500, 300, 40, 8, 0]),
      maxGarbage: rng.pick([64 * 1024, 1000, 100, 0]),
    };
    try {
      const whole = run([input.bytes], options, input.bytes.length);
      const split = run(
        randomSplit(input.bytes, rng, rng.pick([1, 3, 16, 200])),
        options,
        input.bytes.length,
      );
      // the result must not depend on where the stream was split
      assert.deepEqual(
        summary(split.frames),
        summary(whole.frames),
        'frames differ between whole and split input',
      );
      assert.equal(split.error, whole.error);
      if (whole.error === null) {
        assert.equal(split.decoder.droppedBytes, whole.decoder.droppedBytes);
        assert.equal(split.decoder.bufferedBytes, whole.decoder.bufferedBytes);
      }
      if (input.exact !== null) {
        // unmutated input: exactly its frames, up to the first one over the limit (which throws)
        const tooLarge = input.exact.findIndex((k) => k.bodyLength > options.maxBodyLength);
        const expected = tooLarge < 0 ? input.exact : input.exact.slice(0, tooLarge);
        assert.deepEqual(
          summary(whole.frames),
          expected.map((k) => k.summary),
          'exact frames',
        );
        assert.equal(whole.error, tooLarge < 0 ? null : 'MTP_FRAME_TOO_LARGE');
        assert.equal(whole.decoder.droppedBytes, 0);
        assert.equal(whole.decoder.bufferedBytes, 0);
      }
      if (whole.error !== null) thrown += 1;
      frames += whole.frames.length;
      dropped += split.decoder.droppedBytes;
      overflows += split.decoder.garbageOverflows;
      kinds.set(input.kind, (kinds.get(input.kind) ?? 0) + 1);
    } catch (err) {
      const where = `iteration ${i} (FUZZ_SEED=${SEED}, iteration seed ${iterationSeed}, input ${input.kind}, ${input.bytes.length} bytes, ${JSON.stringify(options)})`;
      throw new Error(`fuzz failure at ${where}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const line = `# ${ITERATIONS} inputs in ${seconds.toFixed(1)} s: ${JSON.stringify(Object.fromEntries(kinds))}, ${frames} frames, ${dropped} garbage bytes, ${overflows} garbage overflows, ${thrown} MTP_FRAME_TOO_LARGE`;
  t.diagnostic(line);
  console.log(line);
});

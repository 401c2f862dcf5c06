/**
 * Fuzz test of the trace splice: random message-like objects (duplicate and escaped member names, nested
 * `traces`, strings full of quotes and backslashes, non-ASCII) written with random whitespace and either
 * compact or Python separators. Asserts: the result is valid JSON; a parser reads exactly the original
 * object with the trace appended to its (last) top-level `traces`, or `traces: [trace]`; and when the
 * original `traces` was an array or absent, the result is the original text plus one insertion.
 *
 * Reproduce a run with FUZZ_SEED=<seed> (printed at the start); FUZZ_ITERATIONS changes the input count.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { appendTrace } from '../../src/streams/trace-splice.ts';
import { createPrng, type Prng } from '../helpers/seeded-prng.ts';

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 20_000);
const SEED =
  process.env.FUZZ_SEED !== undefined
    ? Number(process.env.FUZZ_SEED) >>> 0
    : (Date.now() ^ (Math.random() * 0x1_0000_0000)) >>> 0;

const TRACE_VALUE = { ID: 'gsp@x5Zh9ixt8ECr59XLye1y5WWfaX4fcN6ZX', did: 'gsp@x', time: 1764690000.123 };
const TRACE = JSON.stringify(TRACE_VALUE);
const ALPHABET = [
  'a',
  'Z',
  '"',
  '\\',
  '/',
  ' ',
  '\n',
  'é',
  '中',
  '😀',
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  't',
  '\u0001',
];
const KEYS = ['sender', 'receiver', 'time', 'data', 'signature', 'traces', 'keys', 'x', 'tr', ''];

function ws(rng: Prng): string {
  if (!rng.chance(0.3)) return '';
  return Array.from({ length: rng.range(1, 3) }, () => rng.pick([' ', '\n', '\r\n', '\t'])).join('');
}

function randomString(rng: Prng): string {
  return Array.from({ length: rng.int(12) }, () => rng.pick(ALPHABET)).join('');
}

/** A JSON string token, sometimes with gratuitous escapes (`\u0074` for `t`, `\/`). */
function stringToken(rng: Prng, value: string): string {
  if (!rng.chance(0.2)) return JSON.stringify(value);
  let out = '"';
  for (const ch of value) {
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '/') out += '\\/';
    else if (ch.length === 1 && (ch.charCodeAt(0) < 0x20 || rng.chance(0.3))) {
      out += `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return `${out}"`;
}

function value(rng: Prng, depth: number, sep: { comma: string; colon: string }): string {
  const kind = depth > 2 ? rng.int(4) : rng.int(6);
  switch (kind) {
    case 0:
      return stringToken(rng, randomString(rng));
    case 1:
      return rng.pick(['0', '-1.5e3', '1764690000.123', '12']);
    case 2:
      return rng.pick(['true', 'false', 'null']);
    case 3:
      return stringToken(rng, 'QUJD'.repeat(rng.int(50)));
    case 4: {
      const items = Array.from({ length: rng.int(4) }, () => ws(rng) + value(rng, depth + 1, sep) + ws(rng));
      return `[${items.join(sep.comma) || ws(rng)}]`;
    }
    default:
      return object(rng, depth + 1, sep);
  }
}

function object(rng: Prng, depth: number, sep: { comma: string; colon: string }): string {
  const members = Array.from({ length: rng.int(depth === 0 ? 8 : 4) }, () => {
    const key = rng.chance(0.3) ? 'traces' : rng.pick(KEYS);
    let v = value(rng, depth, sep);
    if (key === 'traces' && rng.chance(0.7)) {
      const items = Array.from({ length: rng.int(3) }, () => value(rng, depth + 1, sep));
      v = `[${ws(rng)}${items.join(sep.comma)}${ws(rng)}]`;
    }
    return `${ws(rng)}${stringToken(rng, key)}${ws(rng)}${sep.colon}${ws(rng)}${v}${ws(rng)}`;
  });
  return `{${members.join(sep.comma) || ws(rng)}}`;
}

it(`splices the trace into random messages (seed ${SEED})`, () => {
  console.log(`trace-splice fuzz: FUZZ_SEED=${SEED} FUZZ_ITERATIONS=${ITERATIONS}`);
  const rng = createPrng(SEED);
  for (let i = 0; i < ITERATIONS; i++) {
    const sep = rng.chance(0.5) ? { comma: ',', colon: ':' } : { comma: ', ', colon: ': ' };
    const text = ws(rng) + object(rng, 0, sep) + ws(rng);
    const original = JSON.parse(text) as Record<string, unknown>;
    const out = appendTrace(text, TRACE);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(out) as Record<string, unknown>;
    } catch (err) {
      assert.fail(`invalid JSON after the splice (iteration ${i}): ${String(err)}\n${text}\n${out}`);
    }
    const before = original['traces'];
    const expected = {
      ...original,
      traces: Array.isArray(before) ? [...before, TRACE_VALUE] : [TRACE_VALUE],
    };
    assert.deepEqual(parsed, expected, `iteration ${i}: ${text}`);
    if (before === undefined || Array.isArray(before)) {
      let p = 0;
      while (p < text.length && text[p] === out[p]) p++;
      const inserted = out.length - text.length;
      assert.equal(out.slice(p + inserted), text.slice(p), `only an insertion (iteration ${i})`);
      assert.ok(out.slice(p, p + inserted).includes(TRACE));
    }
  }
});

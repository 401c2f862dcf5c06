/**
 * Envelope validation and bounded JSON (issue 13): every message real clients emit (the message vectors
 * and the captured traffic) passes; poison depth and each kind of malformed field is refused with its code.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonDepthExceeds, parseBoundedJson, valueDepthExceeds } from '../../../src/protocol/bounded-json.ts';
import { checkEnvelope } from '../../../src/protocol/dkd/envelope-check.ts';
import { parseReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import { isProtocolError } from '../../../src/protocol/protocol-error.ts';
import { readTrace, readVectorFile } from '../../helpers/vectors.ts';

function messagesIn(value: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(value)) for (const item of value) messagesIn(item, out);
  else if (value !== null && typeof value === 'object') {
    const dict = value as Record<string, unknown>;
    if (typeof dict['sender'] === 'string' && 'data' in dict && 'signature' in dict) out.push(dict);
    for (const item of Object.values(dict)) messagesIn(item, out);
  }
  return out;
}

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return isProtocolError(err) ? err.code : `not a ProtocolError: ${String(err)}`;
  }
};

describe('bounded JSON', () => {
  it('measures depth on the text, skipping strings and escapes', () => {
    assert.equal(jsonDepthExceeds('{"a":[[1]]}', 3), false);
    assert.equal(jsonDepthExceeds('{"a":[[1]]}', 2), true);
    assert.equal(jsonDepthExceeds('{"a":"[[[[[[\\"[[[["}', 1), false);
    assert.equal(valueDepthExceeds({ a: [[1]] }, 3), false);
    assert.equal(valueDepthExceeds({ a: [[1]] }, 2), true);
  });

  it('refuses 100,000 levels before any recursive code sees them', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    assert.equal(
      code(() => parseBoundedJson(deep)),
      'NESTING_TOO_DEEP',
    );
    assert.equal(
      code(() => parseReliableMessage(`{"sender":"a@b","traces":${deep}}`)),
      'NESTING_TOO_DEEP',
    );
    assert.equal(
      code(() => parseBoundedJson('{nope')),
      'BAD_JSON',
    );
  });
});

describe('envelope validation', () => {
  const now = Date.now() / 1000;

  it('passes every message of the vectors and of the captured traffic', () => {
    const vectors = messagesIn(readVectorFile('messages.json'));
    assert.ok(vectors.length >= 10);
    const traced = readTrace('sample-mtp-trace-vs-ref-station.jsonl')
      .concat(readTrace('sample-mtp-trace-with-login-and-ping.jsonl'))
      .flatMap((frame) => {
        const body = (frame as { body?: unknown }).body;
        if (typeof body !== 'string' || !body.startsWith('{')) return [];
        return body
          .split('\n')
          .filter((l) => l.trim().length > 0)
          .map((l) => JSON.parse(l) as Record<string, unknown>);
      })
      .filter((d) => typeof d['sender'] === 'string' && 'signature' in d);
    assert.ok(traced.length > 0);
    for (const dict of [...vectors, ...traced]) {
      const message = parseReliableMessage(dict);
      // captured and vector times are in the past; the check only bounds the future
      assert.equal(
        code(() => checkEnvelope(message, now)),
        undefined,
        JSON.stringify(dict).slice(0, 200),
      );
    }
  });

  it('refuses each kind of malformed field with its code', () => {
    const base = messagesIn(readVectorFile('messages.json')).find(
      (d) => typeof d['IV'] === 'string' && typeof d['type'] === 'string',
    ) as Record<string, unknown>;
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ time: -1 }, 'BAD_TIME'],
      [{ time: '' }, 'BAD_TIME'],
      [{ time: now + 3 * 86400 }, 'BAD_TIME'],
      [{ time: undefined }, 'BAD_TIME'],
      [{ type: 'nonsense' }, 'BAD_ENVELOPE'],
      [{ IV: 'AAAA' }, 'BAD_ENVELOPE'],
      [{ data: '***' }, 'BAD_ENVELOPE'],
      [{ signature: '***' }, 'BAD_ENVELOPE'],
      [{ key: '***' }, 'BAD_ENVELOPE'],
      [{ SDT: 'x' }, 'BAD_ENVELOPE'],
      [{ traces: [{ ID: 5 }] }, 'BAD_ENVELOPE'],
      [{ recipients: ['not an id'] }, 'BAD_ENVELOPE'],
      [{ meta: 'x' }, 'BAD_ENVELOPE'],
    ];
    for (const [change, expected] of cases) {
      const dict: Record<string, unknown> = { ...base, ...change };
      for (const [k, v] of Object.entries(change)) if (v === undefined) delete dict[k];
      const got = code(() => checkEnvelope(parseReliableMessage(dict), now));
      assert.equal(got, expected, JSON.stringify(change).slice(0, 80));
    }
  });
});

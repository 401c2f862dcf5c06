/**
 * The station's trace spliced into a message's JSON text: what a parser then reads, that nothing else of
 * the sender's text changes, and that non-objects are refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appendTrace, TraceSpliceError } from '../../../src/streams/trace-splice.ts';

const TRACE = JSON.stringify({ ID: 'gsp@station', did: 'gsp@station', time: 1800000000.5 });
const T = JSON.parse(TRACE) as unknown;

function spliced(text: string): Record<string, unknown> {
  return JSON.parse(appendTrace(text, TRACE)) as Record<string, unknown>;
}

describe('appendTrace', () => {
  it('adds a traces array to a message without one, keeping every other byte', () => {
    const text = '{"sender":"a@x","data":"QUJD","signature":"c2ln"}';
    const out = appendTrace(text, TRACE);
    assert.equal(out, `{"sender":"a@x","data":"QUJD","signature":"c2ln","traces":[${TRACE}]}`);
  });

  it('appends to an existing traces array (empty or not)', () => {
    assert.deepEqual(spliced('{"a":1,"traces":[]}')['traces'], [T]);
    assert.deepEqual(spliced('{"traces":[{"ID":"s1"}],"a":1}')['traces'], [{ ID: 's1' }, T]);
    assert.deepEqual(spliced('{"traces":["old-style"]}')['traces'], ['old-style', T]);
  });

  it('replaces a traces value that is not an array', () => {
    assert.deepEqual(spliced('{"traces":null,"a":1}'), { traces: [T], a: 1 });
    assert.deepEqual(spliced('{"traces":{"x":[1]},"a":1}'), { traces: [T], a: 1 });
    assert.deepEqual(spliced('{"traces":"s","a":1}'), { traces: [T], a: 1 });
  });

  it('handles whitespace everywhere, CRLF and Python separators', () => {
    const text = ' \r\n{ "sender" : "a@x" ,\n\t"traces" :\n [ \n ] , "x": [ 1 , { "traces" : 2 } ] }\r\n';
    assert.deepEqual(spliced(text), { sender: 'a@x', traces: [T], x: [1, { traces: 2 }] });
    assert.deepEqual(spliced('{"a": 1, "b": "x"}'), { a: 1, b: 'x', traces: [T] });
    assert.deepEqual(spliced('{ }'), { traces: [T] });
    assert.deepEqual(spliced('{}'), { traces: [T] });
  });

  it('ignores nested traces and traces inside strings; honours escaped member names', () => {
    const text = '{"d":"\\"traces\\":[1]","n":{"traces":[9]},"tr\\u0061ces":[{"ID":"s0"}]}';
    assert.deepEqual(spliced(text), { d: '"traces":[1]', n: { traces: [9] }, traces: [{ ID: 's0' }, T] });
    assert.deepEqual(spliced('{"s":"back\\\\","traces":[1]}'), { s: 'back\\', traces: [1, T] });
  });

  it('with duplicate traces members, extends the last one (the one parsers keep)', () => {
    const out = spliced('{"traces":[1],"a":0,"traces":[2]}');
    assert.deepEqual(out['traces'], [2, T]);
  });

  it('refuses what is not one JSON object', () => {
    for (const bad of ['', '[]', '"s"', '{"a":1', '{"a" 1}', '{"a":1}x', '{"a":"x}', '{a:1}', '{"a":}']) {
      assert.throws(() => appendTrace(bad, TRACE), TraceSpliceError, bad);
    }
  });
});

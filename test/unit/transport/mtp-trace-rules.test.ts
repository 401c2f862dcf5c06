/**
 * Vectors README "Trace files" 3: response rules of the captured traffic. Every Message is answered by one
 * Message Response `OK` with the same sn on the same connection in the opposite direction, every Command
 * `PING` by one Command Response `PONG`; the responses our codec builds for the requests are byte-identical
 * to the captured ones (header + body).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MtpDecoder, type MtpFrame } from '../../../src/transport/mtp-decoder.ts';
import {
  MTP_COMMAND,
  MTP_COMMAND_RESPONSE,
  MTP_MESSAGE,
  MTP_MESSAGE_RESPONSE,
  encodeFrame,
} from '../../../src/transport/mtp-header.ts';
import { readTrace, type TraceFrame } from '../../helpers/vectors.ts';
import { frameWire as wire, traceNames } from './trace-streams.ts';

const opposite = (dir: TraceFrame['dir']): TraceFrame['dir'] => (dir === 'c2s' ? 's2c' : 'c2s');

/** The expected response type and body for a request frame, or null when the frame is no request. */
function responseRule(f: TraceFrame): { type: number; body: string } | null {
  if (f.type === MTP_MESSAGE) return { type: MTP_MESSAGE_RESPONSE, body: 'OK' };
  if (f.type === MTP_COMMAND && f.body === 'PING') return { type: MTP_COMMAND_RESPONSE, body: 'PONG' };
  return null;
}

describe('MTP traces: response rules', () => {
  for (const name of traceNames()) {
    describe(name, () => {
      const frames = readTrace(name);

      it('every Message gets one Message Response OK and every PING one PONG, same sn, opposite direction', () => {
        const answered = new Set<TraceFrame>();
        let requests = 0;
        for (const [i, request] of frames.entries()) {
          const rule = responseRule(request);
          if (rule === null) continue;
          requests += 1;
          const where = `${name}:${i + 1}`;
          const matches = frames.filter(
            (r) =>
              r.type === rule.type &&
              r.conn === request.conn &&
              r.dir === opposite(request.dir) &&
              r.sn_hex === request.sn_hex,
          );
          assert.equal(matches.length, 1, `${where}: exactly one response`);
          const response = matches[0]!;
          assert.equal(response.body, rule.body, where);
          assert.ok(frames.indexOf(response) > i, `${where}: response follows the request`);
          answered.add(response);
          // our codec builds exactly the captured response from the request's sn
          const built = encodeFrame({
            type: rule.type === MTP_MESSAGE_RESPONSE ? MTP_MESSAGE_RESPONSE : MTP_COMMAND_RESPONSE,
            sn: Buffer.from(request.sn_hex, 'hex'),
            body: rule.body,
          });
          assert.deepEqual(built, wire(response), `${where}: response bytes`);
        }
        assert.ok(requests > 0);
        // and there are no other responses
        const responses = frames.filter(
          (f) => f.type === MTP_MESSAGE_RESPONSE || f.type === MTP_COMMAND_RESPONSE,
        );
        assert.equal(responses.length, answered.size, 'every response answers a request');
      });

      it('requests carry distinct transaction IDs (the station uses fresh ones for its own messages)', () => {
        const sns = frames.filter((f) => responseRule(f) !== null).map((f) => f.sn_hex);
        assert.equal(new Set(sns).size, sns.length);
      });

      it('the decoded streams reproduce the rule', () => {
        // decode both directions of each connection and apply the rule to the decoded frames
        const decoders = new Map<string, MtpDecoder>();
        const decoded = new Map<string, MtpFrame[]>();
        for (const f of frames) {
          const key = `${f.conn} ${f.dir}`;
          let decoder = decoders.get(key);
          if (decoder === undefined) {
            decoder = new MtpDecoder();
            decoders.set(key, decoder);
          }
          const list = decoded.get(key) ?? [];
          decoder.push(wire(f), list);
          decoded.set(key, list);
        }
        let checked = 0;
        for (const [key, list] of decoded) {
          const [conn, dir] = key.split(' ') as [string, TraceFrame['dir']];
          const back = decoded.get(`${conn} ${opposite(dir)}`) ?? [];
          for (const request of list) {
            const expected =
              request.type === MTP_MESSAGE
                ? { type: MTP_MESSAGE_RESPONSE, body: 'OK' }
                : request.type === MTP_COMMAND && request.body.toString() === 'PING'
                  ? { type: MTP_COMMAND_RESPONSE, body: 'PONG' }
                  : null;
            if (expected === null) continue;
            const answers = back.filter((r) => r.type === expected.type && r.sn.equals(request.sn));
            assert.equal(answers.length, 1, `conn ${key} sn ${request.sn.toString('hex')}`);
            assert.equal(answers[0]!.body.toString(), expected.body);
            checked += 1;
          }
        }
        assert.equal(checked, frames.filter((f) => responseRule(f) !== null).length);
      });
    });
  }

  it('the PING trace has a PING/PONG on each connection', () => {
    const trace = readTrace('sample-mtp-trace-with-login-and-ping.jsonl');
    for (const conn of [1, 2]) {
      assert.equal(
        trace.filter((f) => f.conn === conn && f.type === MTP_COMMAND && f.body === 'PING').length,
        1,
      );
      assert.equal(
        trace.filter((f) => f.conn === conn && f.type === MTP_COMMAND_RESPONSE && f.body === 'PONG').length,
        1,
      );
    }
  });
});

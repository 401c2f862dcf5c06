/**
 * Replays the client→station frames of a captured MTP session through a real socket: the handler receives
 * exactly the captured message bodies, every Message is answered by exactly one Message Response `OK` with
 * its sn and every Command `PING` by one Command Response `PONG`.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import {
  MTP_COMMAND,
  MTP_COMMAND_RESPONSE,
  MTP_MESSAGE,
  MTP_MESSAGE_RESPONSE,
} from '../../../src/transport/mtp-header.ts';
import { readTrace, type TraceFrame } from '../../helpers/vectors.ts';
import { Harness } from './listener-harness.ts';
import { MtpTestClient } from './mtp-test-client.ts';
import { sleep, until } from './wait.ts';

const TRACE = 'sample-mtp-trace-with-login-and-ping.jsonl';

function wire(frame: TraceFrame): Buffer {
  return Buffer.concat([Buffer.from(frame.header_hex, 'hex'), Buffer.from(frame.body, 'utf8')]);
}

let harness: Harness | undefined;

afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

describe(`MTP trace replay (${TRACE})`, () => {
  const frames = readTrace(TRACE);
  const conns = [...new Set(frames.map((f) => f.conn))].sort((a, b) => a - b);

  for (const conn of conns) {
    const c2s = frames.filter((f) => f.conn === conn && f.dir === 'c2s');

    it(`connection ${conn}: ${c2s.length} client frames in MSS-sized chunks`, async () => {
      const h = await Harness.start({ autoAck: true });
      harness = h;
      const client = h.track(await MtpTestClient.connect(h.port));
      // the whole client stream, cut like the reference's 1472-byte reads (frames split and glued)
      const stream = Buffer.concat(c2s.map(wire));
      for (let at = 0; at < stream.length; at += 1472) {
        client.write(stream.subarray(at, at + 1472));
        await sleep(1);
      }

      const messages = c2s.filter((f) => f.type === MTP_MESSAGE);
      const pings = c2s.filter((f) => f.type === MTP_COMMAND && f.body === 'PING');
      assert.ok(messages.length > 0 && pings.length > 0);
      await until(
        () =>
          client.framesOf(MTP_MESSAGE_RESPONSE).length >= messages.length &&
          client.framesOf(MTP_COMMAND_RESPONSE).length >= pings.length,
        3000,
        'all responses',
      );
      await sleep(20); // nothing more may follow

      const channel = await h.channel();
      assert.deepEqual(
        h.packages.map((p) => p.body.toString('utf8')),
        messages.map((m) => m.body),
      );
      assert.ok(h.packages.every((p) => p.channel === channel));

      const oks = client.framesOf(MTP_MESSAGE_RESPONSE);
      assert.equal(oks.length, messages.length, 'one OK per Message, nothing else');
      for (const m of messages) {
        const answers = oks.filter((f) => f.sn.toString('hex') === m.sn_hex);
        assert.equal(answers.length, 1, `OK for ${m.sn_hex}`);
        assert.equal(answers[0]!.body.toString(), 'OK');
      }
      const pongs = client.framesOf(MTP_COMMAND_RESPONSE);
      assert.equal(pongs.length, pings.length);
      for (const p of pings) {
        const answers = pongs.filter((f) => f.sn.toString('hex') === p.sn_hex);
        assert.equal(answers.length, 1, `PONG for ${p.sn_hex}`);
        assert.equal(answers[0]!.body.toString(), 'PONG');
      }
      // the captured client OKs answer station pushes we never made: ignored, nothing else was sent
      assert.equal(client.frames.length, messages.length + pings.length);
      assert.equal(channel.closed, false);
    });
  }
});

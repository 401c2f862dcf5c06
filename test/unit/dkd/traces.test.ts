/**
 * The reference-implementation captures (vectors/traces/*.jsonl): every message frame (MTP type 2) parses,
 * its sender's meta was attached on the connection (client metas on the first handshake, the station's on
 * its first reply; relayed messages carry the meta their sender attached on the other connection), every
 * attached visa verifies, all 72 signatures verify (30 of them high-S), broadcast detection, string
 * envelope types, and the relay of client messages with a station `traces` entry.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isHighS } from '../../../src/protocol/crypto/ecc.ts';
import type { Document } from '../../../src/protocol/mkm/document.ts';
import type { Meta } from '../../../src/protocol/mkm/meta.ts';
import { attachedMeta, attachedVisa, senderVerifyKeys } from '../../../src/protocol/dkd/attachments.ts';
import { parseContent } from '../../../src/protocol/dkd/content.ts';
import { openMessage, verifyMessage } from '../../../src/protocol/dkd/message-packer.ts';
import { parseReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import type { ReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import { readTrace, readVectorFile, vectorsDir } from '../../helpers/vectors.ts';
import type { TraceFrame } from '../../helpers/vectors.ts';

const STATION = 'local_station@wtcohRS3M3WiL1ch7KtosKLs6nNwMW8ep';
const BROADCAST_RECEIVERS = new Set(['station@anywhere', 'everyone@everywhere']);

interface MessageFrame {
  file: string;
  line: number;
  frame: TraceFrame;
  msg: ReliableMessage;
}

interface SenderKeys {
  meta: Meta;
  visas: Document[];
  /** Where the meta was attached (`file:line`). */
  origin: string;
}

const traceFiles = readdirSync(join(vectorsDir, 'traces'))
  .filter((name) => name.endsWith('.jsonl'))
  .sort();

function messageFrames(file: string): MessageFrame[] {
  const out: MessageFrame[] = [];
  readTrace(file).forEach((frame, index) => {
    if (frame.type === 2) out.push({ file, line: index + 1, frame, msg: parseReliableMessage(frame.body) });
  });
  return out;
}

/** Keys of `sender` for a frame, and a per-file record of what was attached (per connection and overall). */
class KeyBook {
  readonly perConn = new Map<string, SenderKeys>();
  readonly perFile = new Map<string, SenderKeys>();

  /** Record the attachments of `m`; throws (ProtocolError) when an attached meta / visa is invalid. */
  record(m: MessageFrame): void {
    const meta = attachedMeta(m.msg);
    const connKey = `${m.frame.conn}|${m.msg.sender.string}`;
    if (meta) {
      const entry = this.perConn.get(connKey) ?? { meta, visas: [], origin: `${m.file}:${m.line}` };
      this.perConn.set(connKey, entry);
      if (!this.perFile.has(m.msg.sender.string)) this.perFile.set(m.msg.sender.string, entry);
    }
    const known = meta ?? this.lookup(m)?.meta;
    if (m.msg.visa !== undefined) {
      assert.ok(known, `${m.file}:${m.line}: a visa needs its sender's meta`);
      const visa = attachedVisa(m.msg, known);
      assert.ok(visa);
      this.perConn.get(connKey)?.visas.push(visa);
    }
  }

  /**
   * The meta for the frame's sender: attached on this connection before (or with) it; for a relayed
   * message (it carries `traces`) the one its sender attached on the other connection.
   */
  lookup(m: MessageFrame): SenderKeys | undefined {
    const own = this.perConn.get(`${m.frame.conn}|${m.msg.sender.string}`);
    if (own) return own;
    if (m.msg.dict['traces'] !== undefined) return this.perFile.get(m.msg.sender.string);
    return undefined;
  }
}

const all: MessageFrame[] = traceFiles.flatMap((file) => messageFrames(file));

describe('traces: message frames', () => {
  it('there are two trace files with 72 message frames (V13.0–V13.71)', () => {
    assert.deepEqual(traceFiles, [
      'sample-mtp-trace-vs-ref-station.jsonl',
      'sample-mtp-trace-with-login-and-ping.jsonl',
    ]);
    const expectations = readVectorFile('messages.json')['trace_expectations'] as Record<string, unknown>;
    assert.equal(all.length, expectations['message_frames']);
    assert.equal(all.length, 72);
    assert.equal(messageFrames(traceFiles[0] as string).length, 32);
  });

  it('every message body parses with sender, data and signature', () => {
    for (const m of all) {
      assert.equal(m.msg.sender.string, (JSON.parse(m.frame.body) as Record<string, unknown>)['sender']);
      assert.ok(m.msg.data.length > 0);
      assert.ok(m.msg.signature.length > 0);
      assert.ok(m.msg.dataBytes.length > 0);
    }
  });

  it('non-message frames are not reliable messages', () => {
    for (const file of traceFiles) {
      for (const frame of readTrace(file).filter((f) => f.type !== 2)) {
        assert.ok(['OK', 'PING', 'PONG'].includes(frame.body), frame.body);
        assert.throws(() => parseReliableMessage(frame.body), { name: 'ProtocolError' });
      }
    }
  });

  it('envelope types are strings in the raw JSON, numbers after parsing; content types are ints', () => {
    const seen = new Set<string>();
    for (const m of all) {
      const raw = (JSON.parse(m.frame.body) as Record<string, unknown>)['type'];
      assert.equal(typeof raw, 'string', `${m.file}:${m.line}`);
      seen.add(raw as string);
      assert.equal(typeof m.msg.type, 'number');
      assert.equal(m.msg.type, Number(raw));
      if (m.msg.isBroadcast) {
        const content = JSON.parse(m.msg.data) as Record<string, unknown>;
        assert.equal(typeof content['type'], 'number');
        assert.equal(content['type'], m.msg.type);
      }
    }
    assert.deepEqual([...seen].sort(), ['1', '136', '255']);
  });
});

describe('traces: attachments and signatures', () => {
  it('every sender has a matching meta attached on the connection; visas verify; all 72 signatures verify', () => {
    let verified = 0;
    let highS = 0;
    let relayedViaOtherConn = 0;
    let metas = 0;
    let visas = 0;
    for (const file of traceFiles) {
      const book = new KeyBook();
      for (const m of messageFrames(file)) {
        const where = `${m.file}:${m.line}`;
        book.record(m);
        if (m.msg.meta !== undefined) metas++;
        if (m.msg.visa !== undefined) visas++;
        if (!book.perConn.has(`${m.frame.conn}|${m.msg.sender.string}`)) relayedViaOtherConn++;
        const keys = book.lookup(m);
        assert.ok(keys, `${where}: the sender ${m.msg.sender.string} has a known meta`);
        assert.ok(keys.meta.matches(m.msg.sender), `${where}: meta matches the sender`);
        const candidates = senderVerifyKeys(keys.meta, keys.visas);
        assert.equal(verifyMessage(m.msg, candidates), true, `${where}: signature verifies`);
        verified++;
        assert.equal(keys.meta.key.algorithm, 'ECC', `${where}: ECC-signed`);
        if (isHighS(m.msg.signature)) highS++;
      }
    }
    const expectations = readVectorFile('messages.json')['trace_expectations'] as Record<string, unknown>;
    assert.equal(verified, 72);
    assert.equal(verified, expectations['signatures_verifying_with_lowS_false']);
    assert.equal(highS, 30);
    assert.equal(highS, expectations['high_s_signatures']);
    assert.equal(verified - highS, expectations['signatures_verifying_with_noble_default_lowS_true']);
    assert.equal(relayedViaOtherConn, 8);
    assert.ok(metas >= 8 && metas === visas, `${metas} metas, ${visas} visas attached`);
  });

  it("the first handshake carries the client's meta+visa; the station's first reply carries its own", () => {
    for (const file of traceFiles) {
      const frames = messageFrames(file);
      for (const conn of [1, 2]) {
        const c2s = frames.filter((m) => m.frame.conn === conn && m.frame.dir === 'c2s');
        const s2c = frames.filter((m) => m.frame.conn === conn && m.frame.dir === 's2c');
        const first = c2s[0] as MessageFrame;
        assert.equal(first.msg.receiver.string, 'station@anywhere');
        assert.equal(parseContent(JSON.parse(first.msg.data)).command, 'handshake');
        assert.ok(attachedMeta(first.msg)?.matches(first.msg.sender));
        const reply = s2c[0] as MessageFrame;
        assert.equal(reply.msg.sender.string, STATION);
        const stationMeta = attachedMeta(reply.msg);
        assert.ok(stationMeta);
        assert.ok(attachedVisa(reply.msg, stationMeta)?.id.isSameAs(reply.msg.sender));
        // the first message on the connection is the client's handshake, the second the station's reply
        const onConn = frames.filter((m) => m.frame.conn === conn);
        assert.equal(onConn[0], first);
        assert.equal(onConn[1], reply);
      }
    }
  });

  it('signatures do not verify with the keys of another sender', () => {
    for (const file of traceFiles) {
      const frames = messageFrames(file);
      const metas = new Map<string, Meta>();
      for (const m of frames) {
        const meta = attachedMeta(m.msg);
        if (meta && !metas.has(m.msg.sender.string)) metas.set(m.msg.sender.string, meta);
      }
      assert.equal(metas.size, 3, 'two clients and the station');
      for (const m of frames) {
        for (const [sender, meta] of metas) {
          if (sender === m.msg.sender.string) continue;
          assert.equal(meta.matches(m.msg.sender), false);
          assert.equal(verifyMessage(m.msg, [meta.key]), false, `${m.file}:${m.line} vs ${sender}`);
        }
      }
    }
  });

  it('a visa attached with the wrong sender or a changed data text is rejected', () => {
    const m = all[0] as MessageFrame;
    const meta = attachedMeta(m.msg);
    assert.ok(meta);
    const visa = m.msg.dict['visa'] as Record<string, unknown>;
    const tampered = parseReliableMessage({
      ...m.msg.dict,
      visa: { ...visa, data: (visa['data'] as string).replace('bob', 'eve') },
    });
    assert.throws(() => attachedVisa(tampered, meta), { name: 'ProtocolError', code: 'BAD_DOCUMENT' });
  });
});

describe('traces: broadcast detection', () => {
  it('exactly the messages to station@anywhere / everyone@everywhere are plaintext without keys', () => {
    let broadcasts = 0;
    for (const m of all) {
      const where = `${m.file}:${m.line}`;
      const expectBroadcast = BROADCAST_RECEIVERS.has(m.msg.receiver.string);
      assert.equal(m.msg.isBroadcast, expectBroadcast, where);
      if (expectBroadcast) {
        broadcasts++;
        assert.equal(m.msg.dict['key'], undefined, where);
        assert.equal(m.msg.dict['keys'], undefined, where);
        assert.equal(m.msg.dict['IV'], undefined, where);
        const content = parseContent(JSON.parse(m.msg.data));
        assert.equal(content.type, 136, where);
        assert.ok(
          ['handshake', 'document', 'documents', 'meta', 'login'].includes(content.command ?? ''),
          where,
        );
        const opened = openMessage(m.msg, { privateKeys: [] });
        assert.deepEqual(opened.content.dict, content.dict);
      } else {
        assert.equal(typeof m.msg.dict['key'], 'string', where);
        assert.equal(typeof m.msg.dict['IV'], 'string', where);
        assert.equal(m.msg.iv?.length, 16, where);
        assert.equal(m.msg.encryptedKeysFor(m.msg.receiver).length, 1, where);
        assert.equal(m.msg.dataBytes.length % 16, 0, `${where}: AES-CBC ciphertext`);
        assert.throws(() => JSON.parse(m.msg.data), SyntaxError);
      }
    }
    assert.equal(broadcasts, 18);
  });
});

describe('traces: relay', () => {
  for (const file of traceFiles) {
    it(`${file}: each station→client message with traces is a client→station message of the other connection`, () => {
      const frames = messageFrames(file);
      const relayed = frames.filter((m) => m.msg.dict['traces'] !== undefined);
      assert.equal(relayed.length, 4);
      for (const r of relayed) {
        assert.equal(r.frame.dir, 's2c');
        const { traces, ...rest } = r.msg.dict;
        const originals = frames.filter(
          (m) =>
            m.frame.dir === 'c2s' &&
            m.frame.conn !== r.frame.conn &&
            m.line < r.line &&
            isDeepEqual(m.msg.dict, rest),
        );
        assert.equal(originals.length, 1, `${file}:${r.line} has one original`);
        assert.ok(Array.isArray(traces));
        assert.equal(traces.length, 1);
        const entry = traces[0] as Record<string, unknown>;
        assert.ok(entry['ID'] === STATION || entry['did'] === STATION);
        assert.equal(typeof entry['time'], 'number');
        assert.notEqual(r.msg.sender.string, STATION);
      }
    });
  }
});

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

/**
 * Hostile input from a logged-in user and from unbound connections (issue 13): every frame gets an
 * answer and none is half-handled. Each case failed on the station before the hardening: a poison
 * message (nested 100,000 deep) was never acknowledged, non-JSON bodies and malformed envelopes got an
 * `OK` and nothing else (or were relayed), a 5,000-message frame was relayed part-way and never
 * acknowledged, a Restart to another station waited for the 30 s handshake timeout, MTP fragments were
 * acknowledged and dropped, and one byte every few hundred ms kept a partial frame open forever.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ClientEvent, DimClient } from '../../src/client/dim-client.ts';
import type { MtpClientTransport } from '../../src/client/mtp-client-transport.ts';
import { createMemoryBackend } from '../../src/engine/memory-backend.ts';
import { createStationIdentity } from '../../src/identity/station-identity.ts';
import { ContentType } from '../../src/protocol/dkd/content-type.ts';
import { newCommand } from '../../src/protocol/dkd/content.ts';
import { HELLO } from '../../src/protocol/dkd/handshake-command.ts';
import { MTP_MESSAGE_FRAGMENT, encodeFrame, MTP_MESSAGE } from '../../src/transport/mtp-header.ts';
import { connectClient, startTestStation } from '../helpers/station-harness.ts';
import type { TestStation } from '../helpers/station-harness.ts';
import {
  closeQuietly,
  KeyDirectory,
  LogRecorder,
  newUser,
  now,
  rawSocket,
  until,
} from '../helpers/gateway-e2e.ts';

const open: Array<{ close(): Promise<void> }> = [];
const stations: TestStation[] = [];

afterEach(async () => {
  await closeQuietly(open.splice(0));
  await Promise.all(stations.splice(0).map((s) => s.close()));
});

interface Pair {
  readonly station: TestStation;
  readonly logs: LogRecorder;
  readonly sender: DimClient;
  readonly receiver: DimClient;
  readonly directory: KeyDirectory;
}

/** A station and two logged-in MTP clients. */
async function pair(env: Record<string, string> = {}): Promise<Pair> {
  const logs = new LogRecorder();
  const station = await startTestStation({ env, backend: createMemoryBackend(), logger: logs.logger });
  stations.push(station);
  const directory = new KeyDirectory();
  const sender = await connectClient(station.port, 'mtp', newUser('mkm-ecc', 'sender'), directory);
  const receiver = await connectClient(station.port, 'mtp', newUser('mkm-ecc', 'receiver'), directory);
  open.push(sender, receiver);
  await Promise.all([sender.handshake(), receiver.handshake()]);
  assert.equal(await sender.login(), 'Login received.');
  assert.equal(await receiver.login(), 'Login received.');
  return { station, logs, sender, receiver, directory };
}

const mtpOf = (client: DimClient): MtpClientTransport => client.transport as MtpClientTransport;

/** The wire dict of a fresh text message from `from` to `to`. */
function packed(from: DimClient, to: DimClient, text: string): Record<string, unknown> {
  return JSON.parse(from.pack(to.id, { type: ContentType.TEXT, text }).text) as Record<string, unknown>;
}

/** The next refusal receipt (a receipt with `error`) after `mark`. */
async function refusal(
  client: DimClient,
  mark: number,
  timeoutMs = 5000,
): Promise<ClientEvent & { kind: 'receipt' }> {
  const event = await client.waitFor(
    (e) => e.kind === 'receipt' && e.content.dict['error'] !== undefined,
    timeoutMs,
    { since: mark },
  );
  return event as ClientEvent & { kind: 'receipt' };
}

const codeOf = (receipt: ClientEvent & { kind: 'receipt' }): unknown =>
  (receipt.content.dict['error'] as { code?: unknown } | undefined)?.code;

/** Messages `client` received (opened or not) whose body carries `needle`. */
function received(client: DimClient, needle: string): number {
  return client.history.filter((e) =>
    e.kind === 'invalid' ? e.body.includes(needle) : e.kind === 'message' && e.raw.signatureText === needle,
  ).length;
}

describe('poison and malformed messages from a logged-in user', () => {
  it('a message nested 100,000 deep in `traces` or in an unknown field is acknowledged and refused with a NESTING_TOO_DEEP receipt; the connection keeps working', async () => {
    const { sender, receiver } = await pair();
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    for (const field of ['traces', 'x-unknown']) {
      const dict = packed(sender, receiver, `poison in ${field}`);
      const text = `${JSON.stringify(dict).slice(0, -1)},"${field}":${deep}}`;
      const mark = sender.mark();
      await mtpOf(sender).send(text, { timeoutMs: 5000 }); // resolves on the frame's OK
      const receipt = await refusal(sender, mark);
      assert.equal(codeOf(receipt), 'NESTING_TOO_DEEP');
      assert.equal(receipt.content.dict['signature'], dict['signature'], 'the receipt names the message');
    }
    const genuine = await sender.sendText(receiver.id, 'after the poison');
    assert.equal((await sender.waitReceipt(genuine))?.text, 'Message delivered.');
  });

  it('16 non-JSON bodies in a row: 16 BAD_JSON receipts; one more is acknowledged too, then BYE PROTOCOL_ERROR', async () => {
    const { sender } = await pair();
    for (let i = 0; i < 16; i += 1) {
      const mark = sender.mark();
      await mtpOf(sender).send(`{not json ${i}`, { timeoutMs: 3000 });
      assert.equal(codeOf(await refusal(sender, mark)), 'BAD_JSON');
    }
    await mtpOf(sender).send('{still not json', { timeoutMs: 3000 });
    await until(() => mtpOf(sender).closeInfo !== undefined, 3000, 'the close');
    assert.ok(
      mtpOf(sender).byes.some((b) => b.startsWith('BYE PROTOCOL_ERROR ')),
      String(mtpOf(sender).byes),
    );
  });

  it('malformed envelopes (wrong types, not base64, bad or missing time, bad traces/recipients) are refused with a coded receipt and never relayed', async () => {
    const { sender, receiver } = await pair({ DIM_MAX_PROTOCOL_ERRORS: '1000' });
    const big = 'x'.repeat(100 * 1024);
    type Mutation = [string, (d: Record<string, unknown>) => void, string];
    const set =
      (field: string, value: unknown) =>
      (d: Record<string, unknown>): void => {
        d[field] = value;
      };
    const drop =
      (field: string) =>
      (d: Record<string, unknown>): void => {
        delete d[field];
      };
    const mutations: Mutation[] = [
      ['time -1', set('time', -1), 'BAD_TIME'],
      ['time ""', set('time', ''), 'BAD_TIME'],
      ['time {}', set('time', {}), 'BAD_TIME'],
      ['time 100 KB string', set('time', big), 'BAD_TIME'],
      ['time "1767225600"', set('time', '1767225600'), 'BAD_TIME'],
      ['time true', set('time', true), 'BAD_TIME'],
      ['time 0', set('time', 0), 'BAD_TIME'],
      ['time in milliseconds, year 57000', set('time', Date.now() * 1000), 'BAD_TIME'],
      ['time missing', drop('time'), 'BAD_TIME'],
      ['type "abc"', set('type', 'abc'), 'BAD_ENVELOPE'],
      ['type -5', set('type', -5), 'BAD_ENVELOPE'],
      ['type 300', set('type', 300), 'BAD_ENVELOPE'],
      ['type {}', set('type', {}), 'BAD_ENVELOPE'],
      ['type 1.5', set('type', 1.5), 'BAD_ENVELOPE'],
      ['IV not base64', set('IV', '!!not base64!!'), 'BAD_ENVELOPE'],
      ['IV 3 bytes', set('IV', 'AAAA'), 'BAD_ENVELOPE'],
      ['IV number', set('IV', 123), 'BAD_ENVELOPE'],
      ['data not base64', set('data', 'not base64 at all!'), 'BAD_ENVELOPE'],
      ['data number', set('data', 12345), 'BAD_MESSAGE'],
      ['signature not base64', set('signature', '@@@@'), 'BAD_ENVELOPE'],
      ['key number', set('key', 5), 'BAD_MESSAGE'],
      ['key not base64', set('key', '%%%%'), 'BAD_ENVELOPE'],
      ['keys string', set('keys', 'abc'), 'BAD_MESSAGE'],
      ['keys list', set('keys', []), 'BAD_MESSAGE'],
      ['keys entry number', set('keys', { x: 5 }), 'BAD_ENVELOPE'],
      ['keys entry not base64', set('keys', { x: '%%%' }), 'BAD_ENVELOPE'],
      ['SDT string', set('SDT', 'yesterday'), 'BAD_ENVELOPE'],
      ['SDT negative', set('SDT', -1), 'BAD_ENVELOPE'],
      ['GDT object', set('GDT', {}), 'BAD_ENVELOPE'],
      ['GF string', set('GF', 'yes'), 'BAD_ENVELOPE'],
      ['traces string', set('traces', 'x'), 'BAD_ENVELOPE'],
      ['traces [5]', set('traces', [5]), 'BAD_ENVELOPE'],
      ['traces [{}]', set('traces', [{}]), 'BAD_ENVELOPE'],
      ['traces bad ID', set('traces', ['not an id']), 'BAD_ENVELOPE'],
      ['recipients string', set('recipients', 'x'), 'BAD_ENVELOPE'],
      ['recipients [5]', set('recipients', [5]), 'BAD_ENVELOPE'],
      [
        'recipients 5,000',
        set(
          'recipients',
          Array.from({ length: 5000 }, () => 'moky@anywhere'),
        ),
        'FIELD_TOO_LARGE',
      ],
      ['receiver number', set('receiver', 5), 'BAD_ENVELOPE'],
      ['meta string', set('meta', 'x'), 'BAD_ENVELOPE'],
      ['visa list', set('visa', []), 'BAD_ENVELOPE'],
      ['group number', set('group', 5), 'BAD_MESSAGE'],
    ];
    const relayedSignatures: string[] = [];
    for (const [name, mutate, code] of mutations) {
      const dict = packed(sender, receiver, `malformed: ${name}`);
      mutate(dict);
      if (typeof dict['signature'] === 'string') relayedSignatures.push(dict['signature']);
      const mark = sender.mark();
      await mtpOf(sender).send(JSON.stringify(dict), { timeoutMs: 5000 });
      const receipt = await refusal(sender, mark);
      assert.equal(codeOf(receipt), code, `${name}: ${String(receipt.text)}`);
    }
    // a well-formed message after all of them arrives; none of the malformed ones did
    const genuine = await sender.sendText(receiver.id, 'well-formed');
    await receiver.waitForMessage((m) => m.content.dict['text'] === 'well-formed', 5000, { since: 0 });
    assert.equal((await sender.waitReceipt(genuine))?.text, 'Message delivered.');
    for (const signature of relayedSignatures) assert.equal(received(receiver, signature), 0);
  });

  it('a frame of 5,000 messages is acknowledged once all are settled (accepted or refused), then the connection closes RATE_LIMITED; a resend cannot duplicate', async () => {
    const { sender, receiver } = await pair({ DIM_MAX_FRAME_BYTES: String(8 * 1024 * 1024) });
    const lines = Array.from({ length: 5000 }, (_, i) =>
      JSON.stringify(packed(sender, receiver, `bulk ${i}`)),
    );
    const mark = sender.mark();
    await mtpOf(sender).send(lines.join('\n'), { timeoutMs: 60_000 }); // the OK
    await until(() => mtpOf(sender).closeInfo !== undefined, 10_000, 'the close after the OK');
    assert.ok(
      mtpOf(sender).byes.some((b) => b.startsWith('BYE RATE_LIMITED ')),
      String(mtpOf(sender).byes),
    );
    const refused = sender.history.filter(
      (e, i) =>
        i >= 0 &&
        e.kind === 'receipt' &&
        e.seq >= mark &&
        (e.content.dict['error'] as { code?: string } | undefined)?.code === 'RATE_LIMITED',
    ).length;
    assert.ok(refused > 0, 'rate refusals were told');
    // what was accepted is delivered exactly once
    await until(
      () =>
        receiver.history.filter(
          (e) => e.kind === 'message' && String(e.content.dict['text']).startsWith('bulk '),
        ).length >= 200,
      30_000,
      'the accepted messages',
    );
    const texts = receiver.history
      .filter((e) => e.kind === 'message')
      .map((e) => String((e as { content: { dict: Record<string, unknown> } }).content.dict['text']))
      .filter((t) => t.startsWith('bulk '));
    assert.equal(new Set(texts).size, texts.length, 'no duplicates');
  });
});

describe('handshake and transport refusals', () => {
  it('a Restart addressed to another station is refused at once with a WRONG_STATION receipt (not held until the handshake timeout)', async () => {
    const logs = new LogRecorder();
    const station = await startTestStation({ backend: createMemoryBackend(), logger: logs.logger });
    stations.push(station);
    const directory = new KeyDirectory();
    const other = createStationIdentity({ name: 'elsewhere', rsaBits: 1024, now: now() });
    directory.add({ id: other.id, meta: other.meta, visa: other.visa });
    const client = await connectClient(station.port, 'mtp', newUser('mkm-ecc', 'roamer'), directory);
    open.push(client);
    const restart = client.pack(
      other.id,
      newCommand('handshake', now(), { title: HELLO, session: randomBytes(32).toString('hex') }),
      { attachIdentity: true },
    );
    const started = performance.now();
    await mtpOf(client).send(restart.text, { timeoutMs: 3000 });
    const receipt = await refusal(client, 0, 3000);
    assert.equal(codeOf(receipt), 'WRONG_STATION');
    assert.ok(performance.now() - started < 3000);
    await logs.waitFor('WRONG_STATION');
  });

  it('MTP fragments are reassembled into the message (delivered once); a page count that changes closes MTP_FRAGMENT_REFUSED', async () => {
    const { sender, receiver } = await pair();
    const dict = packed(sender, receiver, 'sent in three fragments');
    const body = Buffer.from(JSON.stringify(dict));
    const sn = randomBytes(8);
    const third = Math.ceil(body.length / 3);
    const frames = [0, 1, 2].map((index) =>
      encodeFrame({
        type: MTP_MESSAGE_FRAGMENT,
        sn,
        pages: 3,
        index,
        body: body.subarray(index * third, (index + 1) * third),
      }),
    );
    // out of order, with a repeat
    for (const i of [2, 0, 2, 1]) await mtpOf(sender).writeRaw(frames[i] as Buffer);
    await receiver.waitForMessage((m) => m.content.dict['text'] === 'sent in three fragments', 5000, {
      since: 0,
    });
    // one message whose page count changes between its fragments cannot be reassembled
    const snBad = randomBytes(8);
    const first = encodeFrame({
      type: MTP_MESSAGE_FRAGMENT,
      sn: snBad,
      pages: 2,
      index: 0,
      body: Buffer.from('{'),
    });
    const changed = encodeFrame({
      type: MTP_MESSAGE_FRAGMENT,
      sn: snBad,
      pages: 3,
      index: 1,
      body: Buffer.from('}'),
    });
    await mtpOf(sender).writeRaw(Buffer.concat([first, changed]));
    await until(() => mtpOf(sender).closeInfo !== undefined, 3000, 'the close');
    assert.ok(
      mtpOf(sender).byes.some((b) => b.startsWith('BYE MTP_FRAGMENT_REFUSED ')),
      String(mtpOf(sender).byes),
    );
  });

  it('slowloris: a frame trickling in one byte at a time (each byte resetting the idle timer) is closed TOO_SLOW after the frame timeout', async () => {
    const logs = new LogRecorder();
    const station = await startTestStation({
      env: { DIM_FRAME_TIMEOUT_MS: '600', DIM_MIN_BYTES_PER_SECOND: '1000', DIM_IDLE_TIMEOUT_MS: '60000' },
      backend: createMemoryBackend(),
      logger: logs.logger,
    });
    stations.push(station);
    const socket = await rawSocket(station.port);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    let closed = false;
    socket.on('close', () => (closed = true));
    const frame = encodeFrame({ type: MTP_MESSAGE, sn: randomBytes(8), body: Buffer.alloc(2000, 0x20) });
    await new Promise<void>((resolve) => socket.write(frame.subarray(0, 40), () => resolve()));
    const started = performance.now();
    const trickle = setInterval(() => {
      if (!closed) socket.write(frame.subarray(40, 41));
    }, 100);
    try {
      await until(() => closed, 5000, 'the slowloris connection to close');
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
    assert.ok(performance.now() - started < 4000);
    assert.match(Buffer.concat(chunks).toString('latin1'), /BYE TOO_SLOW /);
    await logs.waitFor('TOO_SLOW');
  });
});

/**
 * MtpChannel over real TCP sockets (through the StationListener): packages and acks, heartbeats, pushes
 * with retries, limits (frame size, garbage, idle, slow consumer) and the close protocol (`BYE`).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { ClientChannel, DeliveryResult } from '../../../src/transport/client-channel.ts';
import { MtpChannel } from '../../../src/transport/mtp-channel.ts';
import {
  MTP_COMMAND,
  MTP_COMMAND_RESPONSE,
  MTP_MESSAGE,
  MTP_MESSAGE_FRAGMENT,
  MTP_MESSAGE_RESPONSE,
  encodeFrame,
  encodeMtpHeader,
  generateSn,
} from '../../../src/transport/mtp-header.ts';
import { Harness, type HarnessOptions } from './listener-harness.ts';
import { MtpTestClient, byeFrames } from './mtp-test-client.ts';
import { recordingLogger, withCode } from './recording-logger.ts';
import { sleep, until } from './wait.ts';

let harness: Harness | undefined;

afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

async function setup(options: HarnessOptions = {}): Promise<{ h: Harness; client: MtpTestClient }> {
  const h = await Harness.start(options);
  harness = h;
  const client = h.track(await MtpTestClient.connect(h.port));
  return { h, client };
}

const isOk = (sn: Buffer) => (f: { type: number; sn: Buffer; body: Buffer }) =>
  f.type === MTP_MESSAGE_RESPONSE && f.sn.equals(sn) && f.body.toString() === 'OK';

describe('MtpChannel', () => {
  it('echo without handshake: acked package, pushed reply with a fresh sn, acked by the client', async () => {
    const results: Promise<DeliveryResult>[] = [];
    const { h, client } = await setup({
      onPackage: ({ channel, body, ack }) => {
        ack();
        results.push(channel.push(`{"echo":${body.toString()}}`));
      },
    });
    const sn = client.message('{"hello":1}');
    const ok = await client.waitFor(isOk(sn));
    assert.equal(ok.headerLength, 16);
    const reply = await client.waitFor((f) => f.type === MTP_MESSAGE);
    assert.equal(reply.body.toString(), '{"echo":{"hello":1}}');
    assert.ok(!reply.sn.equals(sn), 'a fresh sn for the push');
    const channel = await h.channel();
    assert.equal(channel.kind, 'mtp');
    assert.match(channel.id, /^m\d+$/);
    assert.equal(channel.remote.address, '127.0.0.1');
    client.respond(reply);
    assert.equal(await results[0], 'acked');
    assert.deepEqual(
      h.packages.map((p) => p.body.toString()),
      ['{"hello":1}'],
    );
  });

  it('classifies a first frame written one byte at a time as MTP', async () => {
    const { h, client } = await setup({ autoAck: true });
    const sn = generateSn();
    const frame = encodeFrame({ type: MTP_MESSAGE, sn, body: '{"split":true}' });
    for (const byte of frame) {
      client.write(Buffer.of(byte));
      await sleep(1);
    }
    await client.waitFor(isOk(sn));
    const channel = await h.channel();
    assert.equal(channel.kind, 'mtp');
    assert.equal(h.packages[0]?.body.toString(), '{"split":true}');
  });

  it('answers Command PING with PONG (same sn) and other commands with OK, passing nothing up', async () => {
    const { h, client } = await setup();
    const ping = client.command('PING');
    const other = client.command('HELLO');
    const pong = await client.waitFor((f) => f.type === MTP_COMMAND_RESPONSE && f.sn.equals(ping));
    assert.equal(pong.body.toString(), 'PONG');
    const ok = await client.waitFor((f) => f.type === MTP_COMMAND_RESPONSE && f.sn.equals(other));
    assert.equal(ok.body.toString(), 'OK');
    assert.equal(h.packages.length, 0);
  });

  it('sends the Message Response OK only when the handler acks, exactly once', async () => {
    const { h, client } = await setup();
    const sn = client.message('{"a":1}');
    const [pkg] = await h.packagesFrom(await h.channel(), 1);
    await sleep(30);
    assert.equal(client.framesOf(MTP_MESSAGE_RESPONSE).length, 0, 'no OK before ack()');
    pkg!.ack();
    pkg!.ack();
    await client.waitFor(isOk(sn));
    await sleep(30);
    assert.equal(client.framesOf(MTP_MESSAGE_RESPONSE).length, 1);
  });

  it('acks NOOP / PING / PONG inside Message frames at once and drops them', async () => {
    const { h, client } = await setup();
    const sns = ['NOOP', 'PING', 'PONG'].map((body) => client.message(body));
    for (const sn of sns) await client.waitFor(isOk(sn));
    const real = client.message('{"x":1}');
    await h.packagesFrom(await h.channel(), 1);
    assert.equal(h.packages.length, 1);
    assert.equal(h.packages[0]?.body.toString(), '{"x":1}');
    assert.equal(client.framesOf(MTP_MESSAGE_RESPONSE).filter((f) => f.sn.equals(real)).length, 0);
  });

  it('answers a fragment OK with its pages/index and drops it', async () => {
    const { h, client } = await setup();
    const sn = generateSn();
    client.send({ type: MTP_MESSAGE_FRAGMENT, sn, body: 'ab', pages: 3, index: 1 });
    const ok = await client.waitFor((f) => f.type === MTP_MESSAGE_RESPONSE && f.sn.equals(sn));
    assert.equal(ok.body.toString(), 'OK');
    assert.equal(ok.pages, 3);
    assert.equal(ok.index, 1);
    assert.equal(ok.headerLength, 24);
    assert.equal(h.packages.length, 0);
  });

  it('push: fresh sn per message, resolved acked by the OK with that sn (Command Response OK too)', async () => {
    const { h, client } = await setup();
    client.command('PING');
    const channel = await h.channel();
    const first = channel.push('{"n":1}');
    const second = channel.push('{"n":2}');
    const m1 = await client.waitFor((f) => f.type === MTP_MESSAGE, 1);
    const m2 = await client.waitFor((f) => f.type === MTP_MESSAGE, 2);
    assert.ok(!m1.sn.equals(m2.sn));
    client.respond(m2);
    assert.equal(await second, 'acked');
    client.send({ type: MTP_COMMAND_RESPONSE, sn: m1.sn, body: 'OK' });
    assert.equal(await first, 'acked');
    assert.equal(client.framesOf(MTP_MESSAGE).length, 2, 'no resend');
  });

  it('push to a silent client: resent maxTries times every retryInterval, then expired', async () => {
    const { h, client } = await setup({ channel: { retryInterval: 50, maxTries: 3 } });
    client.command('PING');
    const channel = await h.channel();
    const started = performance.now();
    const result = await channel.push('{"silent":true}');
    const elapsed = performance.now() - started;
    assert.equal(result, 'expired');
    assert.ok(elapsed >= 140, `expired after ${elapsed} ms`);
    const sent = client.framesOf(MTP_MESSAGE);
    assert.equal(sent.length, 3);
    assert.ok(sent.every((f) => f.sn.equals(sent[0]!.sn) && f.body.toString() === '{"silent":true}'));
    assert.equal(channel.closed, false);
  });

  it('push answered AGAIN is resent at once, then acked', async () => {
    const { h, client } = await setup({ channel: { retryInterval: 10_000 } });
    client.command('PING');
    const channel = await h.channel();
    const result = channel.push('{"again":1}');
    const first = await client.waitFor((f) => f.type === MTP_MESSAGE, 1);
    client.respond(first, 'AGAIN');
    const second = await client.waitFor((f) => f.type === MTP_MESSAGE, 2, 500);
    assert.ok(second.sn.equals(first.sn));
    client.respond(second);
    assert.equal(await result, 'acked');
  });

  it('a frame over maxBodyLength: BYE FRAME_TOO_LARGE and close', async () => {
    const { h, client } = await setup({ channel: { maxBodyLength: 1000 } });
    client.write(encodeMtpHeader({ type: MTP_MESSAGE, sn: generateSn(), bodyLength: 2000 }));
    client.write(Buffer.alloc(100, 0x7b));
    await client.waitClosed();
    const [bye] = byeFrames(client.frames);
    assert.match(bye!.body.toString(), /^BYE FRAME_TOO_LARGE /);
    const info = await h.closeOf(await h.channel());
    assert.deepEqual([info.code, info.local], ['FRAME_TOO_LARGE', true]);
  });

  it('garbage overflow: close GARBAGE', async () => {
    const { h, client } = await setup({ channel: { maxGarbage: 1024 } });
    client.message('{"ok":1}');
    const channel = await h.channel();
    client.write(Buffer.alloc(4096, 0x78));
    await client.waitClosed();
    assert.match(byeFrames(client.frames)[0]!.body.toString(), /^BYE GARBAGE /);
    const info = await h.closeOf(channel);
    assert.deepEqual([info.code, info.local], ['GARBAGE', true]);
  });

  it('skipped garbage before a valid frame is tolerated (logged MTP_GARBAGE_SKIPPED)', async () => {
    const logger = recordingLogger();
    const { h, client } = await setup({ autoAck: true, logger, channel: { maxGarbage: 1024 } });
    client.message('{"first":1}');
    const channel = await h.channel();
    client.write(Buffer.from('some garbage bytes'));
    const sn = client.message('{"second":2}');
    await client.waitFor(isOk(sn));
    assert.equal((await h.packagesFrom(channel, 2))[1]?.body.toString(), '{"second":2}');
    assert.equal(channel.closed, false);
    const [skipped] = withCode(logger.lines, 'MTP_GARBAGE_SKIPPED');
    assert.equal(skipped?.level, 'warn');
    assert.equal(skipped?.fields.bytes, 'some garbage bytes'.length);
    assert.equal(skipped?.fields.conn, channel.id);
  });

  it('idle timeout: nothing received for idleTimeout → BYE IDLE_TIMEOUT and close', async () => {
    const { h, client } = await setup({ channel: { idleTimeout: 100 } });
    client.command('PING');
    const channel = await h.channel();
    // traffic keeps it open
    for (let i = 0; i < 4; i += 1) {
      await sleep(40);
      client.command('PING');
    }
    assert.equal(channel.closed, false);
    const started = performance.now();
    await client.waitClosed();
    assert.ok(performance.now() - started >= 60);
    assert.match(byeFrames(client.frames)[0]!.body.toString(), /^BYE IDLE_TIMEOUT /);
    const info = await h.closeOf(channel);
    assert.deepEqual([info.code, info.local], ['IDLE_TIMEOUT', true]);
  });

  it('slow consumer: a client that stops reading is closed SLOW_CONSUMER with bounded buffering', async () => {
    const maxOutgoingBytes = 256 * 1024;
    const { h, client } = await setup({ channel: { maxOutgoingBytes, closeGrace: 100 } });
    client.command('PING');
    const channel = await h.channel();
    await client.waitFor((f) => f.type === MTP_COMMAND_RESPONSE);
    client.socket.pause();
    const body = JSON.stringify({ data: 'x'.repeat(64 * 1024) });
    const results: Promise<DeliveryResult>[] = [];
    let maxBuffered = 0;
    for (let i = 0; i < 4000 && !channel.closed; i += 1) {
      results.push(channel.push(body));
      maxBuffered = Math.max(maxBuffered, channel.bufferedBytes);
      if (i % 8 === 7) await sleep(1);
    }
    assert.equal(channel.closed, true, 'closed before 4000 pushes');
    assert.ok(maxBuffered <= maxOutgoingBytes + body.length + 64, `buffered at most ${maxBuffered}`);
    const info = await h.closeOf(channel);
    assert.deepEqual([info.code, info.local], ['SLOW_CONSUMER', true]);
    assert.equal(await results.at(-1), 'closed');
    assert.equal(await channel.push(body), 'closed');
    client.socket.resume();
    await client.waitClosed();
  });

  it('holds packages until the handler is installed, then delivers them in order', async () => {
    const { h, client } = await setup({ handlerDelay: 60 });
    const sns = [1, 2, 3].map((n) => client.message(`{"n":${n}}`));
    await sleep(30);
    assert.equal(h.packages.length, 0);
    const channel = await h.channel();
    const pkgs = await h.packagesFrom(channel, 3);
    assert.deepEqual(
      pkgs.map((p) => p.body.toString()),
      ['{"n":1}', '{"n":2}', '{"n":3}'],
    );
    for (const p of pkgs) p.ack();
    for (const sn of sns) await client.waitFor(isOk(sn));
  });

  it('more packages than maxPendingPackages before the handler: PROTOCOL_ERROR', async () => {
    const { h, client } = await setup({ handlerDelay: 100, channel: { maxPendingPackages: 4 } });
    for (let n = 0; n < 5; n += 1) client.message(`{"n":${n}}`);
    await client.waitClosed();
    assert.match(byeFrames(client.frames)[0]!.body.toString(), /^BYE PROTOCOL_ERROR /);
    const channel = await h.channel();
    const info = await h.closeOf(channel, 1000);
    assert.equal(info.code, 'PROTOCOL_ERROR');
    assert.equal(h.packages.length, 0, 'held packages of a closed channel are dropped');
  });

  it('peer close: onClose once with local false; pending pushes resolve closed; close() is idempotent', async () => {
    const { h, client } = await setup({ channel: { retryInterval: 10_000 } });
    client.command('PING');
    const channel: ClientChannel = await h.channel();
    const pending = channel.push('{"p":1}');
    await client.waitFor((f) => f.type === MTP_MESSAGE);
    client.socket.end();
    assert.equal(await pending, 'closed');
    const info = await h.closeOf(channel);
    assert.deepEqual([info.code, info.local], ['PEER_CLOSED', false]);
    channel.close('SHUTDOWN', 'again');
    channel.close('SHUTDOWN', 'again');
    await sleep(20);
    assert.equal(h.closes.get(channel.id)?.length, 1);
  });

  it('local close: BYE <code> <reason>, then the socket ends', async () => {
    const { h, client } = await setup();
    client.command('PING');
    const channel = await h.channel();
    channel.close('IDENTITY_CONFLICT', 'logged in elsewhere');
    await client.waitClosed();
    const byes = byeFrames(client.frames);
    assert.equal(byes.length, 1);
    assert.equal(byes[0]!.body.toString(), 'BYE IDENTITY_CONFLICT logged in elsewhere');
    assert.equal(byes[0]!.type, MTP_COMMAND);
    const info = await h.closeOf(channel);
    assert.deepEqual(info, { code: 'IDENTITY_CONFLICT', reason: 'logged in elsewhere', local: true });
    assert.equal(channel.closed, true);
    assert.equal(await channel.push('{}'), 'closed');
    await until(() => h.listener.connectionCount === 0, 1000, 'connection released');
  });

  it('is an instance of MtpChannel', async () => {
    const { h, client } = await setup();
    client.command('PING');
    assert.ok((await h.channel()) instanceof MtpChannel);
  });
});

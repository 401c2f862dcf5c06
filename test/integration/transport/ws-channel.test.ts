/**
 * WsChannel over real sockets (through the StationListener, `ws` as the client): the upgrade (also when the
 * request arrives one byte at a time), packages, application heartbeats, ACK-confirmed pushes, limits and
 * close codes.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import type { DeliveryResult } from '../../../src/transport/client-channel.ts';
import { WsChannel } from '../../../src/transport/ws-channel.ts';
import { Harness, type HarnessOptions } from './listener-harness.ts';
import { recordingLogger, withCode } from './recording-logger.ts';
import { sleep, until } from './wait.ts';

let harness: Harness | undefined;
const sockets: { terminate?: () => void; destroy?: () => void }[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) {
    s.terminate?.();
    s.destroy?.();
  }
  await harness?.stop();
  harness = undefined;
});

interface TestClient {
  readonly ws: WebSocket;
  readonly received: string[];
  closeEvent: { code: number; reason: string } | undefined;
}

async function openClient(port: number): Promise<TestClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  sockets.push(ws);
  const client: TestClient = { ws, received: [], closeEvent: undefined };
  ws.on('message', (data) => client.received.push(String(data)));
  ws.on('close', (code, reason) => (client.closeEvent = { code, reason: reason.toString() }));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return client;
}

async function setup(options: HarnessOptions = {}): Promise<{ h: Harness; client: TestClient }> {
  const h = await Harness.start(options);
  harness = h;
  const client = await openClient(h.port);
  return { h, client };
}

const SIG_A =
  'MEUCIQDVa+qqZBOCVnFaMStPIcSAEZMhbDuLMID5b08VrbPX+QIgMJRA1ZchHFaMrxyikxnDQYQDa4lKtTd6vqhp/Bvq9HI=';
const SIG_B =
  'MEYCIQDMccryVVtw9x8IMhFzIW4hoB4yU0TcfIf8aJLkoyn/YgIhAICZHdXkHwGStjQGA6/Qj5e/SZiml4VBzQKxe7tsBiJD';

function message(signature: string, time: number): string {
  return JSON.stringify({ sender: 'a@x', receiver: 'b@y', time, data: 'ZGF0YQ==', signature });
}

/** The client side of the reference ACK: the values cut out of the received JSON text. */
function ackFor(json: string): string {
  const parsed = JSON.parse(json) as { time: number; signature: string };
  return `ACK:${JSON.stringify({ time: parsed.time, signature: parsed.signature })}`;
}

/** Reads from a raw socket until the end of the HTTP response head. */
function readHead(socket: Socket): Promise<{ head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        socket.off('data', onData);
        resolve({ head: buf.subarray(0, end).toString('latin1'), rest: buf.subarray(end + 4) });
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

describe('WsChannel', () => {
  it('upgrades a request written one byte at a time, with a correct Sec-WebSocket-Accept', async () => {
    const h = await Harness.start();
    harness = h;
    const socket = connect({ host: '127.0.0.1', port: h.port });
    sockets.push(socket);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const key = Buffer.from('0123456789abcdef').toString('base64');
    const request =
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    const response = readHead(socket);
    for (const byte of Buffer.from(request, 'latin1')) {
      socket.write(Buffer.of(byte));
      await sleep(0);
    }
    const { head, rest } = await response;
    const lines = head.split('\r\n');
    assert.match(lines[0]!, /^HTTP\/1\.1 101 /);
    const expected = createHash('sha1')
      .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
      .digest('base64');
    const accept = lines.find((l) => l.toLowerCase().startsWith('sec-websocket-accept:'));
    assert.equal(accept?.slice(accept.indexOf(':') + 1).trim(), expected);
    const channel = await h.channel();
    assert.equal(channel.kind, 'websocket');
    assert.match(channel.id, /^w\d+$/);
    assert.equal(channel.remote.address, '127.0.0.1');

    // the connection carries frames after the upgrade: a masked text `PING` is answered `PONG`
    const mask = Buffer.from([1, 2, 3, 4]);
    const payload = Buffer.from('PING').map((b, i) => b ^ mask[i % 4]!);
    let got = rest;
    socket.on('data', (chunk: Buffer) => (got = Buffer.concat([got, chunk])));
    socket.write(Buffer.concat([Buffer.from([0x81, 0x84]), mask, payload]));
    await until(() => got.length >= 6, 1000, 'PONG frame');
    assert.deepEqual(got.subarray(0, 6), Buffer.concat([Buffer.from([0x81, 0x04]), Buffer.from('PONG')]));
  });

  it('text and binary data frames become packages; control strings do not', async () => {
    const { h, client } = await setup();
    client.ws.send('{"a":1}');
    for (const control of ['PONG', 'NOOP', 'OK', '']) client.ws.send(control);
    client.ws.send(Buffer.from('{"b":2}'), { binary: true });
    client.ws.send('PING');
    const channel = await h.channel();
    const pkgs = await h.packagesFrom(channel, 2);
    await until(() => client.received.includes('PONG'), 1000, 'PONG');
    await sleep(20);
    assert.deepEqual(
      h.packages.map((p) => p.body.toString()),
      ['{"a":1}', '{"b":2}'],
    );
    pkgs[0]!.ack(); // a no-op on WebSocket
    await sleep(20);
    assert.deepEqual(client.received, ['PONG']);
    assert.ok(channel instanceof WsChannel);
    assert.equal(channel.ackEnabled, false);
  });

  it('push before any ACK resolves written once flushed', async () => {
    const { h, client } = await setup();
    client.ws.send('PING');
    const channel = await h.channel();
    const body = message(SIG_A, 1795324927.258);
    assert.equal(await channel.push(body, { signature: SIG_A }), 'written');
    await until(() => client.received.includes(body), 1000, 'pushed message');
  });

  it('after an ACK: pushes wait for their ACK (acked) or expire after ackTimeout (no resend)', async () => {
    const { h, client } = await setup({ channel: { ackTimeout: 100 } });
    client.ws.send(`ACK:${JSON.stringify({ time: 1, signature: 'unknown' })}`); // the client sends ACKs
    client.ws.send('PING');
    await until(() => client.received.includes('PONG'), 1000, 'PONG');
    const channel = (await h.channel()) as WsChannel;
    assert.equal(channel.ackEnabled, true);

    const a = message(SIG_A, 1795324927.258);
    const b = message(SIG_B, 1795324928.5);
    const acked = channel.push(a, { signature: SIG_A });
    const expired = channel.push(b, { signature: SIG_B });
    let settledA: DeliveryResult | undefined;
    void acked.then((r) => (settledA = r));
    await until(() => client.received.includes(a) && client.received.includes(b), 1000, 'pushes');
    await sleep(20);
    assert.equal(settledA, undefined, 'waits for its ACK');
    client.ws.send(ackFor(a));
    assert.equal(await acked, 'acked');
    const started = performance.now();
    assert.equal(await expired, 'expired');
    assert.ok(performance.now() - started < 500);
    assert.equal(client.received.filter((m) => m === b).length, 1, 'never resent');
  });

  it('matches ACKs by time when a push has no signature, and parses non-JSON ACKs heuristically', async () => {
    const { h, client } = await setup({ channel: { ackTimeout: 1000 } });
    client.ws.send('ACK:{}');
    client.ws.send('PING');
    await until(() => client.received.includes('PONG'), 1000, 'PONG');
    const channel = await h.channel();
    const byTime = channel.push('{"sender":"a@x","time":1795324929.25,"data":"x"}', {
      time: '1795324929.25',
    });
    const byBody = channel.push(message(SIG_B, 17));
    await until(() => client.received.length >= 3, 1000, 'pushes');
    client.ws.send('ACK:{"time":1795324929.25}');
    assert.equal(await byTime, 'acked');
    // not JSON (unquoted signature): the reference `_fetchValue` heuristic still finds it
    client.ws.send(`ACK:{"time": 17, "signature": ${SIG_B}}`);
    assert.equal(await byBody, 'acked');
  });

  it('an oversize frame closes with 1009 (FRAME_TOO_LARGE)', async () => {
    const { h, client } = await setup({ channel: { maxBodyLength: 1000 } });
    client.ws.send('x'.repeat(2000));
    await until(() => client.closeEvent !== undefined, 1000, 'client close');
    assert.equal(client.closeEvent?.code, 1009);
    const info = await h.closeOf(await h.channel());
    assert.deepEqual([info.code, info.local], ['FRAME_TOO_LARGE', true]);
    assert.equal(h.packages.length, 0);
  });

  it('a plain GET without upgrade gets 426 Upgrade Required', async () => {
    const h = await Harness.start();
    harness = h;
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = get({ host: '127.0.0.1', port: h.port, path: '/', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
    });
    assert.equal(status, 426);
    assert.equal(h.channels.length, 0);
    await until(() => h.listener.connectionCount === 0, 1000, 'connection closed');
  });

  for (const [what, request, status, code] of [
    [
      'an upgrade without Sec-WebSocket-Key gets 400',
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n',
      400,
      undefined,
    ],
    [
      'a non-WebSocket upgrade gets 426',
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n',
      426,
      'HTTP_NO_UPGRADE',
    ],
    ['a malformed request gets 400', 'GET / HTTP/1.1\r\nbroken header line\r\n\r\n', 400, 'HTTP_BAD_REQUEST'],
  ] as const) {
    it(`${what} and is closed`, async () => {
      const logger = recordingLogger();
      const h = await Harness.start({ logger });
      harness = h;
      const socket = connect({ host: '127.0.0.1', port: h.port });
      sockets.push(socket);
      socket.on('error', () => {});
      const head = readHead(socket);
      socket.write(request);
      assert.match((await head).head, new RegExp(`^HTTP/1\\.1 ${status} `));
      await until(() => socket.destroyed || socket.readyState === 'closed', 1000, 'closed');
      assert.equal(h.channels.length, 0);
      if (code !== undefined) assert.equal(withCode(logger.lines, code).length, 1);
    });
  }

  it('idle timeout closes with 1008 and reason IDLE_TIMEOUT', async () => {
    const { h, client } = await setup({ channel: { idleTimeout: 100 } });
    await until(() => client.closeEvent !== undefined, 1000, 'client close');
    assert.equal(client.closeEvent?.code, 1008);
    assert.match(client.closeEvent?.reason ?? '', /^IDLE_TIMEOUT: /);
    const info = await h.closeOf(await h.channel());
    assert.deepEqual([info.code, info.local], ['IDLE_TIMEOUT', true]);
  });

  it('close(): 1001 for SHUTDOWN, 1008 for limits, reason truncated to 123 bytes', async () => {
    const { h, client } = await setup();
    const other = await openClient(h.port);
    const [first, second] = [await h.channel(1), await h.channel(2)];
    first.close('SHUTDOWN', 'bye');
    second.close('RATE_LIMITED', 'é'.repeat(100));
    await until(() => client.closeEvent !== undefined && other.closeEvent !== undefined, 1000, 'closes');
    const byChannel = new Map([
      [first.id, client.closeEvent],
      [second.id, other.closeEvent],
    ]);
    // which client got which channel depends on accept order: match by code
    const events = [...byChannel.values()].sort((x, y) => (x?.code ?? 0) - (y?.code ?? 0));
    assert.equal(events[0]?.code, 1001);
    assert.equal(events[0]?.reason, 'SHUTDOWN: bye');
    assert.equal(events[1]?.code, 1008);
    assert.ok(Buffer.byteLength(events[1]?.reason ?? '') <= 123);
    assert.match(events[1]?.reason ?? '', /^RATE_LIMITED: é+$/);
  });

  it('slow consumer: closed SLOW_CONSUMER when bufferedAmount exceeds maxOutgoingBytes', async () => {
    const maxOutgoingBytes = 256 * 1024;
    const { h, client } = await setup({ channel: { maxOutgoingBytes, closeGrace: 100 } });
    client.ws.send('PING');
    const channel = await h.channel();
    await until(() => client.received.includes('PONG'), 1000, 'PONG');
    client.ws.pause();
    const body = JSON.stringify({ data: 'x'.repeat(64 * 1024) });
    let maxBuffered = 0;
    for (let i = 0; i < 4000 && !channel.closed; i += 1) {
      void channel.push(body);
      maxBuffered = Math.max(maxBuffered, channel.bufferedBytes);
      if (i % 8 === 7) await sleep(1);
    }
    assert.equal(channel.closed, true);
    assert.ok(maxBuffered <= maxOutgoingBytes + body.length + 64, `buffered at most ${maxBuffered}`);
    const info = await h.closeOf(channel);
    assert.deepEqual([info.code, info.local], ['SLOW_CONSUMER', true]);
  });

  it('peer close: onClose once with local false, pending pushes resolve closed', async () => {
    const { h, client } = await setup({ channel: { ackTimeout: 10_000 } });
    client.ws.send('ACK:{"signature":"x"}');
    const channel = await h.channel();
    await until(() => (channel as WsChannel).ackEnabled, 1000, 'ACK seen');
    const pending = channel.push(message(SIG_A, 1), { signature: SIG_A });
    client.ws.close(1000, 'done');
    assert.equal(await pending, 'closed');
    const info = await h.closeOf(channel);
    assert.deepEqual([info.code, info.local], ['PEER_CLOSED', false]);
    await sleep(20);
    assert.equal(h.closes.get(channel.id)?.length, 1);
  });
});

/**
 * StationListener over real sockets: PROXY protocol v1/v2 (optional / required), framing detection
 * (unknown, timeout), connection limits (total and per PROXY-resolved address) and shutdown.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { MTP_COMMAND_RESPONSE } from '../../../src/transport/mtp-header.ts';
import { Harness } from './listener-harness.ts';
import { MtpTestClient, byeFrames } from './mtp-test-client.ts';
import { recordingLogger, withCode } from './recording-logger.ts';
import { sleep, until } from './wait.ts';

let harness: Harness | undefined;
const extra: { destroy?: () => void; terminate?: () => void }[] = [];

afterEach(async () => {
  for (const s of extra.splice(0)) {
    s.terminate?.();
    s.destroy?.();
  }
  await harness?.stop();
  harness = undefined;
});

function proxyV1(address: string, port: number): Buffer {
  return Buffer.from(`PROXY TCP4 ${address} 10.0.0.1 ${port} 9394\r\n`, 'latin1');
}

function proxyV2(address: string, port: number): Buffer {
  const header = Buffer.alloc(16 + 12);
  Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]).copy(header);
  header[12] = 0x21; // version 2, PROXY
  header[13] = 0x11; // TCP over IPv4
  header.writeUInt16BE(12, 14);
  address.split('.').forEach((octet, i) => (header[16 + i] = Number(octet)));
  Buffer.from([10, 0, 0, 1]).copy(header, 20);
  header.writeUInt16BE(port, 24);
  header.writeUInt16BE(9394, 26);
  return header;
}

/** An MTP client whose first bytes are `preamble`, then a PING; resolves once connected. */
async function mtpClient(h: Harness, preamble?: Buffer): Promise<MtpTestClient> {
  const client = h.track(await MtpTestClient.connect(h.port, preamble));
  client.command('PING');
  return client;
}

/** A raw socket that writes `bytes` and records what it receives. */
async function rawClient(h: Harness, bytes?: Buffer): Promise<{ socket: Socket; received: () => Buffer }> {
  const socket = h.track(connect({ host: '127.0.0.1', port: h.port }));
  let received = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  if (bytes !== undefined) socket.write(bytes);
  return { socket, received: () => received };
}

const closedSocket = (socket: Socket) => () => socket.destroyed || socket.readyState === 'closed';

describe('StationListener: PROXY protocol', () => {
  for (const mode of ['optional', 'required'] as const) {
    for (const [version, build] of [
      ['v1', proxyV1],
      ['v2', proxyV2],
    ] as const) {
      it(`${mode}: a ${version} header gives channel.remote (MTP and WebSocket)`, async () => {
        const h = await Harness.start({ proxyProtocol: mode });
        harness = h;
        const client = await mtpClient(h, build('203.0.113.7', 51234));
        await client.waitFor((f) => f.type === MTP_COMMAND_RESPONSE);
        const channel = await h.channel();
        assert.deepEqual(channel.remote, { address: '203.0.113.7', port: 51234 });

        // WebSocket behind the proxy: the header precedes the HTTP upgrade
        const ws = new WebSocket(`ws://127.0.0.1:${h.port}/`, {
          createConnection: () => {
            const socket = connect({ host: '127.0.0.1', port: h.port });
            socket.write(build('198.51.100.4', 4000));
            return socket;
          },
        });
        extra.push(ws);
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
        const wsChannel = await h.channel(2);
        assert.equal(wsChannel.kind, 'websocket');
        assert.deepEqual(wsChannel.remote, { address: '198.51.100.4', port: 4000 });
      });
    }
  }

  it('optional: a connection without a header uses the socket peer', async () => {
    const h = await Harness.start({ proxyProtocol: 'optional' });
    harness = h;
    const client = await mtpClient(h);
    await client.waitFor((f) => f.type === MTP_COMMAND_RESPONSE);
    assert.equal((await h.channel()).remote.address, '127.0.0.1');
  });

  it('required: a connection without a header (or with a bad one) is closed without a reply', async () => {
    const h = await Harness.start({ proxyProtocol: 'required' });
    harness = h;
    const bare = await mtpClient(h);
    const bad = await rawClient(h, Buffer.from('PROXY NONSENSE\r\nDIM'));
    await bare.waitClosed();
    await until(closedSocket(bad.socket), 1000, 'bad header closed');
    assert.equal(bare.frames.length, 0);
    assert.equal(bad.received().length, 0);
    assert.equal(h.channels.length, 0);
  });

  it('the per-IP limit counts the PROXY address, not the socket peer', async () => {
    const h = await Harness.start({ proxyProtocol: 'required', maxConnectionsPerIp: 2 });
    harness = h;
    const a1 = await mtpClient(h, proxyV1('198.51.100.9', 1001));
    const a2 = await mtpClient(h, proxyV2('198.51.100.9', 1002));
    await a1.waitFor((f) => f.type === MTP_COMMAND_RESPONSE);
    await a2.waitFor((f) => f.type === MTP_COMMAND_RESPONSE);
    const a3 = await mtpClient(h, proxyV1('198.51.100.9', 1003));
    await a3.waitClosed();
    assert.match(byeFrames(a3.frames)[0]?.body.toString() ?? '', /^BYE TOO_MANY_CONNECTIONS /);
    // same socket peer (127.0.0.1), other client address: accepted
    const b = await mtpClient(h, proxyV1('198.51.100.10', 2001));
    await b.waitFor((f) => f.type === MTP_COMMAND_RESPONSE);
    assert.equal(h.channels.length, 3);
    // a slot frees up when a connection closes
    a1.destroy();
    await until(() => h.listener.connectionCount === 3, 1000, 'released');
    const a4 = await mtpClient(h, proxyV1('198.51.100.9', 1004));
    await a4.waitFor((f) => f.type === MTP_COMMAND_RESPONSE);
  });
});

describe('StationListener: detection and limits', () => {
  it('unknown framing: closed without writing anything, logged UNKNOWN_PROTOCOL', async () => {
    const logger = recordingLogger();
    const h = await Harness.start({ logger });
    harness = h;
    const raw = await rawClient(h, Buffer.from('HELLO WORLD\r\n'));
    await until(closedSocket(raw.socket), 1000, 'closed');
    assert.equal(raw.received().length, 0);
    assert.equal(h.channels.length, 0);
    assert.equal(withCode(logger.lines, 'UNKNOWN_PROTOCOL').length, 1);
  });

  it('no decision within detectTimeout: closed (HANDSHAKE_TIMEOUT)', async () => {
    const logger = recordingLogger();
    const h = await Harness.start({ detectTimeout: 100, logger });
    harness = h;
    const silent = await rawClient(h);
    const partial = await rawClient(h, Buffer.from('DI')); // could still become MTP
    const started = performance.now();
    await until(() => closedSocket(silent.socket)() && closedSocket(partial.socket)(), 1000, 'closed');
    assert.ok(performance.now() - started >= 50);
    assert.equal(h.channels.length, 0);
    assert.equal(h.listener.connectionCount, 0);
    assert.equal(withCode(logger.lines, 'HANDSHAKE_TIMEOUT').length, 2);
  });

  it('maxConnections 2: the third connection is closed TOO_MANY_CONNECTIONS (BYE / 503)', async () => {
    const h = await Harness.start({ maxConnections: 2 });
    harness = h;
    const c1 = await mtpClient(h);
    const c2 = await mtpClient(h);
    await c1.waitFor((f) => f.type === MTP_COMMAND_RESPONSE);
    await c2.waitFor((f) => f.type === MTP_COMMAND_RESPONSE);
    const c3 = await mtpClient(h);
    await c3.waitClosed();
    assert.match(byeFrames(c3.frames)[0]?.body.toString() ?? '', /^BYE TOO_MANY_CONNECTIONS /);
    assert.equal(c3.framesOf(MTP_COMMAND_RESPONSE).length, 0);

    const ws = new WebSocket(`ws://127.0.0.1:${h.port}/`);
    extra.push(ws);
    const status = await new Promise<number | undefined>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
      ws.once('open', () => resolve(101));
      ws.once('error', () => resolve(undefined));
    });
    assert.equal(status, 503);
    assert.equal(h.channels.length, 2);
    // and ids are unique per listener
    assert.equal(new Set(h.channels.map((c) => c.id)).size, 2);
  });

  it('close(): every channel closed SHUTDOWN, detecting sockets dropped, resolves; idempotent', async () => {
    const h = await Harness.start();
    harness = h;
    const m1 = await mtpClient(h);
    const m2 = await mtpClient(h);
    const ws = new WebSocket(`ws://127.0.0.1:${h.port}/`);
    extra.push(ws);
    let wsClose: number | undefined;
    ws.on('close', (code) => (wsClose = code));
    ws.on('error', () => {});
    await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    const detecting = await rawClient(h, Buffer.from('D'));
    await until(() => h.channels.length === 3 && h.listener.connectionCount === 4, 1000, 'connections');

    const closing = h.listener.close();
    assert.equal(h.listener.close(), closing);
    await closing;
    for (const channel of h.channels) {
      const info = await h.closeOf(channel);
      assert.deepEqual([info.code, info.local], ['SHUTDOWN', true]);
    }
    await m1.waitClosed();
    await m2.waitClosed();
    assert.match(byeFrames(m1.frames)[0]?.body.toString() ?? '', /^BYE SHUTDOWN /);
    await until(() => wsClose !== undefined, 1000, 'ws close');
    assert.equal(wsClose, 1001);
    assert.ok(closedSocket(detecting.socket)());
    assert.equal(h.listener.connectionCount, 0);
    await assert.rejects(MtpTestClient.connect(h.port));
    await sleep(0);
  });
});

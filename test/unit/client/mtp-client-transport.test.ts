/**
 * The MTP client transport against a raw in-test TCP server speaking MTP through the pure codec: sends are
 * Message frames with fresh sns and resolve on the station's `OK` (or time out without it), station
 * messages are acked automatically unless `autoAck` is off, PING/PONG both ways, NOOP bodies dropped,
 * fragments re-assembled, BYE commands and the socket close exposed, close idempotent.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isClientError } from '../../../src/client/client-error.ts';
import { MtpClientTransport } from '../../../src/client/mtp-client-transport.ts';
import { MtpDecoder } from '../../../src/transport/mtp-decoder.ts';
import type { MtpFrame } from '../../../src/transport/mtp-decoder.ts';
import {
  encodeFrame,
  generateSn,
  MTP_COMMAND,
  MTP_COMMAND_RESPONSE,
  MTP_MESSAGE,
  MTP_MESSAGE_FRAGMENT,
  MTP_MESSAGE_RESPONSE,
} from '../../../src/transport/mtp-header.ts';

/** One accepted connection of the raw server. */
class Peer {
  readonly socket: Socket;
  readonly frames: MtpFrame[] = [];
  ackMessages = true;
  answerPing = true;
  readonly #decoder = new MtpDecoder();
  readonly #waiters: Array<{ predicate: (f: MtpFrame) => boolean; resolve: (f: MtpFrame) => void }> = [];

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      for (const frame of this.#decoder.push(chunk)) {
        this.frames.push(frame);
        if (frame.type === MTP_MESSAGE && this.ackMessages) {
          socket.write(encodeFrame({ type: MTP_MESSAGE_RESPONSE, sn: frame.sn, body: 'OK' }));
        }
        if (frame.type === MTP_COMMAND && frame.body.toString() === 'PING' && this.answerPing) {
          socket.write(encodeFrame({ type: MTP_COMMAND_RESPONSE, sn: frame.sn, body: 'PONG' }));
        }
        for (const waiter of [...this.#waiters]) {
          if (waiter.predicate(frame)) {
            this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
            waiter.resolve(frame);
          }
        }
      }
    });
  }

  next(predicate: (f: MtpFrame) => boolean, timeoutMs = 2000): Promise<MtpFrame> {
    const past = this.frames.find(predicate);
    if (past !== undefined) return Promise.resolve(past);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no such frame')), timeoutMs);
      this.#waiters.push({
        predicate,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  send(type: Parameters<typeof encodeFrame>[0]['type'], body: string, sn = generateSn()): Buffer {
    this.socket.write(encodeFrame({ type, sn, body }));
    return sn;
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('MtpClientTransport', () => {
  let server: Server;
  let port: number;
  const accepted: Peer[] = [];
  const waiting: Array<(peer: Peer) => void> = [];

  before(async () => {
    server = createServer((socket) => {
      const peer = new Peer(socket);
      accepted.push(peer);
      waiting.shift()?.(peer);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    for (const peer of accepted) peer.socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function connect(
    options: Partial<Parameters<typeof MtpClientTransport.connect>[0]> = {},
  ): Promise<{ client: MtpClientTransport; peer: Peer }> {
    const peerPromise = new Promise<Peer>((resolve) => waiting.push(resolve));
    const client = await MtpClientTransport.connect({ host: '127.0.0.1', port, ...options });
    return { client, peer: await peerPromise };
  }

  it('send writes a Message frame with a fresh sn and resolves on the station OK', async () => {
    const { client, peer } = await connect();
    await client.send('{"a":1}');
    await client.send('{"a":2}');
    const messages = peer.frames.filter((f) => f.type === MTP_MESSAGE);
    assert.equal(messages.length, 2);
    assert.equal(messages[0]?.headerLength, 16);
    assert.equal(messages[0]?.body.toString(), '{"a":1}');
    assert.notDeepEqual(messages[0]?.sn, messages[1]?.sn);
    assert.equal(client.stats.messagesSent, 2);
    assert.equal(client.stats.messagesAcked, 2);
    assert.equal(client.pendingAcks, 0);
    assert.equal(client.kind, 'mtp');
    assert.equal(client.remotePort, port);
    await client.close();
  });

  it('send times out with ACK_TIMEOUT when the station withholds OK; awaitAck:false resolves when written', async () => {
    const { client, peer } = await connect({ sendTimeoutMs: 150 });
    peer.ackMessages = false;
    const started = performance.now();
    await assert.rejects(client.send('{"x":1}'), (err) => isClientError(err, 'ACK_TIMEOUT'));
    assert.ok(performance.now() - started >= 140);
    assert.equal(client.pendingAcks, 0);
    await assert.rejects(client.send('{"x":2}', { timeoutMs: 50 }), (err) =>
      isClientError(err, 'ACK_TIMEOUT'),
    );
    await client.send('{"x":3}', { awaitAck: false });
    await peer.next((f) => f.type === MTP_MESSAGE && f.body.toString() === '{"x":3}');
    // a late OK for a timed-out send is ignored
    const first = peer.frames.find((f) => f.type === MTP_MESSAGE);
    peer.send(MTP_MESSAGE_RESPONSE, 'OK', first?.sn);
    await client.close();
  });

  it('acks station messages with OK (same sn) and delivers the body; autoAck:false withholds the OK', async () => {
    const { client, peer } = await connect();
    const bodies: string[] = [];
    client.onMessage((body) => bodies.push(body));
    const sn = peer.send(MTP_MESSAGE, '{"m":1}');
    const ack = await peer.next((f) => f.type === MTP_MESSAGE_RESPONSE);
    assert.deepEqual(ack.sn, sn);
    assert.equal(ack.body.toString(), 'OK');
    assert.deepEqual(bodies, ['{"m":1}']);

    client.autoAck = false;
    const frames: MtpFrame[] = [];
    client.onFrame((f) => frames.push(f));
    const sn2 = peer.send(MTP_MESSAGE, '{"m":2}');
    await delay(150);
    assert.deepEqual(bodies, ['{"m":1}', '{"m":2}']);
    assert.equal(
      peer.frames.filter((f) => f.type === MTP_MESSAGE_RESPONSE).length,
      1,
      'no OK without autoAck',
    );
    // the test can still ack by hand
    const received = frames.find((f) => f.sn.equals(sn2));
    assert.ok(received);
    client.acknowledge(received);
    const late = await peer.next((f) => f.type === MTP_MESSAGE_RESPONSE && f.sn.equals(sn2));
    assert.equal(late.body.toString(), 'OK');
    await client.close();
  });

  it('an autoAck:false option at construction withholds every OK', async () => {
    const { client, peer } = await connect({ autoAck: false });
    const got = new Promise<string>((resolve) => client.onMessage(resolve));
    peer.send(MTP_MESSAGE, '{"m":3}');
    assert.equal(await got, '{"m":3}');
    await delay(100);
    assert.equal(peer.frames.filter((f) => f.type === MTP_MESSAGE_RESPONSE).length, 0);
    await client.close();
  });

  it('ping resolves on PONG with the same sn; station PING is answered PONG; other commands OK', async () => {
    const { client, peer } = await connect();
    const rtt = await client.ping();
    assert.ok(rtt >= 0);
    const ping = await peer.next((f) => f.type === MTP_COMMAND);
    assert.equal(ping.body.toString(), 'PING');
    const sn = peer.send(MTP_COMMAND, 'PING');
    const pong = await peer.next((f) => f.type === MTP_COMMAND_RESPONSE && f.sn.equals(sn));
    assert.equal(pong.body.toString(), 'PONG');
    const sn2 = peer.send(MTP_COMMAND, 'WHATEVER');
    const ok = await peer.next((f) => f.type === MTP_COMMAND_RESPONSE && f.sn.equals(sn2));
    assert.equal(ok.body.toString(), 'OK');
    peer.answerPing = false;
    await assert.rejects(client.ping(100), (err) => isClientError(err, 'PING_TIMEOUT'));
    await client.close();
  });

  it('acks and drops NOOP/PING/PONG message bodies; re-assembles fragments, acking each page', async () => {
    const { client, peer } = await connect();
    const bodies: string[] = [];
    client.onMessage((body) => bodies.push(body));
    peer.send(MTP_MESSAGE, 'NOOP');
    const sn = generateSn();
    peer.socket.write(encodeFrame({ type: MTP_MESSAGE_FRAGMENT, sn, body: '{"frag', pages: 2, index: 0 }));
    peer.socket.write(
      encodeFrame({ type: MTP_MESSAGE_FRAGMENT, sn, body: 'ment":true}', pages: 2, index: 1 }),
    );
    const second = await peer.next(
      (f) => f.type === MTP_MESSAGE_RESPONSE && f.sn.equals(sn) && f.index === 1,
    );
    assert.equal(second.pages, 2);
    assert.equal(second.headerLength, 24);
    await delay(20);
    assert.deepEqual(bodies, ['{"fragment":true}']);
    assert.equal(peer.frames.filter((f) => f.type === MTP_MESSAGE_RESPONSE).length, 3);
    await client.close();
  });

  it('exposes BYE commands and the socket close; pending sends reject with CLOSED', async () => {
    const { client, peer } = await connect();
    peer.ackMessages = false;
    const byes: string[] = [];
    client.onBye((body) => byes.push(body));
    const closed = new Promise((resolve) => client.onClose(resolve));
    const pending = client.send('{"p":1}');
    await peer.next((f) => f.type === MTP_MESSAGE);
    peer.send(MTP_COMMAND, 'BYE idle timeout');
    await delay(20);
    peer.socket.end();
    const info = await closed;
    await assert.rejects(pending, (err) => isClientError(err, 'CLOSED'));
    assert.deepEqual(byes, ['BYE idle timeout']);
    assert.deepEqual(client.byes, ['BYE idle timeout']);
    assert.equal(client.closed, true);
    assert.deepEqual(info, client.closeInfo);
    assert.equal(client.closeInfo?.byClient, false);
    assert.equal(client.closeInfo?.code, undefined);
    await assert.rejects(client.send('{}'), (err) => isClientError(err, 'CLOSED'));
    await assert.rejects(client.ping(), (err) => isClientError(err, 'CLOSED'));
    await client.close();
  });

  it('close is idempotent and reports a client close', async () => {
    const { client } = await connect();
    const first = client.close();
    const second = client.close();
    await Promise.all([first, second]);
    await client.close();
    assert.equal(client.closeInfo?.byClient, true);
    const late = await new Promise((resolve) => client.onClose(resolve));
    assert.deepEqual(late, client.closeInfo);
  });

  it('connect to a closed port rejects with CONNECT_FAILED', async () => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const freePort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await assert.rejects(MtpClientTransport.connect({ host: '127.0.0.1', port: freePort }), (err) =>
      isClientError(err, 'CONNECT_FAILED'),
    );
  });
});

/**
 * The WebSocket client transport against a `ws` WebSocketServer: text frames, the `ACK:{"time":…,
 * "signature":"…"}` answer to every message frame (reference heuristic, switchable), PING/PONG both ways,
 * control frames ignored, close code and reason exposed, close idempotent.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { isClientError } from '../../../src/client/client-error.ts';
import { fetchAckValue, wsAckFor } from '../../../src/client/ws-client-ack.ts';
import { WsClientTransport } from '../../../src/client/ws-client-transport.ts';

class Peer {
  readonly ws: WebSocket;
  readonly texts: string[] = [];
  echoPong = true;
  readonly #waiters: Array<{ predicate: (t: string) => boolean; resolve: (t: string) => void }> = [];

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      const text = (data as Buffer).toString('utf8');
      this.texts.push(text);
      if (text === 'PING' && this.echoPong) ws.send('PONG');
      for (const waiter of [...this.#waiters]) {
        if (waiter.predicate(text)) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          waiter.resolve(text);
        }
      }
    });
  }

  next(predicate: (t: string) => boolean, timeoutMs = 2000): Promise<string> {
    const past = this.texts.find(predicate);
    if (past !== undefined) return Promise.resolve(past);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no such frame')), timeoutMs);
      this.#waiters.push({
        predicate,
        resolve: (t) => {
          clearTimeout(timer);
          resolve(t);
        },
      });
    });
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const MESSAGE =
  '{"sender": "local_station@wtcohRS3M3WiL1ch7KtosKLs6nNwMW8ep", "receiver": "bob@16qadPbxZy1P2cfxgUdVR6dxPCjQHFyVkB", ' +
  '"time": 1795324927.2584693, "data": "AAAA", "type": "136", "signature": "MEQCIB+/x=="}';

describe('wsAckFor', () => {
  it('cuts time and signature out of the JSON text (first occurrence, quotes and spaces stripped)', () => {
    assert.equal(wsAckFor(MESSAGE), 'ACK:{"time":1795324927.2584693,"signature":"MEQCIB+/x=="}');
    assert.equal(fetchAckValue('{"a":1,"time" :  12 }', 'time'), '12');
    assert.equal(fetchAckValue('{"a":1}', 'time'), undefined);
    assert.equal(wsAckFor('{"a":1}'), undefined);
    assert.equal(wsAckFor('{"time":5}'), 'ACK:{"time":5,"signature":""}');
  });
});

describe('WsClientTransport', () => {
  let wss: WebSocketServer;
  let port: number;
  const waiting: Array<(peer: Peer) => void> = [];

  before(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    port = (wss.address() as AddressInfo).port;
    wss.on('connection', (ws) => waiting.shift()?.(new Peer(ws)));
  });

  after(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });

  async function connect(
    options: Partial<Parameters<typeof WsClientTransport.connect>[0]> = {},
  ): Promise<{ client: WsClientTransport; peer: Peer }> {
    const peerPromise = new Promise<Peer>((resolve) => waiting.push(resolve));
    const client = await WsClientTransport.connect({ host: '127.0.0.1', port, ...options });
    return { client, peer: await peerPromise };
  }

  it('sends text frames, delivers message frames and answers each with an ACK', async () => {
    const { client, peer } = await connect();
    assert.equal(client.kind, 'ws');
    assert.equal(client.remoteHost, '127.0.0.1');
    assert.equal(client.remotePort, port);
    await client.send('{"hello":1}');
    assert.equal(await peer.next((t) => t.startsWith('{')), '{"hello":1}');
    const got = new Promise<string>((resolve) => client.onMessage(resolve));
    peer.ws.send(MESSAGE);
    assert.equal(await got, MESSAGE);
    const ack = await peer.next((t) => t.startsWith('ACK:'));
    assert.equal(ack, 'ACK:{"time":1795324927.2584693,"signature":"MEQCIB+/x=="}');
    const parsed = JSON.parse(ack.slice(4)) as { time: number; signature: string };
    assert.equal(parsed.time, 1795324927.2584693);
    assert.equal(parsed.signature, 'MEQCIB+/x==');
    assert.equal(client.stats.acksSent, 1);
    await client.close();
  });

  it('autoAck:false sends no ACK', async () => {
    const { client, peer } = await connect({ autoAck: false });
    const got = new Promise<string>((resolve) => client.onMessage(resolve));
    peer.ws.send(MESSAGE);
    await got;
    await delay(100);
    assert.equal(peer.texts.filter((t) => t.startsWith('ACK:')).length, 0);
    await client.close();
  });

  it('ping resolves on PONG; station PING is answered PONG; NOOP/OK/PONG frames are not messages', async () => {
    const { client, peer } = await connect();
    const bodies: string[] = [];
    client.onMessage((b) => bodies.push(b));
    assert.ok((await client.ping()) >= 0);
    peer.ws.send('PING');
    await peer.next((t) => t === 'PONG');
    for (const control of ['NOOP', 'OK', '']) peer.ws.send(control);
    await delay(50);
    assert.deepEqual(bodies, []);
    peer.echoPong = false;
    await assert.rejects(client.ping(100), (err) => isClientError(err, 'PING_TIMEOUT'));
    await client.close();
  });

  it('exposes the close code and reason of a station close; sends then reject with CLOSED', async () => {
    const { client, peer } = await connect();
    const closed = new Promise((resolve) => client.onClose(resolve));
    peer.ws.close(4008, 'IDLE_TIMEOUT: bye');
    await closed;
    assert.equal(client.closeCode, 4008);
    assert.equal(client.closeReason, 'IDLE_TIMEOUT: bye');
    assert.equal(client.closeInfo?.byClient, false);
    assert.equal(client.closed, true);
    await assert.rejects(client.send('{}'), (err) => isClientError(err, 'CLOSED'));
    await client.close();
  });

  it('close is idempotent and ends with a normal closure', async () => {
    const { client, peer } = await connect();
    const serverSaw = once(peer.ws, 'close');
    await Promise.all([client.close(), client.close()]);
    await client.close();
    const [code] = (await serverSaw) as [number];
    assert.equal(code, 1000);
    assert.equal(client.closeCode, 1000);
    assert.equal(client.closeInfo?.byClient, true);
  });

  it('connect failure rejects with CONNECT_FAILED', async () => {
    await assert.rejects(WsClientTransport.connect({ url: 'ws://127.0.0.1:1/' }), (err) =>
      isClientError(err, 'CONNECT_FAILED'),
    );
  });
});

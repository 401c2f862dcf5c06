/**
 * TLS on the gateway's shared port (issue 13): MTP over TLS and WSS beside plain MTP and WebSocket, with
 * a test CA; the certificate is reloaded without a restart (new connections get the new one, a broken
 * pair keeps the old one); a failed TLS handshake is closed with a coded log line.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import type { DimClient } from '../../src/client/dim-client.ts';
import { MtpClientTransport } from '../../src/client/mtp-client-transport.ts';
import { WsClientTransport } from '../../src/client/ws-client-transport.ts';
import { createMemoryBackend } from '../../src/engine/memory-backend.ts';
import { connectClient, startTestStation } from '../helpers/station-harness.ts';
import type { TestStation } from '../helpers/station-harness.ts';
import { createTestCa } from '../helpers/test-ca.ts';
import type { TestCa } from '../helpers/test-ca.ts';
import { closeQuietly, dimClient, KeyDirectory, LogRecorder, newUser } from '../helpers/gateway-e2e.ts';

function tlsSocket(port: number, ca: Buffer): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () =>
      resolve(socket),
    );
    socket.once('error', reject);
  });
}

function wss(port: number, ca: Buffer): Promise<{ transport: WsClientTransport; ws: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://localhost:${port}/`, {
      ca,
      perMessageDeflate: false,
      handshakeTimeout: 5000,
    });
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      resolve({ transport: new WsClientTransport(ws, { remoteHost: '127.0.0.1', remotePort: port }), ws });
    });
  });
}

describe('TLS on the shared port', () => {
  let ca: TestCa;
  let station: TestStation;
  let cert: { certFile: string; keyFile: string };
  const logs = new LogRecorder();
  const directory = new KeyDirectory();
  const clients: DimClient[] = [];

  before(async () => {
    ca = createTestCa();
    const issued = ca.issue('first');
    // the station reads fixed paths: a reload picks up whatever is there then
    cert = { certFile: join(ca.dir, 'live.pem'), keyFile: join(ca.dir, 'live.key') };
    copyFileSync(issued.certFile, cert.certFile);
    copyFileSync(issued.keyFile, cert.keyFile);
    station = await startTestStation({
      backend: createMemoryBackend(),
      logger: logs.logger,
      env: { DIM_TLS_CERT_FILE: cert.certFile, DIM_TLS_KEY_FILE: cert.keyFile },
    });
  });

  after(async () => {
    await closeQuietly(clients);
    await station.close();
  });

  it('MTP over TLS, WSS, plain MTP and plain WebSocket on one port: four clients message each other', async () => {
    const mtpTls = dimClient(
      new MtpClientTransport(await tlsSocket(station.port, ca.caPem)),
      newUser('mkm-ecc', 'a'),
      directory,
    );
    const wsTls = dimClient((await wss(station.port, ca.caPem)).transport, newUser('eth'), directory);
    const plainMtp = await connectClient(station.port, 'mtp', newUser('mkm-ecc', 'c'), directory);
    const plainWs = await connectClient(station.port, 'ws', newUser('mkm-rsa', 'd'), directory);
    const all = [mtpTls, wsTls, plainMtp, plainWs];
    clients.push(...all);
    await Promise.all(all.map((c) => c.handshake()));
    await Promise.all(all.map((c) => c.login()));
    for (const [i, from] of all.entries()) {
      const to = all[(i + 1) % all.length] as DimClient;
      const mark = to.mark();
      const sent = await from.sendText(to.id, `hello ${i}`);
      assert.equal((await from.waitReceipt(sent))?.text, 'Message delivered.');
      const got = await to.waitForMessage((m) => m.content.dict['text'] === `hello ${i}`, 5000, {
        since: mark,
      });
      assert.ok(got.verified);
    }
  });

  it('reloads the certificate: new connections get the new one; a broken pair keeps the old one (TLS_RELOAD_FAILED)', async () => {
    const serial = async (): Promise<string> => {
      const socket = await tlsSocket(station.port, ca.caPem);
      const peer = socket.getPeerX509Certificate() as X509Certificate;
      socket.destroy();
      return peer.serialNumber;
    };
    const before = await serial();
    const next = ca.issue('second');
    copyFileSync(next.certFile, cert.certFile);
    copyFileSync(next.keyFile, cert.keyFile);
    assert.equal(station.node.gateway?.reloadTls(), true);
    const after = await serial();
    assert.notEqual(after, before);
    assert.equal(after, new X509Certificate(readFileSync(next.certFile)).serialNumber);
    writeFileSync(cert.keyFile, 'not a key');
    assert.equal(station.node.gateway?.reloadTls(), false);
    await logs.waitFor('TLS_RELOAD_FAILED');
    assert.equal(await serial(), after, 'the previous pair stays in use');
  });

  it('a client that does not trust the certificate fails its handshake; the station logs TLS_ERROR and keeps serving', async () => {
    await assert.rejects(
      new Promise((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: station.port, servername: 'localhost' }, () =>
          resolve(socket),
        );
        socket.once('error', reject);
      }),
    );
    await logs.waitFor('TLS_ERROR');
    const socket = await tlsSocket(station.port, ca.caPem);
    socket.destroy();
  });
});

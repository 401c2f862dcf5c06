/**
 * PROXY protocol end to end (issue 3): behind a load balancer (DIM_PROXY_PROTOCOL=required) the station
 * reads the PROXY v1/v2 header and reports the real client address in `remote_address`; a connection
 * without the header is dropped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DimClient, HandshakeEvent } from '../../src/client/dim-client.ts';
import { MtpClientTransport } from '../../src/client/mtp-client-transport.ts';
import { AGAIN } from '../../src/protocol/dkd/handshake-command.ts';
import { startTestStation } from '../helpers/station-harness.ts';
import type { TestStation } from '../helpers/station-harness.ts';
import {
  closeQuietly,
  dimClient,
  handshakeEvents,
  KeyDirectory,
  LogRecorder,
  mtpOver,
  newUser,
  wsOver,
} from '../helpers/gateway-e2e.ts';

/** A PROXY v2 header (PROXY command, TCP over IPv4). */
function proxyV2(source: string, sourcePort: number, dest: string, destPort: number): Buffer {
  const signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const head = Buffer.from([0x21, 0x11, 0x00, 0x0c]);
  const body = Buffer.alloc(12);
  Buffer.from(source.split('.').map(Number)).copy(body, 0);
  Buffer.from(dest.split('.').map(Number)).copy(body, 4);
  body.writeUInt16BE(sourcePort, 8);
  body.writeUInt16BE(destPort, 10);
  return Buffer.concat([signature, head, body]);
}

describe('PROXY protocol (DIM_PROXY_PROTOCOL=required)', () => {
  const logs = new LogRecorder();
  const directory = new KeyDirectory();
  const clients: Array<{ close(): Promise<void> }> = [];
  let station: TestStation;

  before(async () => {
    station = await startTestStation({ env: { DIM_PROXY_PROTOCOL: 'required' }, logger: logs.logger });
  });

  after(async () => {
    await closeQuietly(clients);
    await station.close();
  });

  function expectRemote(client: DimClient, address: string, port: number): void {
    const [again] = handshakeEvents(client, AGAIN) as HandshakeEvent[];
    assert.deepEqual(again?.remoteAddress, [address, port], 'remote_address of DIM?');
  }

  it('MTP after a PROXY v1 header: DIM? and DIM! carry the PROXY source as remote_address', async () => {
    const { transport } = await mtpOver(station.port, {
      prefix: 'PROXY TCP4 203.0.113.7 192.0.2.10 40123 9394\r\n',
    });
    const client = dimClient(transport, newUser('mkm-ecc', 'proxied'), directory);
    clients.push(client);
    const result = await client.handshake();
    assert.deepEqual(result.remoteAddress, ['203.0.113.7', 40123]);
    expectRemote(client, '203.0.113.7', 40123);
    assert.equal(await client.login(), 'Login received.');
  });

  it('MTP after a PROXY v2 header: remote_address is the PROXY source', async () => {
    const { transport } = await mtpOver(station.port, {
      prefix: proxyV2('198.51.100.23', 50505, '192.0.2.10', 9394),
    });
    const client = dimClient(transport, newUser('eth'), directory);
    clients.push(client);
    const result = await client.handshake();
    assert.deepEqual(result.remoteAddress, ['198.51.100.23', 50505]);
    expectRemote(client, '198.51.100.23', 50505);
  });

  it('WebSocket after a PROXY v1 header: remote_address is the PROXY source', async () => {
    const { transport } = await wsOver(station.port, {
      prefix: 'PROXY TCP4 203.0.113.99 192.0.2.10 61000 9394\r\n',
    });
    const client = dimClient(transport, newUser('mkm-rsa', 'proxiedws'), directory);
    clients.push(client);
    const result = await client.handshake();
    assert.deepEqual(result.remoteAddress, ['203.0.113.99', 61000]);
    expectRemote(client, '203.0.113.99', 61000);
  });

  it('a connection without the PROXY header is dropped (PROXY_ERROR), never answered', async () => {
    const transport = await MtpClientTransport.connect({ host: '127.0.0.1', port: station.port });
    const client = dimClient(transport, newUser('mkm-ecc', 'direct'), directory);
    clients.push(client);
    await assert.rejects(client.handshake({ timeoutMs: 2000 }), { code: 'CLOSED' });
    assert.equal(handshakeEvents(client).length, 0);
    await logs.waitFor('PROXY_ERROR');
  });
});

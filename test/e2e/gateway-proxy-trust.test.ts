/**
 * PROXY protocol hardening end to end (issue 13): a v1 header with an impossible address is refused, and
 * with DIM_TRUSTED_PROXIES only the listed proxies may connect (and claim client addresses); anyone else
 * reaching the gateway port directly is closed PROXY_UNTRUSTED.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { MtpClientTransport } from '../../src/client/mtp-client-transport.ts';
import { createMemoryBackend } from '../../src/engine/memory-backend.ts';
import { startTestStation } from '../helpers/station-harness.ts';
import type { TestStation } from '../helpers/station-harness.ts';
import {
  closeQuietly,
  dimClient,
  KeyDirectory,
  LogRecorder,
  newUser,
  until,
} from '../helpers/gateway-e2e.ts';

const stations: TestStation[] = [];
const open: Array<{ close(): Promise<void> }> = [];

afterEach(async () => {
  await closeQuietly(open.splice(0));
  await Promise.all(stations.splice(0).map((s) => s.close()));
});

function connectFrom(localAddress: string, port: number, prefix: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port, localAddress });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.write(prefix);
      resolve(socket);
    });
  });
}

const closed = (socket: Socket): Promise<void> =>
  new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

describe('PROXY protocol: address validation and trusted proxies', () => {
  it('PROXY TCP4 999.999.999.999 is refused (PROXY_ERROR), the connection closed', async () => {
    const logs = new LogRecorder();
    const s = await startTestStation({
      env: { DIM_PROXY_PROTOCOL: 'required' },
      backend: createMemoryBackend(),
      logger: logs.logger,
    });
    stations.push(s);
    const socket = await connectFrom(
      '127.0.0.1',
      s.port,
      'PROXY TCP4 999.999.999.999 127.0.0.1 5000 9394\r\n',
    );
    await closed(socket);
    const line = await logs.waitFor('PROXY_ERROR');
    assert.match(String(line['msg']), /invalid PROXY v1 TCP4 address/);
  });

  it('DIM_TRUSTED_PROXIES: a direct connection is closed PROXY_UNTRUSTED; the trusted proxy gets through with its client address', async () => {
    const logs = new LogRecorder();
    const s = await startTestStation({
      env: { DIM_PROXY_PROTOCOL: 'required', DIM_TRUSTED_PROXIES: '127.0.0.2' },
      backend: createMemoryBackend(),
      logger: logs.logger,
    });
    stations.push(s);
    const direct = await connectFrom('127.0.0.1', s.port, 'PROXY TCP4 203.0.113.9 127.0.0.1 5000 9394\r\n');
    await closed(direct);
    await logs.waitFor('PROXY_UNTRUSTED', 2000, (r) => r['remote'] === '127.0.0.1');
    const viaProxy = await connectFrom('127.0.0.2', s.port, 'PROXY TCP4 203.0.113.9 127.0.0.1 5000 9394\r\n');
    const client = dimClient(
      new MtpClientTransport(viaProxy),
      newUser('mkm-ecc', 'proxied'),
      new KeyDirectory(),
    );
    open.push(client);
    const result = await client.handshake();
    assert.deepEqual(result.remoteAddress, ['203.0.113.9', 5000]);
    await until(() => logs.withCode('PROXY_UNTRUSTED').length === 1, 1000, 'a single refusal');
  });
});

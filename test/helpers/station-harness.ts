/**
 * Start an in-process station (every role, embedded engine or a given backend) on a free port, and
 * connect DIM clients to it over MTP or WebSocket.
 */
import { loadConfig } from '../../src/config/load-config.ts';
import type { StationConfig } from '../../src/config/station-config.ts';
import type { Backend } from '../../src/engine/backend.ts';
import { createMemoryBackend } from '../../src/engine/memory-backend.ts';
import { ALL_ROLES, StationNode } from '../../src/engine/station-node.ts';
import type { Role } from '../../src/engine/station-node.ts';
import { createStationIdentity } from '../../src/identity/station-identity.ts';
import type { StationIdentity } from '../../src/identity/station-identity.ts';
import { silentLogger } from '../../src/ops/logger.ts';
import { DimClient } from '../../src/client/dim-client.ts';
import type { DimClientOptions } from '../../src/client/dim-client.ts';
import { KeyDirectory } from '../../src/client/key-directory.ts';
import { MtpClientTransport } from '../../src/client/mtp-client-transport.ts';
import { WsClientTransport } from '../../src/client/ws-client-transport.ts';
import { createUserIdentity } from '../../src/client/user-identity.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import type { Logger } from 'pino';

let sharedIdentity: StationIdentity | undefined;

/** One station identity per test process (RSA key generation is slow). */
export function testStationIdentity(): StationIdentity {
  sharedIdentity ??= createStationIdentity({ name: 'gsp-test', rsaBits: 1024, now: Date.now() / 1000 });
  return sharedIdentity;
}

export interface TestStation {
  readonly node: StationNode;
  readonly port: number;
  readonly config: StationConfig;
  readonly identity: StationIdentity;
  close(): Promise<void>;
}

export async function startTestStation(
  options: {
    env?: Record<string, string>;
    backend?: Backend;
    roles?: readonly Role[];
    instanceName?: string;
    logger?: Logger;
  } = {},
): Promise<TestStation> {
  const config = loadConfig({ DIM_HOST: '127.0.0.1', DIM_PORT: '1', ...options.env }, process.cwd());
  const withPort0 = { ...config, port: 0 };
  const identity = testStationIdentity();
  const node = new StationNode({
    config: withPort0,
    identity,
    backend: options.backend ?? createMemoryBackend(),
    roles: options.roles ?? ALL_ROLES,
    instanceName: options.instanceName ?? `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    logger: options.logger ?? silentLogger,
  });
  const address = await node.start();
  return { node, port: address?.port ?? 0, config: withPort0, identity, close: () => node.close() };
}

export type Framing = 'mtp' | 'ws';

/** Connect a client; every client of a test shares one key directory so they can message each other. */
export async function connectClient(
  port: number,
  framing: Framing,
  identity: UserIdentity,
  directory: KeyDirectory,
  options: Partial<DimClientOptions> = {},
): Promise<DimClient> {
  const transport =
    framing === 'mtp'
      ? await MtpClientTransport.connect({ host: '127.0.0.1', port })
      : await WsClientTransport.connect({ host: '127.0.0.1', port });
  return new DimClient({
    transport,
    identity,
    keyDirectory: directory,
    handshakeTimeoutMs: 5000,
    receiptTimeoutMs: 5000,
    ...options,
  });
}

export { KeyDirectory, createUserIdentity };

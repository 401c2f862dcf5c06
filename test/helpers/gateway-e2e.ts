/**
 * Helpers for the gateway end-to-end tests (test/e2e/gateway-*.test.ts): a recording logger (to see the
 * station's coded log lines), raw connections (a PROXY header or a socket the test can pause), a packer
 * for identities that are not connected, session lookups in the backend, and small waits.
 */
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { WebSocket } from 'ws';
import { DimClient } from '../../src/client/dim-client.ts';
import type { ClientEvent, DimClientOptions, HandshakeEvent } from '../../src/client/dim-client.ts';
import type { ClientTransport } from '../../src/client/client-transport.ts';
import { KeyDirectory } from '../../src/client/key-directory.ts';
import { MtpClientTransport } from '../../src/client/mtp-client-transport.ts';
import type { MtpClientTransportOptions } from '../../src/client/mtp-client-transport.ts';
import { createUserIdentity } from '../../src/client/user-identity.ts';
import type { UserIdentity, UserIdentityKind } from '../../src/client/user-identity.ts';
import { WsClientTransport } from '../../src/client/ws-client-transport.ts';
import type { WsClientTransportOptions } from '../../src/client/ws-client-transport.ts';
import type { Backend } from '../../src/engine/backend.ts';
import type { SessionRecord } from '../../src/registry/session-registry.ts';
import type { ClientSession } from '../../src/gateway/client-session.ts';
import type { TestStation } from './station-harness.ts';

export const now = (): number => Date.now() / 1000;

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `predicate` every 5 ms until it holds; rejects after `timeoutMs` naming `what`. */
export async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(5);
  }
}

/** Async variant of `until`. */
export async function untilAsync(
  predicate: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await predicate())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(5);
  }
}

export function newUser(kind: UserIdentityKind = 'mkm-ecc', name = 'user'): UserIdentity {
  return createUserIdentity({ kind, name, now: now() });
}

// ---- logs ------------------------------------------------------------------------------------------

export type LogRecord = Record<string, unknown> & { code?: string; msg?: string; level: number };

/** A pino logger at debug level whose JSON lines are kept in memory. */
export class LogRecorder {
  readonly records: LogRecord[] = [];
  readonly logger: Logger;

  constructor() {
    const records = this.records;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (line.trim().length > 0) records.push(JSON.parse(line) as LogRecord);
        }
        callback();
      },
    });
    this.logger = pino({ level: 'debug' }, sink);
  }

  withCode(code: string): LogRecord[] {
    return this.records.filter((r) => r.code === code);
  }

  async waitFor(code: string, timeoutMs = 2000, predicate: (r: LogRecord) => boolean = () => true) {
    await until(
      () => this.records.some((r) => r.code === code && predicate(r)),
      timeoutMs,
      `a ${code} log line`,
    );
    return this.records.find((r) => r.code === code && predicate(r)) as LogRecord;
  }
}

// ---- connections -----------------------------------------------------------------------------------

/** A TCP socket to the station, connected, with `prefix` (e.g. a PROXY header) written first. */
export function rawSocket(port: number, prefix?: string | Buffer): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      if (prefix !== undefined) socket.write(prefix);
      resolve(socket);
    });
  });
}

/** An MTP client transport over a socket the test holds (to pause it, or after a PROXY header). */
export async function mtpOver(
  port: number,
  options: MtpClientTransportOptions & { prefix?: string | Buffer } = {},
): Promise<{ transport: MtpClientTransport; socket: Socket }> {
  const socket = await rawSocket(port, options.prefix);
  return { transport: new MtpClientTransport(socket, options), socket };
}

/**
 * A WebSocket client transport whose TCP connection starts with `prefix` (a PROXY header), with its
 * WebSocket (to `pause()` reading).
 */
export function wsOver(
  port: number,
  options: WsClientTransportOptions & { prefix?: string | Buffer } = {},
): Promise<{ transport: WsClientTransport; ws: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, {
      perMessageDeflate: false,
      handshakeTimeout: 5000,
      createConnection: () => {
        const socket = netConnect({ host: '127.0.0.1', port });
        if (options.prefix !== undefined) socket.write(options.prefix);
        return socket;
      },
    });
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      const transport = new WsClientTransport(ws, { ...options, remoteHost: '127.0.0.1', remotePort: port });
      resolve({ transport, ws });
    });
  });
}

export function dimClient(
  transport: ClientTransport,
  identity: UserIdentity,
  directory: KeyDirectory,
  options: Partial<DimClientOptions> = {},
): DimClient {
  return new DimClient({
    transport,
    identity,
    keyDirectory: directory,
    handshakeTimeoutMs: 3000,
    receiptTimeoutMs: 2000,
    ...options,
  });
}

/** A transport that never connects: for DimClients used only to pack (forged or foreign) messages. */
class DetachedTransport implements ClientTransport {
  readonly kind = 'mtp' as const;
  readonly closed = false;
  readonly remoteHost = undefined;
  readonly remotePort = undefined;
  send(): Promise<void> {
    return Promise.reject(new Error('detached transport: pack only'));
  }
  onMessage(): () => void {
    return () => {};
  }
  onClose(): () => void {
    return () => {};
  }
  ping(): Promise<number> {
    return Promise.reject(new Error('detached transport: pack only'));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A DimClient of `identity` that can only pack messages (to send them over someone else's connection). */
export function packerFor(identity: UserIdentity, directory: KeyDirectory): DimClient {
  return new DimClient({ transport: new DetachedTransport(), identity, keyDirectory: directory });
}

// ---- station-side state ----------------------------------------------------------------------------

export async function sessionsOf(backend: Backend, user: UserIdentity): Promise<SessionRecord[]> {
  return backend.registry.sessionsOf(user.id.naked().string);
}

/** The gateway's ClientSession of the user's (only) bound connection. */
export async function stationSessionOf(
  station: TestStation,
  backend: Backend,
  user: UserIdentity,
): Promise<ClientSession> {
  let record: SessionRecord | undefined;
  await untilAsync(
    async () => {
      record = (await sessionsOf(backend, user))[0];
      return record !== undefined;
    },
    2000,
    `a registered session of ${user.id.string}`,
  );
  const session = station.node.gateway?.session((record as SessionRecord).connId);
  if (session === undefined) throw new Error(`no gateway session ${(record as SessionRecord).connId}`);
  return session;
}

// ---- client events ---------------------------------------------------------------------------------

export function handshakeEvents(client: DimClient, title?: string): HandshakeEvent[] {
  return client.history.filter(
    (e): e is HandshakeEvent => e.kind === 'handshake' && (title === undefined || e.title === title),
  );
}

/** Receipts (and handshake replies) whose origin carries `signature`. */
export function receiptsAbout(client: DimClient, signature: string): ClientEvent[] {
  return client.history.filter((e) => {
    if (e.kind !== 'receipt') return false;
    const top = e.content.dict['signature'];
    return e.origin?.['signature'] === signature || top === signature;
  });
}

export async function waitReceiptAbout(
  client: DimClient,
  signature: string,
  timeoutMs = 2000,
  text?: string,
): Promise<ClientEvent & { kind: 'receipt' }> {
  const matches = (e: ClientEvent): boolean =>
    e.kind === 'receipt' &&
    (e.origin?.['signature'] === signature || e.content.dict['signature'] === signature) &&
    (text === undefined || e.text === text);
  const event = await client.waitFor(matches, timeoutMs, { since: 0 });
  return event as ClientEvent & { kind: 'receipt' };
}

/** Close clients and transports, ignoring errors (after hooks). */
export async function closeQuietly(
  things: ReadonlyArray<{ close(): Promise<void> } | undefined>,
): Promise<void> {
  await Promise.all(things.map((t) => t?.close().catch(() => undefined)));
}

export { KeyDirectory };

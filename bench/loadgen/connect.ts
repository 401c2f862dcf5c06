/**
 * Connections to any DIMP station: MTP over TCP (optionally from chosen local addresses, to spread many
 * connections over source IPs) or WebSocket, a DimClient per connection, handshake and login, with the
 * timings of each step. Clients are spread over the targets (gateways) in turn.
 */
import { connect as netConnect } from 'node:net';
import { DimClient } from '../../src/client/dim-client.ts';
import { ClientError } from '../../src/client/client-error.ts';
import type { ClientTransport, TransportCloseInfo } from '../../src/client/client-transport.ts';
import type { KeyDirectory } from '../../src/client/key-directory.ts';
import { MtpClientTransport } from '../../src/client/mtp-client-transport.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import { WsClientTransport } from '../../src/client/ws-client-transport.ts';

export interface Target {
  readonly host: string;
  readonly port: number;
}

export type Framing = 'mtp' | 'ws';

export interface ConnectConfig {
  readonly targets: readonly Target[];
  readonly framing: Framing;
  /** Local addresses to connect from, in turn (MTP only); empty = the system's choice. */
  readonly binds: readonly string[];
  /** Expected station ID (handshakes answered by another station fail). */
  readonly stationId: string | undefined;
  readonly connectTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  /** How long a send waits for the station's OK (MTP). */
  readonly ackTimeoutMs: number;
  /** How long login waits for its receipt. */
  readonly receiptTimeoutMs: number;
}

export interface ConnectSteps {
  readonly handshake: boolean;
  readonly login: boolean;
}

export interface ConnectedUser {
  readonly identity: UserIdentity;
  readonly client: DimClient;
  readonly target: Target;
  /** ms: TCP (or WebSocket) connect, handshake (Start → DIM!), login (sent → receipt). */
  readonly connectMs: number;
  readonly handshakeMs: number | undefined;
  readonly loginMs: number | undefined;
  /** Receipt text of the login, undefined when none came in time (or no login). */
  readonly loginReceipt: string | undefined;
}

/** `host:port`, `[v6]:port`, or `:port` / `port` (127.0.0.1). */
export function parseTarget(text: string): Target {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text.trim()) ?? /^()()(\d+)$/.exec(text.trim());
  if (m === null) throw new Error(`bad target "${text}": expected host:port`);
  const host = m[1] ?? (m[2] === undefined || m[2] === '' ? '127.0.0.1' : m[2]);
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port in "${text}"`);
  return { host, port };
}

export function targetText(target: Target): string {
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

/**
 * Why a connection closed, for counting: the station's `BYE <code>` (MTP) or WebSocket close code and
 * reason when it gave one, else the transport's description.
 */
export function closeReason(transport: ClientTransport, info?: TransportCloseInfo): string {
  if (transport instanceof MtpClientTransport && transport.byes.length > 0) {
    return transport.byes[0]!.split(' ').slice(0, 2).join(' ');
  }
  const closed = info ?? (transport instanceof MtpClientTransport ? transport.closeInfo : undefined);
  if (closed === undefined) return 'closed';
  if (closed.code !== undefined) return `${closed.code} ${closed.reason.split(' ')[0] ?? ''}`.trim();
  return closed.reason;
}

/** The error code of a client/connection failure, for counting. */
export function errorCode(err: unknown): string {
  if (err instanceof ClientError) return err.code;
  if (err !== null && typeof err === 'object' && 'code' in err && typeof err.code === 'string') {
    return err.code;
  }
  return err instanceof Error ? err.name : 'ERROR';
}

function connectMtp(
  target: Target,
  bind: string | undefined,
  config: ConnectConfig,
): Promise<ClientTransport> {
  const options = { sendTimeoutMs: config.ackTimeoutMs, closeTimeoutMs: 1000 };
  if (bind === undefined) {
    return MtpClientTransport.connect({
      host: target.host,
      port: target.port,
      connectTimeoutMs: config.connectTimeoutMs,
      ...options,
    });
  }
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: target.host, port: target.port, localAddress: bind });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ClientError('CONNECT_FAILED', `connect to ${targetText(target)} from ${bind} timed out`));
    }, config.connectTimeoutMs);
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(
        new ClientError('CONNECT_FAILED', `connect to ${targetText(target)} from ${bind} failed`, {
          cause: err,
        }),
      );
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(new MtpClientTransport(socket, options));
    });
  });
}

let nextIndex = 0;

/** Open a transport to the next target (in turn), from the next local address. */
export function openTransport(config: ConnectConfig, index: number = nextIndex++): Promise<ClientTransport> {
  const target = config.targets[index % config.targets.length]!;
  if (config.framing === 'ws') {
    return WsClientTransport.connect({
      host: target.host,
      port: target.port,
      connectTimeoutMs: config.connectTimeoutMs,
      closeTimeoutMs: 1000,
    });
  }
  const bind = config.binds.length === 0 ? undefined : config.binds[index % config.binds.length];
  return connectMtp(target, bind, config);
}

/**
 * Connect one user (connection `index` decides target and local address), handshake and log in as asked.
 * Rejects (closing the connection) when a step fails; the error's `step` property says which.
 */
export async function connectUser(
  config: ConnectConfig,
  identity: UserIdentity,
  directory: KeyDirectory,
  steps: ConnectSteps,
  index: number,
): Promise<ConnectedUser> {
  const target = config.targets[index % config.targets.length]!;
  const t0 = performance.now();
  let transport: ClientTransport;
  try {
    transport = await openTransport(config, index);
  } catch (err) {
    throw Object.assign(asError(err), { step: 'connect' });
  }
  const t1 = performance.now();
  const client = new DimClient({
    transport,
    identity,
    keyDirectory: directory,
    handshakeTimeoutMs: config.handshakeTimeoutMs,
    receiptTimeoutMs: config.receiptTimeoutMs,
    // The event history keeps received messages: keep it short, a load run has thousands of clients.
    historyLimit: 16,
    agent: 'dim-loadgen',
  });
  let handshakeMs: number | undefined;
  let loginMs: number | undefined;
  let loginReceipt: string | undefined;
  try {
    if (steps.handshake) {
      try {
        await client.handshake(config.stationId === undefined ? {} : { stationId: config.stationId });
      } catch (err) {
        throw Object.assign(asError(err), { step: 'handshake' });
      }
      handshakeMs = performance.now() - t1;
    }
    if (steps.login) {
      const t2 = performance.now();
      try {
        loginReceipt = await client.login();
      } catch (err) {
        throw Object.assign(asError(err), { step: 'login' });
      }
      loginMs = performance.now() - t2;
    }
  } catch (err) {
    // a connection the station closed: say why (BYE TOO_MANY_CONNECTIONS…)
    if (transport.closed && client.closeInfo?.byClient !== true && err instanceof Error) {
      Object.assign(err, { closedBy: closeReason(transport, client.closeInfo) });
    }
    await client.close().catch(() => {});
    throw err;
  }
  return { identity, client, target, connectMs: t1 - t0, handshakeMs, loginMs, loginReceipt };
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** How a connectUser rejection is counted: `step:CODE`, plus `(BYE …)` when the station closed. */
export function failureKey(err: unknown): string {
  const step =
    err !== null && typeof err === 'object' && 'step' in err && typeof err.step === 'string'
      ? err.step
      : 'connect';
  const closedBy =
    err !== null && typeof err === 'object' && 'closedBy' in err && typeof err.closedBy === 'string'
      ? `(${err.closedBy})`
      : '';
  return `${step}:${errorCode(err)}${closedBy}`;
}

/** Run `fn` over `items` with at most `limit` in flight; results in order (settled). */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<Array<PromiseSettledResult<R>>> {
  const results = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { status: 'fulfilled', value: await fn(items[i]!, i) };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** Close clients, many at a time. */
export async function closeAll(clients: readonly DimClient[]): Promise<void> {
  await mapLimit(clients, 256, (c) => c.close());
}

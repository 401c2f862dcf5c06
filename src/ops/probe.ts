/**
 * The synthetic check an operator runs after a deploy: two throwaway users (fresh keys, never reused)
 * connect to a station, handshake, log in, and one sends the other a message; every step is timed and the
 * first that fails is named with what it usually means (no gateway listening, no dispatcher consuming…).
 */
import { DimClient } from '../client/dim-client.ts';
import type { ClientTransport } from '../client/client-transport.ts';
import { KeyDirectory } from '../client/key-directory.ts';
import { MtpClientTransport } from '../client/mtp-client-transport.ts';
import { createUserIdentity } from '../client/user-identity.ts';
import { WsClientTransport } from '../client/ws-client-transport.ts';

export interface ProbeOptions {
  readonly host: string;
  readonly port: number;
  readonly framing?: 'mtp' | 'ws';
  /** Per step (ms, default 10,000). */
  readonly timeoutMs?: number;
}

export interface ProbeStep {
  readonly name: 'connect' | 'handshake' | 'login' | 'relay' | 'receipt';
  readonly ok: boolean;
  readonly ms: number;
  readonly detail?: string;
}

export interface ProbeResult {
  readonly ok: boolean;
  readonly target: string;
  readonly framing: 'mtp' | 'ws';
  readonly station: string | undefined;
  readonly steps: readonly ProbeStep[];
  /** What failed, in words (undefined when ok). */
  readonly error: string | undefined;
}

class StepFailed extends Error {}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new StepFailed(`${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export async function probeStation(options: ProbeOptions): Promise<ProbeResult> {
  const framing = options.framing ?? 'mtp';
  const timeoutMs = options.timeoutMs ?? 10_000;
  const target = `${options.host}:${options.port}`;
  const steps: ProbeStep[] = [];
  const clients: DimClient[] = [];
  let station: string | undefined;
  const now = Date.now() / 1000;
  const directory = new KeyDirectory();
  const alice = createUserIdentity({ kind: 'mkm-ecc', name: 'probe', terminal: 'dimctl-probe', now });
  const bob = createUserIdentity({ kind: 'mkm-ecc', name: 'probe', terminal: 'dimctl-probe', now });
  directory.add(alice);
  directory.add(bob);

  const step = async <T>(name: ProbeStep['name'], run: () => Promise<T>, detail?: (v: T) => string) => {
    const start = performance.now();
    try {
      const value = await run();
      steps.push({
        name,
        ok: true,
        ms: performance.now() - start,
        ...(detail ? { detail: detail(value) } : {}),
      });
      return value;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      steps.push({ name, ok: false, ms: performance.now() - start, detail: message });
      throw new StepFailed(`${name}: ${message}`);
    }
  };

  const connect = async (): Promise<ClientTransport> =>
    framing === 'mtp'
      ? MtpClientTransport.connect({ host: options.host, port: options.port, connectTimeoutMs: timeoutMs })
      : WsClientTransport.connect({ host: options.host, port: options.port, connectTimeoutMs: timeoutMs });

  try {
    const [ta, tb] = await step('connect', () => Promise.all([connect(), connect()])).catch(
      (err: unknown) => {
        throw new StepFailed(`${(err as Error).message} (is a gateway listening on ${target}?)`);
      },
    );
    const a = new DimClient({
      transport: ta,
      identity: alice,
      keyDirectory: directory,
      receiptTimeoutMs: timeoutMs,
    });
    const b = new DimClient({
      transport: tb,
      identity: bob,
      keyDirectory: directory,
      receiptTimeoutMs: timeoutMs,
    });
    clients.push(a, b);
    const [ha] = await step(
      'handshake',
      () =>
        withTimeout(
          Promise.all([a.handshake({ timeoutMs }), b.handshake({ timeoutMs })]),
          timeoutMs,
          'no handshake answer',
        ),
      ([h]) => `station ${h.stationId.string}`,
    );
    station = ha.stationId.string;
    await step('login', async () => {
      const [la, lb] = await Promise.all([a.login(), b.login()]);
      if (la === undefined || lb === undefined)
        throw new StepFailed(
          `the gateway accepted the login commands but no answer came within ${timeoutMs} ms — is a dispatcher running and consuming the inbound streams?`,
        );
      return la;
    });
    const mark = b.mark();
    const text = `dimctl probe ${Date.now()}`;
    const sent = await step('relay', async () => {
      const sending = a.sendText(bob.id, text);
      const sentMessage = await withTimeout(sending, timeoutMs, 'the station did not accept the message');
      await b
        .waitForMessage((m) => m.sender.isSameAs(alice.id) && m.content.dict['text'] === text, timeoutMs, {
          since: mark,
        })
        .catch(() => {
          throw new StepFailed(
            `the station accepted the message but the receiver got nothing within ${timeoutMs} ms — is a dispatcher running, and the receiver's gateway delivering?`,
          );
        });
      return sentMessage;
    });
    await step(
      'receipt',
      async () => {
        const receipt = await a.waitReceipt(sent, timeoutMs);
        if (receipt === undefined) throw new StepFailed(`no receipt within ${timeoutMs} ms`);
        return receipt.text ?? '';
      },
      (t) => t,
    );
    return { ok: true, target, framing, station, steps, error: undefined };
  } catch (err) {
    return {
      ok: false,
      target,
      framing,
      station,
      steps,
      error: err instanceof Error ? err.message : String(err),
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }
}

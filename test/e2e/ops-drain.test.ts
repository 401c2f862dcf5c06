/**
 * The lame-duck drain for real: HAProxy (deploy/haproxy.cfg: /readyz health checks, PROXY v2, retries +
 * redispatch) in front of two gateway processes. 200 clients (100 conversations) all sit on gateway 1;
 * gateway 2 joins; gateway 1 gets SIGTERM while every client sends. Gateway 1 turns not-ready, stops
 * accepting and closes its clients over the drain window; every client reconnects through HAProxy and lands
 * on gateway 2; every message the station acknowledged reaches its receiver; and (todo: a known defect of
 * backlog-vs-live ordering, below) within each conversation messages arrive in the order they were sent.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { DimClient } from '../../src/client/dim-client.ts';
import { KeyDirectory } from '../../src/client/key-directory.ts';
import { MtpClientTransport } from '../../src/client/mtp-client-transport.ts';
import { createUserIdentity } from '../../src/client/user-identity.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import { Cluster, freePort, sleep, waitUntil } from '../helpers/cluster.ts';
import type { RoleProcess } from '../helpers/cluster.ts';
import { getText } from '../helpers/ops.ts';
import { repoDir } from '../helpers/vectors.ts';

const PAIRS = 100;
const DRAIN_WINDOW_MS = 6000;

/** One `show stat` of HAProxy's admin socket: server name → status (UP, DOWN…). */
function serverStates(socketPath: string): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = connect(socketPath, () => socket.write('show stat\n'));
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('error', reject);
    socket.on('end', () => {
      const states = new Map<string, string>();
      for (const line of text.split('\n')) {
        const cols = line.split(',');
        if (cols[0] === 'gateways' && cols[1] !== 'BACKEND') states.set(cols[1]!, cols[17]!);
      }
      resolve(states);
    });
  });
}

interface Peer {
  readonly identity: UserIdentity;
  client: DimClient | undefined;
  reconnects: number;
  /** Sequence numbers received from the conversation partner, in arrival order. */
  readonly received: number[];
  /** Sequence numbers the station acknowledged (sender side). */
  readonly acked: Set<number>;
  nextSeq: number;
}

describe('lame-duck drain behind HAProxy', { timeout: 900_000 }, () => {
  let cluster: Cluster;
  let gateway1: RoleProcess;
  let gateway2: RoleProcess;
  let haproxy: ChildProcess | undefined;
  let frontPort: number;
  let socketPath: string;
  const directory = new KeyDirectory();
  const peers: Peer[] = [];
  let running = true;
  /** Reorders of messages sent during the drain (checked by the second test). */
  let drainReorders: string[] | undefined;

  before(async () => {
    cluster = await Cluster.create();
    const [ops1, ops2] = [await freePort(), await freePort()];
    const gatewayEnv = (ops: number): Record<string, string> => ({
      DIM_PROXY_PROTOCOL: 'required',
      DIM_OPS_PORT: String(ops),
      DIM_DRAIN_WINDOW_MS: String(DRAIN_WINDOW_MS),
    });
    gateway1 = cluster.add({ role: 'gateway', name: 'gateway-1', env: gatewayEnv(ops1) });
    // gateway 2 starts later, once the clients are on gateway 1 (its port is known to HAProxy already)
    const port2 = await freePort();
    gateway2 = cluster.add({ role: 'gateway', name: 'gateway-2', port: port2, env: gatewayEnv(ops2) });
    await Promise.all([
      gateway1.start(),
      cluster.start({ role: 'dispatcher', name: 'dispatcher-1' }),
      cluster.start({ role: 'storage', name: 'storage-1' }),
    ]);
    frontPort = await freePort();
    socketPath = join(cluster.dir, 'haproxy.sock');
    // the deployment's config, with local addresses (as deploy/local-cluster.sh does)
    const config = readFileSync(join(repoDir, 'deploy', 'haproxy.cfg'), 'utf8')
      .replace('maxconn 200000', `maxconn 4000\n    stats socket ${socketPath} mode 600 level admin`)
      .replace('bind :9394', `bind 127.0.0.1:${frontPort}`)
      .replace('gateway-1:9394 check port 9395', `127.0.0.1:${gateway1.port} check port ${ops1}`)
      .replace('gateway-2:9394 check port 9395', `127.0.0.1:${port2} check port ${ops2}`);
    assert.ok(config.includes('option httpchk GET /readyz'), 'the deployment config checks /readyz');
    const configPath = join(cluster.dir, 'haproxy.cfg');
    writeFileSync(configPath, config);
    haproxy = spawn('haproxy', ['-db', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    await waitUntil(
      async () =>
        (await serverStates(socketPath).catch(() => new Map<string, string>())).get('gateway-1') === 'UP',
      30_000,
      'HAProxy to see gateway 1 up',
      200,
    );
  });

  after(async () => {
    running = false;
    await Promise.all(peers.map((p) => p.client?.close().catch(() => undefined)));
    haproxy?.kill('SIGKILL');
    await cluster?.dispose();
  });

  /** Connect (through HAProxy) until a handshake succeeds; messages from the partner are recorded. */
  async function attach(peer: Peer, partner: () => Peer): Promise<void> {
    for (;;) {
      try {
        const transport = await MtpClientTransport.connect({ host: '127.0.0.1', port: frontPort });
        const client = new DimClient({
          transport,
          identity: peer.identity,
          keyDirectory: directory,
          handshakeTimeoutMs: 30_000,
          receiptTimeoutMs: 30_000,
        });
        client.on('message', (m) => {
          if (!m.sender.isSameAs(partner().identity.id)) return;
          const seq = Number(m.content.dict['seq']);
          if (Number.isSafeInteger(seq)) peer.received.push(seq);
        });
        await client.handshake({ timeoutMs: 30_000 });
        peer.client = client;
        client.on('close', () => {
          if (peer.client === client) peer.client = undefined;
          if (!running) return;
          peer.reconnects += 1;
          void attach(peer, partner);
        });
        return;
      } catch {
        if (!running) return;
        await sleep(200);
      }
    }
  }

  /** Send numbered messages to the partner while `running`; a send the station acknowledged is owed. */
  async function sendLoop(peer: Peer, partner: Peer): Promise<void> {
    while (running) {
      const client = peer.client;
      if (client === undefined || client.closed) {
        await sleep(50);
        continue;
      }
      const seq = peer.nextSeq++;
      try {
        const packed = client.pack(partner.identity.id, { type: 1, text: `seq ${seq}`, seq });
        await client.transport.send(packed.text);
        peer.acked.add(seq);
      } catch {
        // not acknowledged: owed nothing (it may still arrive)
      }
      await sleep(250);
    }
  }

  it('200 clients move from a draining gateway to the other one; nothing acknowledged is lost', () =>
    cluster.withLogs(async () => {
      for (let i = 0; i < 2 * PAIRS; i++) {
        const identity = createUserIdentity({ kind: 'mkm-ecc', name: `drain${i}`, now: Date.now() / 1000 });
        directory.add(identity);
        peers.push({
          identity,
          client: undefined,
          reconnects: 0,
          received: [],
          acked: new Set(),
          nextSeq: 1,
        });
      }
      const partnerOf = (i: number): Peer => peers[i ^ 1]!;
      for (let i = 0; i < peers.length; i += 20) {
        await Promise.all(peers.slice(i, i + 20).map((p, j) => attach(p, () => partnerOf(i + j))));
      }
      const onGateway = (id: string): Promise<number> =>
        cluster.inspect.hlen(cluster.keys.gatewaySessions(id));
      await waitUntil(
        async () => (await onGateway('gateway-1')) === 2 * PAIRS,
        30_000,
        'all clients on gateway 1',
      );

      await gateway2.start();
      await waitUntil(
        async () => (await serverStates(socketPath)).get('gateway-2') === 'UP',
        30_000,
        'HAProxy to see gateway 2 up',
        200,
      );
      assert.equal(await onGateway('gateway-2'), 0);

      const loops = peers.map((p, i) => sendLoop(p, partnerOf(i)));
      await sleep(2000); // traffic flows on gateway 1
      const drainStart = Date.now();
      // messages numbered from here on (less the one each sender may have in flight) are sent during the drain
      const drainSeq = peers.map((p) => p.nextSeq - 1);
      process.kill(gateway1.pid!, 'SIGTERM');
      // not ready at once: HAProxy takes it out
      await waitUntil(
        async () => (await getText(`${gateway1.opsUrl}/readyz`).catch(() => ({ status: 0 }))).status !== 200,
        5_000,
        'gateway 1 to report not ready',
        50,
      );
      await waitUntil(() => !gateway1.running, 60_000, 'gateway 1 to exit', 200);
      const drainMs = Date.now() - drainStart;
      assert.ok(drainMs >= DRAIN_WINDOW_MS * 0.8, `the drain took the window (${drainMs} ms)`);
      await waitUntil(
        async () =>
          (await onGateway('gateway-2')) === 2 * PAIRS && peers.every((p) => p.client !== undefined),
        60_000,
        'every client back, on gateway 2',
        200,
      );
      await sleep(2000); // traffic on gateway 2
      running = false;
      await Promise.all(loops);

      for (const p of peers) assert.ok(p.reconnects >= 1, 'every client was moved');
      const states = await serverStates(socketPath);
      assert.notEqual(states.get('gateway-1'), 'UP', 'HAProxy took gateway 1 out');

      // every acknowledged message arrives
      const missing = (): { peer: number; seq: number }[] =>
        peers.flatMap((p, i) => {
          const got = new Set(partnerOf(i).received);
          return [...p.acked].filter((seq) => !got.has(seq)).map((seq) => ({ peer: i, seq }));
        });
      await waitUntil(() => missing().length === 0, 60_000, 'every acknowledged message', 250).catch(
        () => undefined,
      );
      // Stragglers (a message routed while its receiver moved, stored after the receiver's backlog was
      // read) are kept in the inbox: one more login of their receivers brings them. They are counted as
      // late (and left out of the order check: arriving late is their reordering), and must stay rare.
      const late = missing();
      const lateByReceiver = new Map<number, Set<number>>();
      for (const m of late) {
        const receiver = m.peer ^ 1;
        if (!lateByReceiver.has(receiver)) lateByReceiver.set(receiver, new Set());
        lateByReceiver.get(receiver)!.add(m.seq);
      }
      if (late.length > 0) {
        const stored = await Promise.all(
          late.map((m) => cluster.inspect.zcard(cluster.keys.inbox(peers[m.peer ^ 1]!.identity.id.string))),
        );
        assert.ok(
          stored.every((n) => n > 0),
          'a late message is still stored for its receiver',
        );
        running = true;
        for (const receiver of lateByReceiver.keys()) await peers[receiver]!.client?.close();
        await waitUntil(
          () => [...lateByReceiver.keys()].every((r) => peers[r]!.client !== undefined),
          60_000,
          'the receivers of late messages to log in again',
          200,
        );
        running = false;
        await waitUntil(
          () => missing().length === 0,
          60_000,
          'the late messages after a new login',
          250,
        ).catch((err: unknown) => {
          const lost = missing();
          throw new Error(
            `${(err as Error).message}; lost ${lost.length}: ${lost
              .slice(0, 20)
              .map((m) => `${m.peer}:${m.seq}`)
              .join(' ')}`,
          );
        });
      }
      let acked = 0;
      let duplicates = 0;
      /** Reorders of messages sent during the drain (its responsibility), and of earlier ones. */
      const reorders: string[] = [];
      const earlyReorders: string[] = [];
      for (const [i, p] of peers.entries()) {
        acked += p.acked.size;
        const lateHere = lateByReceiver.get(i ^ 1) ?? new Set<number>();
        const seen = new Set<number>();
        const firsts: number[] = [];
        for (const seq of partnerOf(i).received) {
          if (seen.has(seq)) duplicates++;
          else {
            seen.add(seq);
            if (!lateHere.has(seq)) firsts.push(seq);
          }
        }
        for (let k = 1; k < firsts.length; k++) {
          if (firsts[k]! < firsts[k - 1]!)
            (firsts[k]! >= drainSeq[i]! ? reorders : earlyReorders).push(
              `conversation ${i}→${i ^ 1}: ${firsts[k]} arrived after ${firsts[k - 1]} (${firsts.join(',')})`,
            );
        }
      }
      // A bus handler that fails (Redis commands timing out on an overloaded machine) is retried after
      // its successors of the same conversation ran: that reorders by itself, drain or not. Reorders are
      // only the drain's fault when the message path did not have to retry anything.
      const retried = (cluster.logs().match(/"code":"BUS_HANDLER_FAILED"/g) ?? []).length;
      if (earlyReorders.length > 0)
        process.stdout.write(
          `# drain: ${earlyReorders.length} reorder(s) of messages sent before SIGTERM (not the drain's): ${earlyReorders[0]}\n`,
        );
      drainReorders = retried === 0 ? reorders : [];
      if (retried > 0 && reorders.length > 0)
        process.stdout.write(
          `# drain: ${reorders.length} conversation(s) reordered by ${retried} bus handler retries (Redis timeouts under load): ${reorders[0]}\n`,
        );
      // a loaded machine slows the senders (one message per OK, then 250 ms): a few each is enough
      assert.ok(acked >= 2 * PAIRS * 3, `traffic flowed (${acked} acknowledged)`);
      assert.ok(
        late.length <= Math.ceil(acked * 0.01),
        `late messages stay rare (${late.length} of ${acked})`,
      );
      process.stdout.write(
        `# drain: ${2 * PAIRS} clients moved in ${drainMs} ms; ${acked} messages acknowledged, all delivered ` +
          `(${late.length} only after a new login); ${duplicates} duplicates; ${reorders.length} reorders during the drain\n`,
      );
    }));

  // A client that reconnects gets messages routed after its new session was bound live, and older messages
  // stored during its move with its backlog page: the gateway holds the live pushes until that page has
  // been written (live-gate.ts), so a conversation does not reorder (before: a few of 100, e.g. 1,2,7,4,5,6,8).
  it('no reorder within a conversation during the drain', () => {
    assert.ok(drainReorders !== undefined, 'the drain test ran');
    assert.deepEqual(drainReorders, [], 'no reorder within a conversation during the drain');
  });
});

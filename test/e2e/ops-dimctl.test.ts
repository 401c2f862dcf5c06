/**
 * dimctl against a real multi-process station on Redis (two gateways, dispatcher, storage worker), with
 * real traffic: every command's output is checked against what the station holds. A poison entry (a
 * corrupted block list makes the dispatcher fail on a message) becomes a dead letter; once the data is
 * repaired, `dead retry` re-drives it and the receiver gets the message. Metrics move with the traffic;
 * `probe` passes on the healthy station and names the stopped dispatcher; `drain` makes a gateway leave.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DimClient } from '../../src/client/dim-client.ts';
import { KeyDirectory } from '../../src/client/key-directory.ts';
import { createUserIdentity } from '../../src/client/user-identity.ts';
import type { UserIdentity } from '../../src/client/user-identity.ts';
import type {
  DeadLetterRecord,
  GatewayStatus,
  InboxInfo,
  SessionInfo,
  StationStatus,
  StreamStatus,
} from '../../src/ops/station-inspector.ts';
import type { ProbeResult } from '../../src/ops/probe.ts';
import { Cluster, sleep, waitUntil } from '../helpers/cluster.ts';
import type { RoleProcess } from '../helpers/cluster.ts';
import { dimctl, dimctlJson, getText, metricValue } from '../helpers/ops.ts';

const now = (): number => Date.now() / 1000;

describe('dimctl and the ops servers on a running cluster', { timeout: 900_000 }, () => {
  let cluster: Cluster;
  let gateway1: RoleProcess;
  let gateway2: RoleProcess;
  let dispatcher: RoleProcess;
  const directory = new KeyDirectory();
  let alice: UserIdentity;
  let bob: UserIdentity;
  let carol: UserIdentity;
  let a: DimClient;
  let b: DimClient;

  before(async () => {
    // entries failing at the dispatcher are retried every ~300 ms: a poison entry dies within seconds
    // the test clients do not ping: no idle timeout during this long suite
    cluster = await Cluster.create({ env: { DIM_BUS_CLAIM_IDLE_MS: '300', DIM_IDLE_TIMEOUT_MS: '3600000' } });
    ({ gateway1, gateway2, dispatcher } = await cluster.startDefault());
    alice = createUserIdentity({ kind: 'mkm-ecc', name: 'alice', now: now() });
    bob = createUserIdentity({ kind: 'mkm-ecc', name: 'bob', now: now() });
    carol = createUserIdentity({ kind: 'mkm-ecc', name: 'carol', now: now() });
    for (const u of [alice, bob, carol]) directory.add(u);
    a = await cluster.connect(gateway1, alice, directory);
    b = await cluster.connect(gateway2, bob, directory, { framing: 'ws' });
    await a.handshake();
    await b.handshake();
    assert.equal(await a.login(), 'Login received.');
    assert.equal(await b.login(), 'Login received.');
  });

  after(async () => {
    await cluster?.dispose();
  });

  it('status, gateways and streams show both gateways, every stream and the traffic', () =>
    cluster.withLogs(async () => {
      for (let i = 0; i < 5; i++) {
        const mark = b.mark();
        const sent = await a.sendText(bob.id, `hello ${i}`);
        await b.waitForMessage((m) => m.raw.signatureText === sent.message.signatureText, 20_000, {
          since: mark,
        });
      }
      // processes announce themselves every few seconds; the first announcement is at start
      const { code, value: status } = await dimctlJson<StationStatus & { problems: string[] }>(cluster, [
        'status',
      ]);
      assert.equal(code, 0, `healthy station: exit 0 (problems: ${status.problems.join('; ')})`);
      assert.deepEqual(status.problems, []);
      assert.deepEqual(status.gateways.map((g) => g.id).sort(), ['gateway-1', 'gateway-2']);
      for (const g of status.gateways) {
        assert.equal(g.alive, true);
        assert.ok(g.heartbeatAgeMs !== undefined && g.heartbeatAgeMs < 15_000);
        assert.equal(g.sessions, 1, `${g.id} holds one session`);
        assert.equal(g.version, '0.1.0');
        assert.match(g.ops ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
      }
      assert.deepEqual(status.instances.map((i) => i.name).sort(), [
        'dispatcher-1',
        'gateway-1',
        'gateway-2',
        'storage-1',
      ]);
      const names = status.streams.map((s) => s.name);
      for (let shard = 0; shard < 4; shard++) {
        assert.ok(names.includes(cluster.keys.inboundStream(shard)));
        assert.ok(names.includes(cluster.keys.storeStream(shard)));
      }
      assert.ok(names.includes(cluster.keys.deliveryStream('gateway-1')));
      assert.ok(names.includes(cluster.keys.deliveryStream('gateway-2')));
      const inbound = status.streams.filter((s) => s.kind === 'inbound');
      assert.ok(inbound.every((s) => s.groups.some((g) => g.name === 'dispatcher' && g.consumers >= 1)));
      // 2 logins + 5 messages at least went through the inbound streams
      assert.ok((status.inboundAdded ?? 0) >= 7, `inboundAdded ${status.inboundAdded}`);

      const human = await dimctl(cluster, ['status']);
      assert.equal(human.code, 0);
      assert.match(human.stdout, /GATEWAYS/);
      assert.match(human.stdout, /gateway-1\s+up/);
      assert.match(human.stdout, /inbound:0/);
      assert.match(human.stdout, /all good/);

      const gateways = await dimctlJson<GatewayStatus[]>(cluster, ['gateways']);
      assert.equal(gateways.code, 0);
      assert.equal(gateways.value.length, 2);

      const streams = await dimctlJson<StreamStatus[]>(cluster, ['streams']);
      const deliver2 = streams.value.find((s) => s.name === cluster.keys.deliveryStream('gateway-2'));
      assert.ok(deliver2, 'the delivery stream of gateway 2');
      assert.ok((deliver2.added ?? 0) >= 5, 'five messages were delivered through gateway 2');
      const table = await dimctl(cluster, ['streams']);
      assert.match(table.stdout, /STREAM\s+LENGTH\s+GROUP/);
      assert.match(table.stdout, /deliver:gateway-2/);
    }));

  it('sessions and inbox show who is online where, and what is stored', () =>
    cluster.withLogs(async () => {
      const sessions = await dimctlJson<SessionInfo[]>(cluster, ['sessions', bob.id.string]);
      assert.equal(sessions.code, 0);
      assert.equal(sessions.value.length, 1);
      const [s] = sessions.value;
      assert.equal(s!.gatewayId, 'gateway-2');
      assert.equal(s!.active, true);
      assert.ok(Math.abs(s!.since - Date.now()) < 120_000);
      assert.match(s!.remote ?? '', /^127\.0\.0\.1:\d+$/, 'the gateway tells the client address');
      assert.equal(s!.transport, 'websocket');
      const human = await dimctl(cluster, ['sessions', bob.id.string]);
      assert.match(human.stdout, /gateway-2\s+w\d+/);

      const offline = await dimctl(cluster, ['sessions', carol.id.string]);
      assert.equal(offline.code, 1, 'offline user: exit 1');
      assert.match(offline.stdout, /offline/);

      const sent = [];
      for (let i = 0; i < 3; i++) sent.push(await a.sendText(carol.id, `for carol ${i}`));
      for (const m of sent) assert.equal((await a.waitReceipt(m, 10_000))?.text, 'Message cached.');
      const inbox = await waitUntil(
        async () => {
          const r = await dimctlJson<InboxInfo>(cluster, ['inbox', carol.id.string]);
          return r.value.stored === 3 ? r.value : undefined;
        },
        10_000,
        'three stored messages for carol',
        200,
      );
      assert.ok(inbox.oldestStoredAt !== undefined && Math.abs(inbox.oldestStoredAt - Date.now()) < 60_000);
      const human2 = await dimctl(cluster, ['inbox', carol.id.string]);
      assert.match(human2.stdout, /3 stored/);
    }));

  it('a poison entry becomes a dead letter; dead show/list explain it; dead retry re-drives it and it is delivered', () =>
    cluster.withLogs(async () => {
      // corrupt bob's block list (a hash where a string is expected): the dispatcher fails on every try
      const blockKey = cluster.keys.blockList(bob.id.string);
      await cluster.inspect.hset(blockKey, 'corrupt', '1');
      const sent = await a.sendText(bob.id, 'survives a dead letter');
      const dead = await waitUntil(
        async () => {
          const r = await dimctlJson<DeadLetterRecord[]>(cluster, ['dead', 'list']);
          return r.value.length > 0 ? r.value : undefined;
        },
        30_000,
        'the poison entry to become a dead letter',
        250,
      );
      assert.equal(dead.length, 1);
      const letter = dead[0]!;
      assert.match(letter.from, /inbound/);
      assert.equal(letter.group, 'dispatcher');
      assert.equal(letter.deliveries, 5);
      assert.match(letter.reason, /WRONGTYPE|wrong kind/i);

      const status = await dimctlJson<StationStatus & { problems: string[] }>(cluster, ['status']);
      assert.equal(status.code, 1, 'dead letters need attention: exit 1');
      assert.equal(status.value.deadLetters, 1);
      assert.ok(status.value.problems.some((p) => /dead letter/.test(p)));

      const show = await dimctlJson<DeadLetterRecord>(cluster, ['dead', 'show', letter.id]);
      assert.equal(show.code, 0);
      assert.ok(
        JSON.stringify(show.value.fields ?? {}).includes(sent.message.signatureText),
        'the payload is the message',
      );
      const human = await dimctl(cluster, ['dead', 'show', letter.id]);
      assert.match(human.stdout, /deliveries:\s+5/);
      const missing = await dimctl(cluster, ['dead', 'show', '1-1']);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no dead letter 1-1/);

      // the receiver never got it
      await sleep(300);
      assert.ok(
        !b.history.some((e) => e.kind === 'message' && e.raw.signatureText === sent.message.signatureText),
      );

      // repair the data, re-drive the entry: it is consumed and delivered
      await cluster.inspect.del(blockKey);
      const mark = b.mark();
      const retry = await dimctl(cluster, ['dead', 'retry', letter.id]);
      assert.equal(retry.code, 0, retry.stderr);
      assert.match(retry.stdout, /re-driven to inbound:\d+/);
      const got = await b.waitForMessage((m) => m.raw.signatureText === sent.message.signatureText, 15_000, {
        since: mark,
      });
      assert.equal(got.content.dict['text'], 'survives a dead letter');
      const after = await dimctlJson<DeadLetterRecord[]>(cluster, ['dead', 'list']);
      assert.equal(after.value.length, 0, 'no dead letter left');
      assert.equal(
        (await dimctl(cluster, ['dead', 'retry', letter.id])).code,
        1,
        'retrying again: not found',
      );
    }));

  it('dead drop deletes a dead letter; pending lists entries of a stream', () =>
    cluster.withLogs(async () => {
      const blockKey = cluster.keys.blockList(carol.id.string);
      await cluster.inspect.hset(blockKey, 'corrupt', '1');
      await a.sendText(carol.id, 'dropped by the operator');
      // while it is retried it is pending in its inbound shard
      const stream = cluster.keys.inboundStream(cluster.keys.inboundShardOf(carol.id.string, cluster.shards));
      const pending = await waitUntil(
        async () => {
          const r = await dimctlJson<{
            stream: string;
            groups: { group: string; entries: { id: string }[] }[];
          }>(cluster, ['pending', stream]);
          return r.value.groups.some((g) => g.entries.length > 0) ? r.value : undefined;
        },
        15_000,
        'the failing entry to be pending',
        100,
      ).catch(() => undefined);
      if (pending) assert.equal(pending.stream, stream);
      const dead = await waitUntil(
        async () => {
          const r = await dimctlJson<DeadLetterRecord[]>(cluster, ['dead', 'list']);
          return r.value.length > 0 ? r.value : undefined;
        },
        30_000,
        'a dead letter',
        250,
      );
      const drop = await dimctl(cluster, ['dead', 'drop', dead[0]!.id]);
      assert.equal(drop.code, 0, drop.stderr);
      assert.equal((await dimctlJson<DeadLetterRecord[]>(cluster, ['dead', 'list'])).value.length, 0);
      await cluster.inspect.del(blockKey);
      const short = await dimctl(cluster, ['pending', 'inbound:0']);
      assert.equal(short.code, 0, short.stderr);
      assert.match(short.stdout, /inbound:\{0\}/);
      const bad = await dimctl(cluster, ['pending', 'nonsense']);
      assert.equal(bad.code, 2, 'unknown stream: usage error');
    }));

  it('metrics move with the traffic (gateways, dispatcher, storage)', () =>
    cluster.withLogs(async () => {
      const before1 = (await getText(`${gateway1.opsUrl}/metrics`)).text;
      const before2 = (await getText(`${gateway2.opsUrl}/metrics`)).text;
      const beforeD = (await getText(`${dispatcher.opsUrl}/metrics`)).text;
      assert.equal(metricValue(before1, 'dim_connections', { transport: 'mtp' }), 1);
      assert.equal(metricValue(before2, 'dim_connections', { transport: 'websocket' }), 1);
      const N = 10;
      for (let i = 0; i < N; i++) {
        const mark = b.mark();
        const sent = await a.sendText(bob.id, `counted ${i}`);
        await b.waitForMessage((m) => m.raw.signatureText === sent.message.signatureText, 20_000, {
          since: mark,
        });
      }
      await sleep(200);
      const after1 = (await getText(`${gateway1.opsUrl}/metrics`)).text;
      const after2 = (await getText(`${gateway2.opsUrl}/metrics`)).text;
      const afterD = (await getText(`${dispatcher.opsUrl}/metrics`)).text;
      const delta = (b: string, a2: string, name: string, labels: Record<string, string> = {}): number =>
        metricValue(a2, name, labels) - metricValue(b, name, labels);
      assert.ok(delta(before1, after1, 'dim_messages_in_total', { result: 'accepted' }) >= N);
      assert.ok(delta(before2, after2, 'dim_messages_out_total') >= N, 'gateway 2 pushed the messages');
      assert.ok(delta(before2, after2, 'dim_delivery_seconds_count') >= N);
      assert.ok(
        delta(beforeD, afterD, 'dim_bus_consume_seconds_count', { stream: 'inbound', outcome: 'ok' }) >= N,
      );
      assert.ok(
        delta(beforeD, afterD, 'dim_bus_publish_seconds_count', { stream: 'deliver', outcome: 'ok' }) >= N,
      );
      // stream gauges and process defaults are there
      assert.ok(after1.includes('dim_stream_length{stream="dim:inbound:{0}"'));
      assert.ok(after1.includes('dim_process_cpu_seconds_total'));
      assert.ok(after1.includes('dim_nodejs_eventloop_lag_seconds'));
      assert.ok(after1.includes('instance_name="gateway-1"'));
    }));

  it('kick closes a user’s connection through its gateway', () =>
    cluster.withLogs(async () => {
      const kick = await dimctl(cluster, ['kick', alice.id.string]);
      assert.equal(kick.code, 0, kick.stderr);
      assert.match(kick.stdout, /gateway-1: closed 1 connection/);
      await waitUntil(() => a.closed, 30_000, 'alice to be disconnected');
      await waitUntil(
        async () => (await dimctl(cluster, ['sessions', alice.id.string])).code === 1,
        10_000,
        'alice to be offline',
        200,
      );
      const again = await dimctl(cluster, ['kick', alice.id.string]);
      assert.equal(again.code, 1, 'nobody to kick: exit 1');
      const noToken = await dimctl(cluster, ['kick', bob.id.string], {
        DIM_OPS_TOKEN: 'wrong-token-0123456789',
      });
      assert.equal(noToken.code, 4, 'a wrong token is refused');
      assert.match(noToken.stderr, /bearer token/);
    }));

  it('probe passes through a healthy station and names a stopped dispatcher', () =>
    cluster.withLogs(async () => {
      const ok = await dimctlJson<ProbeResult>(undefined, ['probe', `127.0.0.1:${gateway1.port}`]);
      assert.equal(ok.code, 0, JSON.stringify(ok.value));
      assert.deepEqual(
        ok.value.steps.map((s) => [s.name, s.ok]),
        [
          ['connect', true],
          ['handshake', true],
          ['login', true],
          ['relay', true],
          ['receipt', true],
        ],
      );
      assert.equal(ok.value.station, cluster.identity.id.string);
      const human = await dimctl(undefined, ['probe', `127.0.0.1:${gateway2.port}`, '--ws']);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /receipt\s+ok/);

      await dispatcher.stop();
      const failed = await dimctl(undefined, ['probe', `127.0.0.1:${gateway1.port}`, '--timeout', '3000']);
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /probe failed: .*dispatcher/);
      assert.match(failed.stdout, /handshake\s+ok/);
      assert.match(failed.stdout, /FAILED/);
      const refused = await dimctl(undefined, ['probe', '127.0.0.1:1', '--timeout', '2000']);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /connect: .*gateway listening/);
      await dispatcher.start();
    }));

  it('drain makes a gateway leave: not ready, clients closed, process exits', () =>
    cluster.withLogs(async () => {
      const drain = await dimctl(cluster, ['drain', 'gateway-2']);
      assert.equal(drain.code, 0, drain.stderr);
      assert.match(drain.stdout, /gateway-2: draining/);
      await waitUntil(() => b.closed, 30_000, 'bob to be disconnected');
      await waitUntil(() => !gateway2.running, 20_000, 'gateway 2 to exit');
      assert.match(
        gateway2.output,
        /gateway-2 exited \(code 0, signal null\)/,
        'a clean exit after the drain',
      );
      const unknown = await dimctl(cluster, ['drain', 'no-such-gateway']);
      assert.equal(unknown.code, 1);
    }));
});

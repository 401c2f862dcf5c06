/**
 * One generator process's part of the self-check relay: its own in-process MTP sink (mtp-sink.ts) and its
 * pairs of users connected to it (pair i: receiver = pool user i, sender = pool user `pairs + i`), taking
 * part in the saturating phases with a TrafficRunner. With --procs N every process has its own sink, so
 * the merged rates are what N generator processes drive together.
 */
import { DimClient } from '../../../src/client/dim-client.ts';
import type { KeyDirectory } from '../../../src/client/key-directory.ts';
import { createUserIdentity } from '../../../src/client/user-identity.ts';
import type { UserIdentity } from '../../../src/client/user-identity.ts';
import { newCommand } from '../../../src/protocol/dkd/content.ts';
import { closeAll } from '../connect.ts';
import type { Context } from '../context.ts';
import { directoryOf, setupUsers } from '../context.ts';
import { MtpSink } from '../mtp-sink.ts';
import type { SinkStats } from '../mtp-sink.ts';
import { NullTransport } from '../null-transport.ts';
import type { ScheduleShare } from '../schedule.ts';
import { PARTICIPANT_METHODS } from '../shard-api.ts';
import { RunnerShard, TrafficRunner } from '../traffic.ts';
import type { TrafficParticipant } from '../traffic-phase.ts';

export interface SinkShardParams {
  /** All pairs of the run, and this process's (pair indices). */
  readonly pairs: number;
  readonly local: readonly number[];
  readonly share: ScheduleShare;
}

/** Pool indices of a process's users: receiver i and sender `pairs + i` of each local pair. */
export function sinkShardUsers(params: SinkShardParams): number[] {
  return [...params.local, ...params.local.map((i) => params.pairs + i)];
}

export interface SinkShardApi extends TrafficParticipant {
  setup(): Promise<void>;
  sinkStats(): Promise<SinkStats>;
  close(): Promise<void>;
}

export const SINK_SHARD_METHODS = ['setup', 'sinkStats', 'close', ...PARTICIPANT_METHODS] as const;

export class SinkShard extends RunnerShard implements SinkShardApi {
  readonly #ctx: Context;
  readonly #params: SinkShardParams;
  readonly #identities: ReadonlyMap<number, UserIdentity>;
  readonly #opened: DimClient[] = [];
  #sink: MtpSink | undefined;

  constructor(ctx: Context, identities: ReadonlyMap<number, UserIdentity>, params: SinkShardParams) {
    super('the sink relay is not set up');
    this.#ctx = ctx;
    this.#params = params;
    this.#identities = identities;
  }

  #user(poolIndex: number): UserIdentity {
    const identity = this.#identities.get(poolIndex);
    if (identity === undefined) throw new Error(`pool user ${poolIndex} was not handed to this process`);
    return identity;
  }

  async setup(): Promise<void> {
    const o = this.#ctx.options;
    const { pairs, local } = this.#params;
    // the stand-in station signs the receipts: not a pool user
    const station = createUserIdentity({ kind: 'mkm-ecc', name: 'sink', now: Date.now() / 1000 });
    const sink = await MtpSink.start();
    this.#sink = sink;
    const receiverIdentities = local.map((i) => this.#user(i));
    const senderIdentities = local.map((i) => this.#user(pairs + i));
    const directory: KeyDirectory = directoryOf([...receiverIdentities, ...senderIdentities]);
    if (o.verify) directory.add(station);
    const sinkCtx: Context = {
      ...this.#ctx,
      connect: {
        ...this.#ctx.connect,
        targets: [{ host: '127.0.0.1', port: sink.port }],
        framing: 'mtp',
        binds: [],
      },
    };
    const steps = { handshake: false, login: false };
    const r = await setupUsers(sinkCtx, 'sink receivers', receiverIdentities, directory, { steps });
    this.#opened.push(...r.users.map((u) => u.client));
    const s = await setupUsers(sinkCtx, 'sink senders', senderIdentities, directory, { steps });
    this.#opened.push(...s.users.map((u) => u.client));
    const receivers = r.users.map((u) => u.client);
    const senders = s.users.map((u) => u.client);
    // the sink learns where everyone is from their first message
    await Promise.all([...receivers, ...senders].map((c) => c.sendText(c.id, 'hello sink')));
    const stationClient = new DimClient({
      transport: new NullTransport(),
      identity: station,
      keyDirectory: directoryOf(senderIdentities),
    });
    for (const sender of senders) {
      const receipt = newCommand('receipt', Date.now() / 1000, {
        text: 'Message delivered.',
        origin: { sender: sender.id.string, receiver: receivers[0]?.id.string },
      });
      sink.setReceipt(sender.id.string, stationClient.pack(sender.id, receipt).text);
    }
    if (!o.verify) for (const identity of senderIdentities) directory.delete(identity.id);
    const runner = new TrafficRunner(
      {
        senders,
        receiverIds: receiverIdentities.map((i) => i.id),
        receiverOf: (i) => i,
        share: this.#params.share,
      },
      this.#ctx.log,
    );
    for (const receiver of receivers) runner.listenReceiver(receiver);
    this.runner = runner;
  }

  async sinkStats(): Promise<SinkStats> {
    return { ...(this.#sink?.stats ?? { received: 0, forwarded: 0, dropped: 0, receipts: 0 }) };
  }

  async close(): Promise<void> {
    this.runner?.detach();
    await closeAll(this.#opened.splice(0));
    await this.#sink?.close();
    this.#sink = undefined;
  }
}

/**
 * One generator process's part of relay and fanin: it connects its receivers, then its senders (as the
 * coordinator asks, every process in step), and takes part in the phases with a TrafficRunner. In process
 * with one generator process, in a worker (worker.ts) with --procs N; the coordinator is steady-traffic.ts.
 */
import type { DimClient } from '../../../src/client/dim-client.ts';
import type { KeyDirectory } from '../../../src/client/key-directory.ts';
import type { UserIdentity } from '../../../src/client/user-identity.ts';
import { closeAll } from '../connect.ts';
import type { Context, SetupData } from '../context.ts';
import { directoryOf, setupUsers } from '../context.ts';
import type { TrafficPlan } from '../process-split.ts';
import { RunnerShard, TrafficRunner } from '../traffic.ts';
import type { TrafficParticipant } from '../traffic-phase.ts';
import { PARTICIPANT_METHODS } from '../shard-api.ts';

export interface SteadyShardParams {
  readonly plan: TrafficPlan;
  /** Receiver j is pool user j, sender i pool user `receivers + i`. */
  readonly receivers: number;
}

/** Pool indices of the users a process needs: its own, the receivers it sends to, and with --verify the senders it hears from. */
export function steadyShardUsers(params: SteadyShardParams, verify: boolean): number[] {
  const { plan, receivers } = params;
  const users = new Set<number>([...plan.receivers, ...plan.targets]);
  for (const i of plan.senders) users.add(receivers + i);
  if (verify) for (const i of plan.remoteSenders) users.add(receivers + i);
  return [...users].sort((a, b) => a - b);
}

export interface SteadyShardApi extends TrafficParticipant {
  setupReceivers(): Promise<SetupData>;
  setupSenders(): Promise<SetupData>;
  close(): Promise<void>;
}

export const STEADY_SHARD_METHODS = [
  'setupReceivers',
  'setupSenders',
  'close',
  ...PARTICIPANT_METHODS,
] as const;

export class SteadyShard extends RunnerShard implements SteadyShardApi {
  readonly #ctx: Context;
  readonly #params: SteadyShardParams;
  readonly #identities: ReadonlyMap<number, UserIdentity>;
  readonly #directory: KeyDirectory;
  readonly #opened: DimClient[] = [];
  #receivers: DimClient[] = [];

  constructor(ctx: Context, identities: ReadonlyMap<number, UserIdentity>, params: SteadyShardParams) {
    super('senders are not set up');
    this.#ctx = ctx;
    this.#params = params;
    this.#identities = identities;
    this.#directory = directoryOf([...identities.values()]);
  }

  #user(poolIndex: number): UserIdentity {
    const identity = this.#identities.get(poolIndex);
    if (identity === undefined) throw new Error(`pool user ${poolIndex} was not handed to this process`);
    return identity;
  }

  #senderIdentities(): UserIdentity[] {
    return this.#params.plan.senders.map((i) => this.#user(this.#params.receivers + i));
  }

  async setupReceivers(): Promise<SetupData> {
    const identities = this.#params.plan.receivers.map((j) => this.#user(j));
    const r = await setupUsers(this.#ctx, 'receivers', identities, this.#directory);
    this.#receivers = r.users.map((u) => u.client);
    this.#opened.push(...this.#receivers);
    return r.data;
  }

  async setupSenders(): Promise<SetupData> {
    const { plan } = this.#params;
    const identities = this.#senderIdentities();
    const s = await setupUsers(this.#ctx, 'senders', identities, this.#directory);
    const senders = s.users.map((u) => u.client);
    this.#opened.push(...senders);
    if (!this.#ctx.options.verify) {
      // Receivers verify what they can: forget the senders and the station, so nothing is verified.
      for (const [index, identity] of this.#identities) {
        if (index >= this.#params.receivers) this.#directory.delete(identity.id);
      }
      const station = senders[0]?.stationId ?? this.#receivers[0]?.stationId;
      if (station !== undefined) this.#directory.delete(station);
    }
    const runner = new TrafficRunner(
      {
        senders,
        receiverIds: plan.targets.map((j) => this.#user(j).id),
        receiverOf: (i) => i,
        share: plan.share,
      },
      this.#ctx.log,
    );
    for (const receiver of this.#receivers) runner.listenReceiver(receiver);
    this.runner = runner;
    return s.data;
  }

  async close(): Promise<void> {
    this.runner?.detach();
    await closeAll(this.#opened.splice(0));
  }
}

/**
 * Splitting a load run over several generator processes: who hosts which user, which process sends which
 * message (the shares of one constant-rate schedule), and that the shares together are the whole schedule.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  indicesOf,
  localSenderOf,
  planTraffic,
  processOf,
  splitCount,
} from '../../../bench/loadgen/process-split.ts';
import { runSchedule, shareSize } from '../../../bench/loadgen/schedule.ts';

describe('loadgen process split', () => {
  it('splits counts evenly, the first processes taking the remainder', () => {
    assert.deepEqual(splitCount(10, 1), [10]);
    assert.deepEqual(splitCount(10, 3), [4, 3, 3]);
    assert.deepEqual(splitCount(2, 4), [1, 1, 0, 0]);
    for (const [total, procs] of [
      [7, 2],
      [100, 7],
      [1, 1],
    ] as const) {
      assert.equal(
        splitCount(total, procs).reduce((a, b) => a + b, 0),
        total,
      );
    }
  });

  it('relay: a pair never spans processes, every user is hosted once', () => {
    const pairs = 7;
    const plans = planTraffic({ senders: pairs, receivers: pairs, receiverOf: (i) => i }, 3);
    assert.equal(plans.length, 3);
    assert.deepEqual(
      plans.flatMap((p) => p.senders).sort((a, b) => a - b),
      indicesOf(pairs, 0, 1),
    );
    assert.deepEqual(
      plans.flatMap((p) => p.receivers).sort((a, b) => a - b),
      indicesOf(pairs, 0, 1),
    );
    plans.forEach((plan, w) => {
      assert.deepEqual(plan.share, { index: w, count: 3 });
      assert.deepEqual(plan.targets, plan.senders, 'sender i sends to receiver i');
      for (const target of plan.targets) assert.ok(plan.receivers.includes(target));
      assert.deepEqual(plan.remoteSenders, []);
    });
    assert.deepEqual(planTraffic({ senders: 3, receivers: 3, receiverOf: (i) => i }, 1), [
      {
        share: { index: 0, count: 1 },
        receivers: [0, 1, 2],
        senders: [0, 1, 2],
        targets: [0, 1, 2],
        remoteSenders: [],
      },
    ]);
  });

  it('fanin: the one receiver is in process 0, senders everywhere', () => {
    const plans = planTraffic({ senders: 5, receivers: 1, receiverOf: () => 0 }, 2);
    assert.deepEqual(
      plans.map((p) => p.receivers),
      [[0], []],
    );
    assert.deepEqual(
      plans.map((p) => p.senders),
      [
        [0, 2, 4],
        [1, 3],
      ],
    );
    assert.deepEqual(plans[1]!.targets, [0, 0]);
    assert.deepEqual(plans[0]!.remoteSenders, [1, 3], 'process 0 must know the senders it receives from');
    assert.equal(processOf(4, 2), 0);
  });

  it('refuses more processes than senders', () => {
    assert.throws(
      () => planTraffic({ senders: 2, receivers: 2, receiverOf: (i) => i }, 3),
      /at least 3 senders/,
    );
  });

  it('the shares of a schedule interleave into the whole constant-rate schedule', async () => {
    const total = 101;
    const intervalMs = 0.5;
    const procs = 3;
    const startPerf = performance.now() - 1000; // everything already due: fired at once
    const fired: Array<{ w: number; n: number; due: number }> = [];
    for (let w = 0; w < procs; w++) {
      const share = { index: w, count: procs };
      const handle = runSchedule(total, intervalMs, startPerf, (n, due) => fired.push({ w, n, due }), share);
      await handle.done;
      assert.equal(handle.fired(), shareSize(total, share));
    }
    assert.deepEqual(
      fired.map((f) => f.n).sort((a, b) => a - b),
      indicesOf(total, 0, 1),
    );
    for (const f of fired) {
      assert.equal(f.n % procs, f.w, 'message n goes out from process n mod N');
      assert.equal(f.due, startPerf + f.n * intervalMs, 'at its global due time');
    }
    assert.deepEqual(
      [0, 1, 2].map((w) => shareSize(total, { index: w, count: procs })),
      [34, 34, 33],
    );
  });

  it('one process: message n goes from sender n mod S, as without --procs', () => {
    const whole = { index: 0, count: 1 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6].map((n) => localSenderOf(n, whole, 3)),
      [0, 1, 2, 0, 1, 2, 0],
    );
    // process 1 of 2 with 2 senders: messages 1, 3, 5, 7 → its senders 0, 1, 0, 1
    const share = { index: 1, count: 2 };
    assert.deepEqual(
      [1, 3, 5, 7].map((n) => localSenderOf(n, share, 2)),
      [0, 1, 0, 1],
    );
  });

  it('a schedule in the future fires its share on time', async () => {
    const startPerf = performance.now() + 20;
    const seen: number[] = [];
    const handle = runSchedule(6, 5, startPerf, (n) => seen.push(n), { index: 1, count: 2 });
    await handle.done;
    assert.deepEqual(seen, [1, 3, 5]);
    assert.ok(performance.now() >= startPerf + 25);
  });
});

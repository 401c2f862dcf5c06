import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LiveGate } from '../../../src/gateway/live-gate.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('LiveGate', () => {
  it('lets live pushes through at once while open', () => {
    const gate = new LiveGate(1000, () => assert.fail('no timeout'));
    assert.equal(gate.holding, false);
    assert.equal(gate.pass(), undefined);
  });

  it('holds live pushes until opened, then releases them in arrival order', async () => {
    const gate = new LiveGate(10_000, () => assert.fail('no timeout'));
    gate.hold();
    const order: number[] = [];
    const waits = [1, 2, 3].map((n) => gate.pass()!.then(() => order.push(n)));
    assert.equal(gate.waiting, 3);
    await sleep(5);
    assert.deepEqual(order, [], 'nothing passes while held');
    gate.progress(); // a page that is not the last
    await sleep(5);
    assert.deepEqual(order, []);
    gate.open();
    await Promise.all(waits);
    assert.deepEqual(order, [1, 2, 3]);
    assert.equal(gate.pass(), undefined, 'open again');
  });

  it('gives up the order after holdMs without a page, and says so', async () => {
    let timeouts = 0;
    const gate = new LiveGate(30, () => timeouts++);
    gate.hold();
    const start = Date.now();
    await gate.pass();
    assert.ok(Date.now() - start >= 25, 'held about holdMs');
    assert.equal(timeouts, 1);
    assert.equal(gate.holding, false);
  });

  it('a page that is not the last buys another holdMs', async () => {
    let timeouts = 0;
    const gate = new LiveGate(60, () => timeouts++);
    gate.hold();
    const passed = gate.pass()!;
    await sleep(40);
    gate.progress();
    await sleep(40);
    assert.equal(timeouts, 0, 'still held 80 ms after the hold, 40 ms after the page');
    await passed;
    assert.equal(timeouts, 1);
  });

  it('the first hold waits the backlog delay too; 0 disables it; close releases and stays open', async () => {
    const gate = new LiveGate(20, () => undefined);
    gate.hold(40);
    const start = Date.now();
    await gate.pass();
    assert.ok(Date.now() - start >= 55, 'held the delay plus holdMs');
    const off = new LiveGate(0, () => assert.fail('never held'));
    off.hold();
    assert.equal(off.pass(), undefined);
    const closing = new LiveGate(10_000, () => assert.fail('no timeout'));
    closing.hold();
    const released = closing.pass()!;
    closing.close();
    await released;
    closing.hold();
    assert.equal(closing.pass(), undefined, 'a closed gate holds nothing');
    closing.close();
  });
});

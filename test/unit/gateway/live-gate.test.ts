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

  // The hold's timer runs on mocked time: on a loaded machine a real 40 ms sleep can outlast a 60 ms hold.
  it('gives up the order after holdMs without a page, and says so', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let timeouts = 0;
    const gate = new LiveGate(30, () => timeouts++);
    gate.hold();
    const passed = gate.pass()!;
    t.mock.timers.tick(29);
    assert.equal(timeouts, 0, 'still held 1 ms before holdMs');
    t.mock.timers.tick(1);
    await passed;
    assert.equal(timeouts, 1);
    assert.equal(gate.holding, false);
  });

  it('a page that is not the last buys another holdMs', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let timeouts = 0;
    const gate = new LiveGate(60, () => timeouts++);
    gate.hold();
    const passed = gate.pass()!;
    t.mock.timers.tick(40);
    gate.progress();
    t.mock.timers.tick(40);
    assert.equal(timeouts, 0, 'still held 80 ms after the hold, 40 ms after the page');
    t.mock.timers.tick(20);
    await passed;
    assert.equal(timeouts, 1);
  });

  it('the first hold waits the backlog delay too; 0 disables it; close releases and stays open', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    let timeouts = 0;
    const gate = new LiveGate(20, () => timeouts++);
    gate.hold(40);
    const passed = gate.pass()!;
    t.mock.timers.tick(59);
    assert.equal(timeouts, 0, 'held the delay plus holdMs');
    t.mock.timers.tick(1);
    await passed;
    assert.equal(timeouts, 1);
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

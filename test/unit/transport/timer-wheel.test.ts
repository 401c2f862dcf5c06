import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IdleTimer, idleWheelResolution } from '../../../src/transport/idle-timer.ts';
import { TimerWheel, type WheelClock, type WheelEntry } from '../../../src/transport/timer-wheel.ts';

/** A clock whose timers fire only when the test advances it. */
class FakeClock implements WheelClock {
  time = 0;
  timers: { at: number; callback: () => void; id: number }[] = [];
  #next = 0;

  now(): number {
    return this.time;
  }

  arm(callback: () => void, ms: number): unknown {
    this.#next += 1;
    this.timers.push({ at: this.time + ms, callback, id: this.#next });
    return this.#next;
  }

  disarm(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Move time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const first = this.timers[0];
      if (first === undefined || first.at > end) break;
      this.timers.shift();
      this.time = Math.max(this.time, first.at);
      first.callback();
    }
    this.time = end;
  }
}

class Entry implements WheelEntry {
  wheelSlot = -1;
  readonly fired: number[] = [];
  again: number[] = [];
  readonly onDue: ((now: number) => void) | undefined;
  constructor(onDue?: (now: number) => void) {
    this.onDue = onDue;
  }
  onWheelDue(now: number): number | undefined {
    this.fired.push(now);
    this.onDue?.(now);
    return this.again.shift();
  }
}

describe('TimerWheel', () => {
  it('fires an entry once its delay elapsed, at most one slot late, never early', () => {
    const clock = new FakeClock();
    const wheel = new TimerWheel({ resolution: 100, clock });
    const a = new Entry();
    clock.advance(30);
    wheel.schedule(a, 250); // due at 280 → slot boundary 300
    clock.advance(249);
    assert.deepEqual(a.fired, []);
    clock.advance(100);
    assert.deepEqual(a.fired, [300]);
    assert.equal(a.wheelSlot, -1);
    assert.equal(wheel.size, 0);
    assert.equal(clock.timers.length, 0, 'no timer armed once empty');
  });

  it('uses one armed timer for many entries and fires them in deadline order', () => {
    const clock = new FakeClock();
    const wheel = new TimerWheel({ resolution: 10, clock });
    const order: string[] = [];
    const late = new Entry(() => order.push('late'));
    const early = new Entry(() => order.push('early'));
    const mid = new Entry(() => order.push('mid'));
    wheel.schedule(late, 500);
    wheel.schedule(early, 100);
    wheel.schedule(mid, 300);
    assert.equal(clock.timers.length, 1);
    assert.equal(wheel.size, 3);
    clock.advance(1000);
    assert.deepEqual(order, ['early', 'mid', 'late']);
    assert.deepEqual(early.fired, [100]);
    assert.deepEqual(mid.fired, [300]);
    assert.deepEqual(late.fired, [500]);
  });

  it('cancel and reschedule move an entry; cancelled entries are never called', () => {
    const clock = new FakeClock();
    const wheel = new TimerWheel({ resolution: 10, clock });
    const a = new Entry();
    const b = new Entry();
    wheel.schedule(a, 100);
    wheel.schedule(b, 100);
    wheel.cancel(a);
    wheel.cancel(a); // idempotent
    wheel.schedule(b, 400); // moved later
    assert.equal(wheel.size, 1);
    clock.advance(399);
    assert.deepEqual(a.fired, []);
    assert.deepEqual(b.fired, []);
    clock.advance(1);
    assert.deepEqual(b.fired, [400]);
  });

  it('re-schedules an entry for the delay its callback returns', () => {
    const clock = new FakeClock();
    const wheel = new TimerWheel({ resolution: 10, clock });
    const a = new Entry();
    a.again = [50, 30];
    wheel.schedule(a, 100);
    clock.advance(1000);
    assert.deepEqual(a.fired, [100, 150, 180]);
    assert.equal(wheel.size, 0);
  });

  it('an entry cancelled by another entry of the same slot is skipped', () => {
    const clock = new FakeClock();
    const wheel = new TimerWheel({ resolution: 100, clock });
    const victim = new Entry();
    const killer = new Entry(() => wheel.cancel(victim));
    wheel.schedule(killer, 50);
    wheel.schedule(victim, 60);
    clock.advance(200);
    assert.equal(killer.fired.length, 1);
    assert.deepEqual(victim.fired, []);
    assert.equal(wheel.size, 0);
  });

  it('close forgets every entry and disarms; it is idempotent and later schedules are ignored', () => {
    const clock = new FakeClock();
    const wheel = new TimerWheel({ resolution: 10, clock });
    const a = new Entry();
    wheel.schedule(a, 100);
    wheel.close();
    wheel.close();
    assert.equal(clock.timers.length, 0);
    assert.equal(a.wheelSlot, -1);
    wheel.schedule(a, 10);
    clock.advance(1000);
    assert.deepEqual(a.fired, []);
    assert.equal(wheel.size, 0);
  });

  it('a timer that fires early (before the slot boundary) re-arms and fires nothing', () => {
    const clock = new FakeClock();
    const wheel = new TimerWheel({ resolution: 100, clock });
    const a = new Entry();
    wheel.schedule(a, 100);
    const armed = clock.timers[0]!;
    clock.timers = [];
    clock.time = 50;
    armed.callback(); // spurious early wake-up
    assert.deepEqual(a.fired, []);
    assert.equal(clock.timers.length, 1);
    clock.advance(100);
    assert.deepEqual(a.fired, [100]);
  });
});

describe('IdleTimer on a wheel', () => {
  it('fires after `timeout` without touch, not before; a touch postpones it', () => {
    const clock = new FakeClock();
    const wheel = new TimerWheel({ resolution: idleWheelResolution(1000), clock });
    let idle = 0;
    const timer = new IdleTimer(1000, () => (idle += 1), wheel);
    clock.advance(600);
    timer.touch();
    clock.advance(999);
    assert.equal(idle, 0, 'idle for 999 ms only');
    clock.advance(1 + idleWheelResolution(1000));
    assert.equal(idle, 1);
    clock.advance(10_000);
    assert.equal(idle, 1, 'fires once');
    assert.equal(wheel.size, 0);
  });

  it('stop() removes it from the wheel; timeout 0 never schedules', () => {
    const clock = new FakeClock();
    const wheel = new TimerWheel({ resolution: 10, clock });
    let idle = 0;
    const timer = new IdleTimer(100, () => (idle += 1), wheel);
    const off = new IdleTimer(0, () => (idle += 1), wheel);
    assert.equal(wheel.size, 1);
    timer.stop();
    timer.stop();
    off.stop();
    assert.equal(wheel.size, 0);
    clock.advance(1000);
    assert.equal(idle, 0);
  });

  it('resolution is 1/32 of the timeout within 1 ms .. 1 s', () => {
    assert.equal(idleWheelResolution(128_000), 1000);
    assert.equal(idleWheelResolution(3200), 100);
    assert.equal(idleWheelResolution(10), 1);
  });
});

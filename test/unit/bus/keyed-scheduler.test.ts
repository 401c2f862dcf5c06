import { it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedScheduler } from '../../../src/bus/keyed-scheduler.ts';

interface Item {
  readonly name: string;
  readonly orderKey: string | undefined;
}

function controllable() {
  const started: string[] = [];
  const finish = new Map<string, () => void>();
  const run = (item: Item) =>
    new Promise<void>((resolve) => {
      started.push(item.name);
      finish.set(item.name, resolve);
    });
  const end = async (name: string) => {
    finish.get(name)!();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { started, run, end };
}

it('bounds concurrency and starts items in queue order', async () => {
  const c = controllable();
  const s = new KeyedScheduler<Item>(2, c.run);
  for (const name of ['a', 'b', 'c', 'd']) s.push({ name, orderKey: undefined });
  assert.deepEqual(c.started, ['a', 'b']);
  assert.equal(s.running, 2);
  assert.equal(s.queued, 2);
  await c.end('b');
  assert.deepEqual(c.started, ['a', 'b', 'c']);
  await c.end('a');
  await c.end('c');
  await c.end('d');
  assert.equal(s.running, 0);
  await s.whenIdle();
});

it('runs one item per key at a time, in order, letting other keys pass', async () => {
  const c = controllable();
  const s = new KeyedScheduler<Item>(4, c.run);
  s.push({ name: 'k1-a', orderKey: 'k1' });
  s.push({ name: 'k1-b', orderKey: 'k1' });
  s.push({ name: 'k2-a', orderKey: 'k2' });
  s.push({ name: 'k1-c', orderKey: 'k1' });
  s.push({ name: 'none', orderKey: undefined });
  assert.deepEqual(c.started, ['k1-a', 'k2-a', 'none']);
  await c.end('k2-a');
  assert.deepEqual(c.started, ['k1-a', 'k2-a', 'none']);
  await c.end('k1-a');
  assert.deepEqual(c.started, ['k1-a', 'k2-a', 'none', 'k1-b']);
  await c.end('k1-b');
  assert.deepEqual(c.started.at(-1), 'k1-c');
});

it('survives a throwing run, hands back queued items, and reports idleness', async () => {
  let calls = 0;
  const s = new KeyedScheduler<Item>(1, async () => {
    calls++;
    throw new Error('boom');
  });
  s.push({ name: 'a', orderKey: 'k' });
  s.push({ name: 'b', orderKey: 'k' });
  s.push({ name: 'c', orderKey: 'k' });
  assert.deepEqual(
    s.takeQueued().map((i) => i.name),
    ['b', 'c'],
  );
  await s.whenIdle();
  assert.equal(calls, 1);
  assert.equal(s.running, 0);
});

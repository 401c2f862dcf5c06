import { it } from 'node:test';
import assert from 'node:assert/strict';
import { isBusError } from '../../../src/bus/bus-error.ts';
import { MemoryStreamStore } from '../../../src/bus/memory-stream-store.ts';

it('assigns increasing <ms>-<seq> IDs', () => {
  const store = new MemoryStreamStore();
  const ids = Array.from({ length: 50 }, (_, i) => store.add('s', { p: String(i) }, 1000));
  for (const id of ids) assert.match(id, /^\d+-\d+$/);
  const parsed = ids.map((id) => id.split('-').map(Number) as [number, number]);
  for (let i = 1; i < parsed.length; i++) {
    const [pm, ps] = parsed[i - 1]!;
    const [m, s] = parsed[i]!;
    assert.ok(m > pm || (m === pm && s === ps + 1), `${ids[i - 1]} < ${ids[i]}`);
  }
  assert.equal(store.length('s'), 50);
});

it('tracks pending entries like a consumer group', () => {
  const store = new MemoryStreamStore();
  assert.throws(
    () => store.readNew('s', 'g', 'c', 10),
    (err) => isBusError(err, 'BUS_NO_GROUP'),
  );
  assert.equal(store.createGroup('s', 'g'), true);
  assert.equal(store.createGroup('s', 'g'), false, 'BUSYGROUP');
  const a = store.add('s', { p: 'a' }, 1000);
  const b = store.add('s', { p: 'b', k: 'key' }, 1000);
  assert.deepEqual(store.readNew('s', 'g', 'c1', 10, 1000), [
    { id: a, fields: { p: 'a' }, deliveries: 1 },
    { id: b, fields: { p: 'b', k: 'key' }, deliveries: 1 },
  ]);
  assert.deepEqual(store.readNew('s', 'g', 'c1', 10, 1000), [], 'nothing new');
  assert.equal(store.pendingCount('s', 'g'), 2);
  // Own history: re-delivered, counted.
  assert.deepEqual(
    store.readPending('s', 'g', 'c1', '0-0', 10, 1100).map((d) => [d.id, d.deliveries]),
    [
      [a, 2],
      [b, 2],
    ],
  );
  assert.deepEqual(store.readPending('s', 'g', 'c2', '0-0', 10, 1100), [], 'not c2 entries');
  // Touch keeps an entry from being claimed; the other one is claimed by c2.
  assert.deepEqual(store.touch('s', 'g', 'c1', [a], 1500), []);
  const claim = store.autoClaim('s', 'g', 'c2', 300, '0-0', 10, 1500);
  assert.deepEqual(
    claim.claimed.map((d) => [d.id, d.deliveries]),
    [[b, 3]],
  );
  assert.equal(claim.cursor, '0-0');
  assert.deepEqual(store.touch('s', 'g', 'c1', [a, b], 1600), [b], 'b is c2 now');
  assert.equal(store.ack('s', 'g', [a, b, a]), 2);
  assert.equal(store.pendingCount('s', 'g'), 0);
  assert.equal(store.ack('missing', 'g', [a]), 0);
});

it('reports trimmed pending entries as deleted, and trims approximately', () => {
  const store = new MemoryStreamStore();
  store.createGroup('s', 'g');
  const first = store.add('s', { p: 'first' }, 10);
  store.readNew('s', 'g', 'c', 1, 0);
  for (let i = 0; i < 30; i++) store.add('s', { p: String(i) }, 10);
  assert.ok(store.length('s') >= 10 && store.length('s') <= 11, `length ${store.length('s')}`);
  assert.deepEqual(store.readPending('s', 'g', 'c', '0-0', 10, 5), [
    { id: first, fields: undefined, deliveries: 2 },
  ]);
  const claim = store.autoClaim('s', 'g', 'other', 0, '0-0', 10, 10);
  assert.deepEqual(claim, { cursor: '0-0', claimed: [], deleted: [first] });
  assert.equal(store.pendingCount('s', 'g'), 0);
});

it('moves a dead letter only if it was pending', () => {
  const store = new MemoryStreamStore();
  store.createGroup('s', 'g');
  const id = store.add('s', { p: 'x' }, 100);
  store.readNew('s', 'g', 'c', 1);
  assert.ok(store.deadLetter('s', 'g', id, 's:dead', { p: 'x', reason: 'r' }, 100));
  assert.equal(store.deadLetter('s', 'g', id, 's:dead', { p: 'x', reason: 'r' }, 100), undefined);
  assert.equal(store.length('s:dead'), 1);
  assert.equal(store.length('s'), 1, 'the original stays');
});

it('wakes a waiting reader on append, or after the timeout', async () => {
  const store = new MemoryStreamStore();
  const t0 = Date.now();
  const wait = store.waitForEntries('s', 5000);
  setTimeout(() => store.add('s', { p: 'x' }, 10), 10);
  await wait.promise;
  assert.ok(Date.now() - t0 < 1000);
  const t1 = Date.now();
  await store.waitForEntries('s', 30).promise;
  assert.ok(Date.now() - t1 >= 25);
  const cancelled = store.waitForEntries('s', 5000);
  cancelled.cancel();
  await cancelled.promise;
});

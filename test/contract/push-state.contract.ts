/** Contract of every PushState implementation (memory and Redis run the same assertions). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PendingItem, PushState } from '../../src/push/push-state.ts';

const item = (id: string, sender = 'bob@x', devices = ['d1']): PendingItem => ({
  id,
  sender,
  time: 1000,
  type: 1,
  devices,
});

export function pushStateContract(name: string, factory: () => Promise<PushState>): void {
  describe(`PushState contract: ${name}`, () => {
    it('notes each message once, coalesces a window, counts the badge', async () => {
      const state = await factory();
      const first = await state.note('alice', item('m1'));
      assert.deepEqual([first.fresh, first.pending, first.first?.id], [true, 1, 'm1']);
      const again = await state.note('alice', item('m1'));
      assert.deepEqual([again.fresh, again.pending, again.first?.id], [false, 1, 'm1'], 'a retry');
      const second = await state.note('alice', { ...item('m2'), group: 'g@x' });
      assert.deepEqual([second.fresh, second.pending, second.first?.id], [true, 2, 'm1']);
      assert.equal(await state.badge('alice'), 2);
      assert.equal(await state.badge('bob'), 0);
      await state.close();
    });

    it('take is idempotent per job and records settled devices and completion', async () => {
      const state = await factory();
      await state.note('alice', item('m1', 'bob@x', ['d1', 'd2']));
      await state.note('alice', item('m2'));
      const batch = await state.take('alice', 'job-1');
      assert.deepEqual(
        batch?.items.map((i) => i.id),
        ['m1', 'm2'],
      );
      assert.deepEqual(batch?.items[0]?.devices, ['d1', 'd2']);
      assert.equal(batch?.badge, 2);
      assert.equal(batch?.done, false);
      await state.settle('alice', 'job-1', ['d1'], false);
      const again = await state.take('alice', 'job-1');
      assert.deepEqual(
        again?.items.map((i) => i.id),
        ['m1', 'm2'],
        'the same batch',
      );
      assert.deepEqual([...(again?.settled ?? [])], ['d1']);
      assert.equal(await state.take('alice', 'job-2'), undefined, 'nothing left for another job');
      await state.settle('alice', 'job-1', ['d2'], true);
      const finished = await state.take('alice', 'job-1');
      assert.equal(finished?.done, true);
      assert.deepEqual([...(finished?.settled ?? [])].sort(), ['d1', 'd2']);
      // a message after the take opens a new window
      const next = await state.note('alice', item('m3'));
      assert.deepEqual([next.fresh, next.pending, next.first?.id], [true, 1, 'm3']);
      assert.equal(await state.badge('alice'), 3);
      await state.resetBadge('alice');
      assert.equal(await state.badge('alice'), 0);
      await state.close();
    });
  });
}

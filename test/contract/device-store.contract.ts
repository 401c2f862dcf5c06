/** Contract of every DeviceStore implementation (memory and Redis run the same assertions). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DeviceStore } from '../../src/push/device-store.ts';
import type { DeviceToken } from '../../src/push/device-token.ts';

/** Report times relative to now (iOS tokens older than 183 days count as expired). */
const T = Date.now() - 60_000;

const ios = (token: string, time: number, terminal?: string): DeviceToken => ({
  platform: 'ios',
  token,
  channel: 'apns',
  topic: 'chat.dim.sechat',
  sandbox: false,
  terminal,
  time: T + time,
});
const android = (token: string, time: number, terminal?: string): DeviceToken => ({
  platform: 'android',
  token,
  channel: 'firebase',
  terminal,
  time: T + time,
});

export function deviceStoreContract(name: string, factory: () => Promise<DeviceStore>): void {
  describe(`DeviceStore contract: ${name}`, () => {
    it('keeps devices newest first, replaces the same token, ignores older reports', async () => {
      const store = await factory();
      assert.deepEqual(await store.list('alice'), []);
      assert.equal(await store.put('alice', ios('aa01', 100, 'phone')), 'saved');
      assert.equal(await store.put('alice', android('fcm-1', 200, 'tablet')), 'saved');
      assert.equal(await store.put('alice', ios('aa01', 300, 'phone')), 'saved', 'same token, newer');
      assert.equal(await store.put('alice', ios('aa01', 250, 'phone')), 'older');
      const list = await store.list('alice');
      assert.deepEqual(
        list.map((d) => [d.token, d.time]),
        [
          ['aa01', T + 300],
          ['fcm-1', T + 200],
        ],
      );
      assert.deepEqual(list[0], ios('aa01', 300, 'phone'), 'every field survives');
      assert.deepEqual(await store.list('bob'), [], 'per user');
      await store.close();
    });

    it('a new token for the same platform and terminal replaces the old one', async () => {
      const store = await factory();
      await store.put('alice', ios('aa01', 100, 'phone'));
      await store.put('alice', ios('bb02', 200, 'phone'));
      await store.put('alice', ios('cc03', 300));
      await store.put('alice', ios('dd04', 400));
      assert.deepEqual(
        (await store.list('alice')).map((d) => d.token),
        ['dd04', 'cc03', 'bb02'],
        'without terminals only the same token is replaced',
      );
      await store.close();
    });

    it('keeps at most 8 devices per user, dropping the oldest', async () => {
      const store = await factory();
      for (let i = 0; i < 10; i++) await store.put('alice', android(`t${i}`, 1000 + i));
      const list = await store.list('alice');
      assert.equal(list.length, 8);
      assert.deepEqual(list.map((d) => d.token).slice(0, 2), ['t9', 't8']);
      assert.ok(!list.some((d) => d.token === 't0' || d.token === 't1'));
      await store.close();
    });

    it('removes a token, unless it was registered again after the given time', async () => {
      const store = await factory();
      await store.put('alice', ios('aa01', 100));
      await store.put('alice', android('fcm-1', 500));
      assert.equal(await store.remove('alice', 'fcm-1', T + 400), false, 're-registered after 400');
      assert.equal(await store.remove('alice', 'aa01', T + 400), true);
      assert.equal(await store.remove('alice', 'aa01'), false, 'gone already');
      assert.deepEqual(
        (await store.list('alice')).map((d) => d.token),
        ['fcm-1'],
      );
      assert.equal(await store.remove('alice', 'fcm-1'), true);
      assert.deepEqual(await store.list('alice'), []);
      await store.close();
    });

    it('concurrent reports of different devices are all kept', async () => {
      const store = await factory();
      await Promise.all(Array.from({ length: 6 }, (_, i) => store.put('carol', android(`c${i}`, 10 + i))));
      assert.equal((await store.list('carol')).length, 6);
      await store.close();
    });
  });
}

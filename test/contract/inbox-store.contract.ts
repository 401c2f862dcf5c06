/** Contract of every InboxStore implementation (memory and Redis run the same assertions). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { InboxMessage, InboxStore } from '../../src/storage/inbox-store.ts';

export interface InboxFactory {
  (options: { now: () => number; ttlMs?: number }): Promise<InboxStore>;
}

const msg = (sig: string, time: number, storedAt: number, terminal?: string): InboxMessage => ({
  sig,
  time,
  storedAt,
  terminal,
  json: JSON.stringify({ signature: sig }),
});

export function inboxStoreContract(name: string, factory: InboxFactory): void {
  describe(`InboxStore contract: ${name}`, () => {
    it('dedups by signature and pages oldest first with a cursor', async () => {
      const store = await factory({ now: () => 10_000 });
      try {
        assert.equal(await store.put('u', msg('c', 3000, 100)), true);
        assert.equal(await store.put('u', msg('a', 1000, 100)), true);
        assert.equal(await store.put('u', msg('b', 2000, 100)), true);
        assert.equal(await store.put('u', msg('a', 1000, 200)), false, 'same signature stored once');
        assert.equal(await store.count('u'), 3);
        const first = await store.page('u', 'phone', { limit: 2, until: 10_000 });
        assert.deepEqual(
          first.entries.map((e) => e.sig),
          ['a', 'b'],
        );
        assert.ok(first.next);
        const second = await store.page('u', 'phone', { limit: 2, until: 10_000, cursor: first.next });
        assert.deepEqual(
          second.entries.map((e) => e.sig),
          ['c'],
        );
        assert.equal(second.next, undefined);
        assert.equal(second.entries[0]!.json, JSON.stringify({ signature: 'c' }));
      } finally {
        await store.close();
      }
    });

    it('one terminal acknowledging does not delete the copy another terminal still needs', async () => {
      const store = await factory({ now: () => 10_000 });
      try {
        await store.addTerminal('u', 'phone');
        await store.addTerminal('u', 'tablet');
        await store.put('u', msg('a', 1000, 100));
        await store.markDelivered('u', 'phone', 'a');
        assert.deepEqual((await store.page('u', 'phone', { limit: 10, until: 10_000 })).entries, []);
        assert.deepEqual(
          (await store.page('u', 'tablet', { limit: 10, until: 10_000 })).entries.map((e) => e.sig),
          ['a'],
        );
        assert.equal(await store.count('u'), 1);
        await store.markDelivered('u', 'tablet', 'a');
        assert.equal(await store.count('u'), 0, 'deleted once every terminal has it');
      } finally {
        await store.close();
      }
    });

    it('a message to ID/terminal goes only to that terminal', async () => {
      const store = await factory({ now: () => 10_000 });
      try {
        await store.addTerminal('u', 'phone');
        await store.addTerminal('u', 'tablet');
        await store.put('u', msg('only-tablet', 1000, 100, 'tablet'));
        assert.deepEqual((await store.page('u', 'phone', { limit: 10, until: 10_000 })).entries, []);
        assert.equal((await store.page('u', 'tablet', { limit: 10, until: 10_000 })).entries.length, 1);
        await store.markDelivered('u', 'tablet', 'only-tablet');
        assert.equal(await store.count('u'), 0);
      } finally {
        await store.close();
      }
    });

    it('excludes messages stored after `until` and expires old ones', async () => {
      let now = 5_500;
      const store = await factory({ now: () => now, ttlMs: 5_000 });
      try {
        await store.put('u', msg('old', 1000, 1_000));
        await store.put('u', msg('live', 9000, 9_500));
        assert.deepEqual(
          (await store.page('u', '*', { limit: 10, until: 9_000 })).entries.map((e) => e.sig),
          ['old'],
        );
        now = 9_000;
        assert.deepEqual(
          (await store.page('u', '*', { limit: 10, until: 10_000 })).entries.map((e) => e.sig),
          ['live'],
        );
        assert.equal(await store.count('u'), 1, 'expired entry removed');
      } finally {
        await store.close();
      }
    });

    it('marking an unknown signature is harmless; users are isolated', async () => {
      const store = await factory({ now: () => 10_000 });
      try {
        await store.markDelivered('nobody', '*', 'x');
        await store.put('u1', msg('a', 1, 1));
        assert.equal(await store.count('u2'), 0);
        assert.deepEqual((await store.page('u2', '*', { limit: 10, until: 10_000 })).entries, []);
      } finally {
        await store.close();
      }
    });
    it('marks a batch of signatures at once, per terminal, skipping unknown and repeated ones', async () => {
      const store = await factory({ now: () => 10_000 });
      try {
        await store.addTerminal('u', 'phone');
        await store.addTerminal('u', 'tablet');
        await store.put('u', msg('a', 1000, 100));
        await store.put('u', msg('b', 2000, 100));
        await store.put('u', msg('c', 3000, 100));
        await store.put('u', msg('d', 4000, 100, 'tablet'));
        await store.markDeliveredMany('u', 'phone', ['a', 'unknown', 'b', 'a']);
        await store.markDeliveredMany('u', 'phone', []);
        const sigs = async (terminal: string): Promise<string[]> =>
          (await store.page('u', terminal, { limit: 10, until: 10_000 })).entries.map((e) => e.sig);
        assert.deepEqual(await sigs('phone'), ['c']);
        assert.deepEqual(await sigs('tablet'), ['a', 'b', 'c', 'd']);
        assert.equal(await store.count('u'), 4, 'the tablet still needs every copy');
        await store.markDeliveredMany('u', 'tablet', ['b', 'd', 'c']);
        assert.deepEqual(await sigs('tablet'), ['a']);
        assert.deepEqual(await sigs('phone'), ['c'], "the phone's marks are its own");
        assert.equal(await store.count('u'), 2, 'b (both terminals) and d (tablet only) deleted');
        await store.markDeliveredMany('u', 'phone', ['c']);
        await store.markDeliveredMany('u', 'tablet', ['a']);
        assert.equal(await store.count('u'), 0);
        assert.deepEqual(await sigs('phone'), []);
      } finally {
        await store.close();
      }
    });

    it('a batch larger than one script call marks every signature, in pages', async () => {
      const store = await factory({ now: () => 10_000 });
      try {
        const n = 600;
        const sig = (i: number): string => `m${String(i).padStart(4, '0')}`;
        for (let i = 0; i < n; i++) await store.put('u', msg(sig(i), 1000 + i, 100));
        await store.markDeliveredMany(
          'u',
          'phone',
          Array.from({ length: n - 1 }, (_, i) => sig(i)),
        );
        const left = await store.page('u', 'phone', { limit: 10, until: 10_000 });
        assert.deepEqual(
          left.entries.map((e) => e.sig),
          [sig(n - 1)],
        );
        assert.equal(await store.count('u'), 1);
      } finally {
        await store.close();
      }
    });
  });
}

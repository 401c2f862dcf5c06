/** Contract of every AccountStore implementation (memory and Redis run the same assertions). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseId } from '../../src/protocol/mkm/identifier.ts';
import type { AccountStore, LoginRecord } from '../../src/storage/account-store.ts';

export interface AccountStoreFactory {
  (): Promise<AccountStore>;
}

const alice = parseId('alice@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk');
const bob = parseId('bob@4WDfe3zZ4T7opFSi3iDAKiuTnUHjxmXekk');

const login = (time: number, terminal?: string, station?: string): LoginRecord => ({
  time,
  terminal,
  station,
  message: { sender: alice.string, time, data: `login ${time}`, nested: { terminal: terminal ?? null } },
});

export function accountStoreContract(name: string, factory: AccountStoreFactory): void {
  describe(`AccountStore contract: ${name}`, () => {
    it('keeps the newest login per terminal and lists them newest first', async () => {
      const store = await factory();
      try {
        assert.deepEqual(await store.getLogins(alice), []);
        assert.equal(await store.putLogin(alice, login(100, 'phone', 'station@anywhere')), true);
        assert.equal(await store.putLogin(alice, login(90, 'phone')), false, 'older');
        assert.equal(await store.putLogin(alice, login(100, 'phone')), false, 'as new');
        assert.equal(await store.putLogin(alice.withTerminal('tablet'), login(300, 'tablet')), true);
        assert.equal(await store.putLogin(alice, login(200)), true, 'no terminal: a slot of its own');
        assert.equal(await store.putLogin(alice, login(150)), false);
        const logins = await store.getLogins(alice.withTerminal('phone'));
        assert.deepEqual(
          logins.map((l) => [l.time, l.terminal]),
          [
            [300, 'tablet'],
            [200, undefined],
            [100, 'phone'],
          ],
        );
        assert.deepEqual(logins[2], login(100, 'phone', 'station@anywhere'), 'the record round-trips');
        assert.equal(await store.putLogin(alice, login(400, 'phone')), true, 'newer replaces');
        assert.deepEqual(
          (await store.getLogins(alice)).map((l) => l.time),
          [400, 300, 200],
        );
        assert.deepEqual(await store.getLogins(bob), [], 'users are isolated');
      } finally {
        await store.close();
      }
    });

    it('replaces block / mute lists and tells whether they changed', async () => {
      const store = await factory();
      try {
        assert.equal(await store.getList(alice, 'block'), undefined);
        assert.equal(await store.putList(alice, 'block', ['x', 'y']), true);
        assert.equal(await store.putList(alice, 'block', ['x', 'y']), false, 'unchanged');
        assert.equal(await store.putList(alice, 'block', ['y', 'x']), true, 'order matters');
        assert.deepEqual(await store.getList(alice.withTerminal('phone'), 'block'), ['y', 'x']);
        assert.equal(await store.getList(alice, 'mute'), undefined, 'block and mute are separate');
        assert.equal(await store.putList(alice, 'mute', []), true, 'an empty list is stored');
        assert.equal(await store.putList(alice, 'mute', []), false);
        assert.deepEqual(await store.getList(alice, 'mute'), []);
        const list = await store.getList(alice, 'block');
        list?.push('z');
        assert.deepEqual(await store.getList(alice, 'block'), ['y', 'x'], 'callers get a copy');
        assert.equal(await store.getList(bob, 'block'), undefined, 'users are isolated');
      } finally {
        await store.close();
      }
    });
  });
}

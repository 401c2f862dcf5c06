/** Contract of every SessionRegistry implementation (memory and Redis run the same assertions). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionRecord, SessionRegistry } from '../../src/registry/session-registry.ts';

export interface SessionRegistryFactory {
  (): Promise<SessionRegistry>;
}

const session = (
  gatewayId: string,
  connId: string,
  user: string,
  terminal?: string,
  active = true,
  since = 1_700_000_000_000,
): SessionRecord => ({ gatewayId, connId, user, terminal, active, since });

/** Sessions in a stable order (implementations may return them in any order). */
const sorted = (records: readonly SessionRecord[]) =>
  [...records].sort((a, b) => `${a.gatewayId}/${a.connId}`.localeCompare(`${b.gatewayId}/${b.connId}`));

export function sessionRegistryContract(name: string, factory: SessionRegistryFactory): void {
  describe(`SessionRegistry contract: ${name}`, () => {
    it('binds sessions and finds them by user, optionally by terminal', async () => {
      const registry = await factory();
      try {
        assert.deepEqual(await registry.sessionsOf('alice'), []);
        await registry.bind(session('gw1', 'c1', 'alice', 'phone'));
        await registry.bind(session('gw2', 'c1', 'alice', 'tablet', false, 5));
        await registry.bind(session('gw1', 'c2', 'alice'));
        await registry.bind(session('gw1', 'c3', 'bob', 'phone'));
        assert.deepEqual(sorted(await registry.sessionsOf('alice')), [
          session('gw1', 'c1', 'alice', 'phone'),
          session('gw1', 'c2', 'alice'),
          session('gw2', 'c1', 'alice', 'tablet', false, 5),
        ]);
        assert.deepEqual(await registry.sessionsOf('alice', 'phone'), [
          session('gw1', 'c1', 'alice', 'phone'),
        ]);
        assert.deepEqual(await registry.sessionsOf('alice', 'watch'), []);
        assert.deepEqual(await registry.sessionsOf('bob'), [session('gw1', 'c3', 'bob', 'phone')]);
        assert.deepEqual(await registry.sessionsOf('carol'), []);
      } finally {
        await registry.close();
      }
    });

    it('rebinding a connection replaces its record, even for another user', async () => {
      const registry = await factory();
      try {
        await registry.bind(session('gw1', 'c1', 'alice', 'phone', false));
        await registry.bind(session('gw1', 'c1', 'alice', 'tablet', true, 7));
        assert.deepEqual(await registry.sessionsOf('alice'), [
          session('gw1', 'c1', 'alice', 'tablet', true, 7),
        ]);
        await registry.bind(session('gw1', 'c1', 'bob'));
        assert.deepEqual(await registry.sessionsOf('alice'), [], 'the connection now belongs to bob');
        assert.deepEqual(await registry.sessionsOf('bob'), [session('gw1', 'c1', 'bob')]);
      } finally {
        await registry.close();
      }
    });

    it('setActive flips the flag of an existing session only', async () => {
      const registry = await factory();
      try {
        await registry.bind(session('gw1', 'c1', 'alice', 'phone', false));
        await registry.setActive('gw1', 'c1', true);
        assert.deepEqual(await registry.sessionsOf('alice'), [session('gw1', 'c1', 'alice', 'phone', true)]);
        await registry.setActive('gw1', 'c1', false);
        assert.equal((await registry.sessionsOf('alice'))[0]?.active, false);
        await registry.setActive('gw1', 'nope', true);
        await registry.setActive('gw9', 'c1', true);
        assert.equal((await registry.sessionsOf('alice')).length, 1, 'no record is created');
      } finally {
        await registry.close();
      }
    });

    it('unbind removes one connection; unknown connections are harmless', async () => {
      const registry = await factory();
      try {
        await registry.bind(session('gw1', 'c1', 'alice', 'phone'));
        await registry.bind(session('gw1', 'c2', 'alice', 'tablet'));
        await registry.unbind('gw1', 'c1');
        assert.deepEqual(await registry.sessionsOf('alice'), [session('gw1', 'c2', 'alice', 'tablet')]);
        await registry.unbind('gw1', 'c1');
        await registry.unbind('gw2', 'c2');
        assert.equal((await registry.sessionsOf('alice')).length, 1, 'same connection ID on another gateway');
        await registry.unbind('gw1', 'c2');
        assert.deepEqual(await registry.sessionsOf('alice'), []);
        await registry.setActive('gw1', 'c2', true);
        assert.deepEqual(await registry.sessionsOf('alice'), [], 'an unbound session stays gone');
      } finally {
        await registry.close();
      }
    });

    it('dropGateway removes every session of one gateway, and only those', async () => {
      const registry = await factory();
      try {
        await registry.bind(session('gw1', 'c1', 'alice', 'phone'));
        await registry.bind(session('gw1', 'c2', 'bob'));
        await registry.bind(session('gw2', 'c1', 'alice', 'tablet'));
        assert.equal(await registry.dropGateway('gw1'), 2);
        assert.deepEqual(await registry.sessionsOf('alice'), [session('gw2', 'c1', 'alice', 'tablet')]);
        assert.deepEqual(await registry.sessionsOf('bob'), []);
        assert.equal(await registry.dropGateway('gw1'), 0, 'idempotent');
        assert.equal(await registry.dropGateway('gw9'), 0, 'unknown gateway');
        await registry.bind(session('gw1', 'c1', 'carol'));
        assert.deepEqual(await registry.sessionsOf('carol'), [session('gw1', 'c1', 'carol')]);
      } finally {
        await registry.close();
      }
    });
  });
}

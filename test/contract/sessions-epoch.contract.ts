/**
 * Contract of the sessions epoch that closes the bind race (SessionRegistry.snapshotOf and
 * InboxStore.putChecked, on the same backend): a put routed on a read of the sessions reports a session
 * bound or activated since that read, in the same atomic step as the put; a put after no such change
 * reports none. Memory and Redis (standalone and cluster) run the same assertions.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionRecord, SessionRegistry } from '../../src/registry/session-registry.ts';
import type { InboxMessage, InboxStore } from '../../src/storage/inbox-store.ts';

export interface SessionsEpochFactory {
  (): Promise<{ registry: SessionRegistry; inbox: InboxStore; close(): Promise<void> }>;
}

const session = (connId: string, user: string, active = true, terminal?: string): SessionRecord => ({
  gatewayId: 'gw1',
  connId,
  user,
  terminal,
  active,
  since: 1_700_000_000_000,
});

const msg = (sig: string): InboxMessage => ({
  sig,
  time: 1000,
  storedAt: 100,
  terminal: undefined,
  json: JSON.stringify({ signature: sig }),
});

export function sessionsEpochContract(name: string, factory: SessionsEpochFactory): void {
  describe(`sessions epoch contract: ${name}`, () => {
    it('a put routed on an older read reports the bind in between; a put on a current read does not', async () => {
      const { registry, inbox, close } = await factory();
      try {
        const offline = await registry.snapshotOf('u');
        assert.deepEqual(offline.records, []);
        assert.deepEqual(await inbox.putChecked('u', msg('a'), offline.epoch), {
          stored: true,
          rebound: false,
        });

        await registry.bind(session('c1', 'u'));
        const online = await registry.snapshotOf('u');
        assert.deepEqual(online.records, [session('c1', 'u')]);
        assert.notEqual(online.epoch, offline.epoch);
        // routed on the read from before the bind: stored, and the bind is reported
        assert.deepEqual(await inbox.putChecked('u', msg('b'), offline.epoch), {
          stored: true,
          rebound: true,
        });
        assert.deepEqual(await inbox.putChecked('u', msg('c'), online.epoch), {
          stored: true,
          rebound: false,
        });
        // a duplicate still tells
        assert.deepEqual(await inbox.putChecked('u', msg('a'), offline.epoch), {
          stored: false,
          rebound: true,
        });
        assert.equal(await inbox.count('u'), 3);
        // another user's bind is not this user's
        await registry.bind(session('c2', 'v'));
        assert.deepEqual(await inbox.putChecked('u', msg('d'), online.epoch), {
          stored: true,
          rebound: false,
        });
      } finally {
        await close();
      }
    });

    it('a session becoming active is a new epoch; becoming inactive or leaving is not one to push to', async () => {
      const { registry, inbox, close } = await factory();
      try {
        await registry.bind(session('c1', 'u', false));
        const background = await registry.snapshotOf('u');
        await registry.setActive('gw1', 'c1', false);
        assert.equal((await registry.snapshotOf('u')).epoch, background.epoch, 'still inactive: same epoch');
        await registry.setActive('gw1', 'c1', true);
        const active = await registry.snapshotOf('u');
        assert.notEqual(active.epoch, background.epoch);
        assert.equal(active.records[0]?.active, true);
        assert.deepEqual(await inbox.putChecked('u', msg('a'), background.epoch), {
          stored: true,
          rebound: true,
        });
        // a session of an unknown connection is not activated, and changes nothing
        await registry.setActive('gw1', 'nope', true);
        assert.equal((await registry.snapshotOf('u')).epoch, active.epoch);
      } finally {
        await close();
      }
    });
  });
}

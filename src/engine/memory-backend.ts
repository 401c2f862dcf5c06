/** The embedded engine's backend: everything in this process's memory. */
import { MemoryMessageBus } from '../bus/memory-message-bus.ts';
import { createRedisKeys } from '../redis/redis-keys.ts';
import { MemorySessionRegistry } from '../registry/memory-session-registry.ts';
import { MemoryAccountStore } from '../storage/memory-account-store.ts';
import { MemoryIdentityStore } from '../storage/memory-identity-store.ts';
import { MemoryInboxStore } from '../storage/memory-inbox-store.ts';
import type { Backend } from './backend.ts';

export function createMemoryBackend(): Backend {
  const bus = new MemoryMessageBus();
  const registry = new MemorySessionRegistry();
  const identities = new MemoryIdentityStore();
  const accounts = new MemoryAccountStore();
  const inbox = new MemoryInboxStore({ sessionsEpoch: (user) => registry.epochOf(user) });
  let closing: Promise<void> | undefined;
  return {
    kind: 'memory',
    keys: createRedisKeys('mem:'),
    bus,
    registry,
    identities,
    accounts,
    inbox,
    isGatewayAlive: async () => true,
    heartbeat: async () => undefined,
    close() {
      closing ??= (async () => {
        await bus.close();
        await Promise.all([registry.close(), identities.close(), accounts.close(), inbox.close()]);
      })();
      return closing;
    },
  };
}

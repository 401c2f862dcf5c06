import { sessionRegistryContract } from '../../contract/session-registry.contract.ts';
import { sessionsEpochContract } from '../../contract/sessions-epoch.contract.ts';
import { MemorySessionRegistry } from '../../../src/registry/memory-session-registry.ts';
import { MemoryInboxStore } from '../../../src/storage/memory-inbox-store.ts';

sessionRegistryContract('memory', async () => new MemorySessionRegistry());

sessionsEpochContract('memory', async () => {
  const registry = new MemorySessionRegistry();
  const inbox = new MemoryInboxStore({ sessionsEpoch: (user) => registry.epochOf(user) });
  return {
    registry,
    inbox,
    close: () => Promise.all([registry.close(), inbox.close()]).then(() => undefined),
  };
});

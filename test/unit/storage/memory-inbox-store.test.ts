import { inboxStoreContract } from '../../contract/inbox-store.contract.ts';
import { MemoryInboxStore } from '../../../src/storage/memory-inbox-store.ts';

inboxStoreContract('memory', async (options) => new MemoryInboxStore(options));

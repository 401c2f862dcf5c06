import { identityStoreContract } from '../../contract/identity-store.contract.ts';
import { MemoryIdentityStore } from '../../../src/storage/memory-identity-store.ts';

identityStoreContract('memory', async () => new MemoryIdentityStore());

import { accountStoreContract } from '../../contract/account-store.contract.ts';
import { MemoryAccountStore } from '../../../src/storage/memory-account-store.ts';

accountStoreContract('memory', async () => new MemoryAccountStore());

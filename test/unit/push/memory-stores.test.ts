import { deviceStoreContract } from '../../contract/device-store.contract.ts';
import { pushStateContract } from '../../contract/push-state.contract.ts';
import { MemoryDeviceStore } from '../../../src/push/memory-device-store.ts';
import { MemoryPushState } from '../../../src/push/memory-push-state.ts';

deviceStoreContract('memory', async () => new MemoryDeviceStore());
pushStateContract('memory', async () => new MemoryPushState());

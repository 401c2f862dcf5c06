import { sessionRegistryContract } from '../../contract/session-registry.contract.ts';
import { MemorySessionRegistry } from '../../../src/registry/memory-session-registry.ts';

sessionRegistryContract('memory', async () => new MemorySessionRegistry());

/** The MessageBus contract against both implementations: in memory, and on a private redis-server. */
import { after, before, describe } from 'node:test';
import { MemoryMessageBus } from '../../../src/bus/memory-message-bus.ts';
import { MemoryStreamStore } from '../../../src/bus/memory-stream-store.ts';
import { RedisMessageBus } from '../../../src/bus/redis-message-bus.ts';
import { startRedisServer } from '../../helpers/redis-server.ts';
import type { RedisServer } from '../../helpers/redis-server.ts';
import { messageBusContract } from './message-bus-contract.ts';

describe('MemoryMessageBus', () => {
  const store = new MemoryStreamStore();
  messageBusContract({
    createBus: (options) => new MemoryMessageBus({ store, ...options }),
  });
});

describe('RedisMessageBus', () => {
  let server: RedisServer | undefined;
  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    await server?.dispose();
  });
  messageBusContract({
    createBus: (options) => {
      if (!server) throw new Error('redis-server not started');
      return new RedisMessageBus({ url: server.url, maxReconnectDelayMs: 100, ...options });
    },
  });
});

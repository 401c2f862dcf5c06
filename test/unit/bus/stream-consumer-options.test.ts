import { it } from 'node:test';
import assert from 'node:assert/strict';
import { BUS_DEFAULTS } from '../../../src/bus/bus-defaults.ts';
import { isBusError } from '../../../src/bus/bus-error.ts';
import { MemoryMessageBus } from '../../../src/bus/memory-message-bus.ts';
import { resolveConsumerOptions } from '../../../src/bus/stream-consumer.ts';
import { scriptSource, SCRIPTS } from '../../../src/redis/redis-scripts.ts';

const base = { stream: 's', group: 'g', consumer: 'c', handler: async () => {} };

it('applies the documented consumer defaults', () => {
  const o = resolveConsumerOptions(base);
  assert.equal(o.concurrency, 16);
  assert.equal(o.blockMs, 1000);
  assert.equal(o.claimIdleMs, 30_000);
  assert.equal(o.maxDeliveries, 5);
  assert.equal(o.batchSize, 64);
  assert.equal(BUS_DEFAULTS.maxLen, 1_000_000);
});

it('rejects invalid consumer options with BUS_BAD_ARGUMENT', async () => {
  for (const bad of [{ concurrency: 0 }, { blockMs: 1.5 }, { maxDeliveries: -1 }, { stream: '' }]) {
    assert.throws(
      () => resolveConsumerOptions({ ...base, ...bad }),
      (err) => isBusError(err, 'BUS_BAD_ARGUMENT'),
      JSON.stringify(bad),
    );
  }
  const bus = new MemoryMessageBus();
  assert.throws(
    () => bus.consume({ ...base, batchSize: 0 }),
    (err) => isBusError(err, 'BUS_BAD_ARGUMENT'),
  );
  assert.throws(
    () => new MemoryMessageBus({ maxLen: 0 }),
    (err) => isBusError(err, 'BUS_BAD_ARGUMENT'),
  );
  await bus.close();
});

it('ships every Lua script', () => {
  for (const name of Object.keys(SCRIPTS) as (keyof typeof SCRIPTS)[]) {
    assert.match(scriptSource(name), /redis\.call/);
  }
});

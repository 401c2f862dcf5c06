import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LinkOutbox, OutboxClosedError } from '../../../src/federation/link-outbox.ts';
import type { OutboxLink } from '../../../src/federation/link-outbox.ts';

/** A link whose sends are answered by the test: `ok(n)` acknowledges the n-th write, `fail()` drops. */
class FakeLink implements OutboxLink {
  isUp = true;
  closed = false;
  readonly writes: string[] = [];
  /** By write index. */
  readonly #pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  #upWaiters: Array<() => void> = [];

  send(json: string): Promise<void> {
    if (!this.isUp) return Promise.reject(new Error('down'));
    const index = this.writes.push(json) - 1;
    return new Promise((resolve, reject) => this.#pending.set(index, { resolve, reject }));
  }
  whenUp(): Promise<void> {
    if (this.isUp || this.closed) return Promise.resolve();
    return new Promise((r) => this.#upWaiters.push(r));
  }
  ok(index: number): void {
    this.#pending.get(index)?.resolve();
    this.#pending.delete(index);
  }
  /** The connection drops: every write in flight fails. */
  drop(): void {
    this.isUp = false;
    for (const p of this.#pending.values()) p.reject(new Error('closed'));
    this.#pending.clear();
  }
  up(): void {
    this.isUp = true;
    for (const w of this.#upWaiters.splice(0)) w();
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('link outbox', { timeout: 10_000 }, () => {
  it('writes in push order without waiting for each OK; each push resolves on its own OK', async () => {
    const link = new FakeLink();
    const outbox = new LinkOutbox(link, 0);
    const done: string[] = [];
    for (const m of ['a', 'b', 'c']) void outbox.push(m).then(() => done.push(m));
    assert.deepEqual(link.writes, ['a', 'b', 'c'], 'pipelined');
    link.ok(1);
    await tick();
    assert.deepEqual(done, ['b']);
    assert.equal(outbox.pending, 2);
  });

  it('after a drop, everything unacknowledged is written again in the original order once the link is up', async () => {
    const link = new FakeLink();
    const outbox = new LinkOutbox(link, 0);
    const results = ['a', 'b', 'c', 'd'].map((m) => outbox.push(m));
    link.ok(1); // b acknowledged before the drop
    await tick();
    link.drop();
    await tick();
    const later = outbox.push('e'); // pushed while down: waits, keeps its place
    link.up();
    await tick();
    await tick();
    assert.deepEqual(link.writes.slice(4), ['a', 'c', 'd', 'e']);
    for (let i = 4; i < 8; i++) link.ok(i);
    await Promise.all([...results, later]);
    assert.equal(outbox.pending, 0);
  });

  it('close rejects what is not acknowledged (it stays queued upstream)', async () => {
    const link = new FakeLink();
    const outbox = new LinkOutbox(link, 0);
    const p = outbox.push('a');
    outbox.close();
    await assert.rejects(p, OutboxClosedError);
    await assert.rejects(outbox.push('b'), OutboxClosedError);
  });
});

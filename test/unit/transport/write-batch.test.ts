/**
 * Writes batched per event-loop turn: every write to a socket in one turn reaches the underlying stream
 * in one `writev` call, in order; the next turn starts a new batch; ending a corked stream flushes it.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { corkForTurn as corkWithClock } from '../../../src/transport/write-batch.ts';

/**
 * A clock that stands still: a cold first turn on a loaded machine can take longer than the batch's 1 ms
 * bound, which would flush it early; these tests are about the turn boundary, not the bound.
 */
const stopped = (): number => 0;
const corkForTurn = (stream: Writable): void => corkWithClock(stream, stopped);

/** A Writable that records each call it gets: one entry per write() or writev(). */
function recorder(): { stream: Writable; calls: string[][] } {
  const calls: string[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      calls.push([chunk.toString()]);
      cb();
    },
    writev(chunks, cb) {
      calls.push(chunks.map((c) => (c.chunk as Buffer).toString()));
      cb();
    },
  });
  return { stream, calls };
}

describe('write batching per event-loop turn', () => {
  it('writes of one turn leave in one writev, in order; each socket has its own batch', async () => {
    const a = recorder();
    const b = recorder();
    for (const text of ['OK', 'receipt', 'push']) {
      corkForTurn(a.stream);
      a.stream.write(text);
    }
    corkForTurn(b.stream);
    b.stream.write('other');
    assert.deepEqual(a.calls, [], 'nothing leaves before the turn ends');
    await nextTurn();
    assert.deepEqual(a.calls, [['OK', 'receipt', 'push']]);
    assert.deepEqual(b.calls, [['other']]);
    assert.equal(a.stream.writableCorked, 0);
    // the next turn is a new batch
    corkForTurn(a.stream);
    a.stream.write('next');
    await nextTurn();
    assert.deepEqual(a.calls, [['OK', 'receipt', 'push'], ['next']]);
  });

  it('writes made in microtasks of the turn join its batch', async () => {
    const a = recorder();
    corkForTurn(a.stream);
    a.stream.write('1');
    await Promise.resolve();
    corkForTurn(a.stream);
    a.stream.write('2');
    await nextTurn();
    assert.deepEqual(a.calls, [['1', '2']]);
  });

  it('ending a corked stream flushes what was batched; the later uncork is harmless', async () => {
    const a = recorder();
    corkForTurn(a.stream);
    a.stream.write('BYE');
    a.stream.end();
    await nextTurn();
    assert.deepEqual(a.calls.flat(), ['BYE']);
    assert.equal(a.stream.writableFinished, true);
  });
});

describe('write batching: a long turn', () => {
  it('a batch open for more than a millisecond is flushed at the next write', async () => {
    const a = {
      calls: [] as string[][],
      stream: undefined as unknown as Writable,
    };
    a.stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        a.calls.push([chunk.toString()]);
        cb();
      },
      writev(chunks, cb) {
        a.calls.push(chunks.map((c) => (c.chunk as Buffer).toString()));
        cb();
      },
    });
    let now = 100;
    const clock = (): number => now;
    corkWithClock(a.stream, clock);
    a.stream.write('early');
    now += 0.5; // within the bound: same batch
    corkWithClock(a.stream, clock);
    a.stream.write('still early');
    now += 2.5; // a turn busy for 3 ms
    corkWithClock(a.stream, clock);
    a.stream.write('late');
    assert.deepEqual(
      a.calls,
      [['early', 'still early']],
      'the early writes left before the late one was batched',
    );
    await nextTurn();
    assert.deepEqual(a.calls, [['early', 'still early'], ['late']]);
  });
});

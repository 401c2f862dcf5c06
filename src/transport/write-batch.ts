/**
 * Socket writes batched per event-loop turn: the first write to a socket in a turn corks it, and every
 * socket corked in that turn is uncorked together once the turn's I/O callbacks and their microtasks have
 * run (setImmediate). Frames written to one connection in one turn — an `OK` and the receipt that follows
 * it, the messages of a backlog page, a WebSocket frame's header and payload — then leave in one
 * `writev` system call instead of one `write` each. On loopback every write also runs the receiver's TCP
 * path inside the writer's syscall, so fewer writes is fewer kernel entries on both sides.
 *
 * The delay is bounded (no timer): by the turn itself, and by MAX_BATCH_MS within a long turn (a process that
 * was descheduled and then reads many messages in one turn sends what it has every millisecond instead of
 * holding everything to the end of the turn).
 */
import type { Writable } from 'node:stream';

/** What is needed of a socket (net.Socket, or any Writable). */
type Corkable = Pick<Writable, 'cork' | 'uncork' | 'writableCorked'>;

/** A batch open longer than this (a long turn: many messages arrived at once) is flushed early. */
const MAX_BATCH_MS = 1;

let corked: Corkable[] = [];
let scheduled = false;
let openedAt = 0;

function flush(): void {
  scheduled = false;
  const sockets = corked;
  corked = [];
  for (const socket of sockets) socket.uncork();
}

/** Milliseconds, monotonic; the batch's age is measured with it. */
export type Clock = () => number;

const monotonic: Clock = () => performance.now();

/**
 * Cork `socket` until the end of this event-loop turn (nothing to do when it is corked already: only this
 * module leaves sockets corked between calls). Write to it after calling this. `now` is for tests, which
 * cannot rely on a cold first turn being shorter than MAX_BATCH_MS.
 */
export function corkForTurn(socket: Corkable, now: Clock = monotonic): void {
  if (corked.length > 0 && now() - openedAt > MAX_BATCH_MS) flush();
  if (socket.writableCorked > 0) return;
  socket.cork();
  if (corked.length === 0) openedAt = now();
  corked.push(socket);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

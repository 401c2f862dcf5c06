/**
 * Socket writes batched per event-loop turn: the first write to a socket in a turn corks it, and every
 * socket corked in that turn is uncorked together once the turn's I/O callbacks and their microtasks have
 * run (setImmediate). Frames written to one connection in one turn — an `OK` and the receipt that follows
 * it, the messages of a backlog page, a WebSocket frame's header and payload — then leave in one
 * `writev` system call instead of one `write` each. On loopback every write also runs the receiver's TCP
 * path inside the writer's syscall, so fewer writes is fewer kernel entries on both sides.
 *
 * The delay is bounded by the turn itself (no timer): an idle process flushes at once.
 */
import type { Writable } from 'node:stream';

/** What is needed of a socket (net.Socket, or any Writable). */
type Corkable = Pick<Writable, 'cork' | 'uncork' | 'writableCorked'>;

let corked: Corkable[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  const sockets = corked;
  corked = [];
  for (const socket of sockets) socket.uncork();
}

/**
 * Cork `socket` until the end of this event-loop turn (nothing to do when it is corked already: only this
 * module leaves sockets corked between calls). Write to it after calling this.
 */
export function corkForTurn(socket: Corkable): void {
  if (socket.writableCorked > 0) return;
  socket.cork();
  corked.push(socket);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

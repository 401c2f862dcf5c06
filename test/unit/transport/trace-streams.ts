/**
 * The MTP capture traces of the shared vectors (`<vectors>/traces/*.jsonl`, vectors README "Trace files"),
 * read with the shared `readTrace` helper and grouped per connection and direction.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readTrace, vectorsDir, type TraceFrame } from '../../helpers/vectors.ts';

/** File names of all trace files, sorted. */
export function traceNames(): string[] {
  return readdirSync(join(vectorsDir, 'traces'))
    .filter((name) => name.endsWith('.jsonl'))
    .sort();
}

/** The wire bytes of a captured frame: header + UTF-8 body. */
export function frameWire(frame: TraceFrame): Buffer {
  return Buffer.concat([Buffer.from(frame.header_hex, 'hex'), Buffer.from(frame.body, 'utf8')]);
}

/** One direction of one connection of a trace. */
export interface TraceStream {
  /** `<file> conn <n> <dir>` */
  name: string;
  frames: TraceFrame[];
  /** Wire bytes of each frame, in capture order. */
  wires: Buffer[];
}

/** Every trace file split per connection and direction, frames in capture order. */
export function traceStreams(): TraceStream[] {
  const streams = new Map<string, TraceStream>();
  for (const file of traceNames()) {
    for (const frame of readTrace(file)) {
      const name = `${file} conn ${frame.conn} ${frame.dir}`;
      let stream = streams.get(name);
      if (stream === undefined) {
        stream = { name, frames: [], wires: [] };
        streams.set(name, stream);
      }
      stream.frames.push(frame);
      stream.wires.push(frameWire(frame));
    }
  }
  return [...streams.values()];
}

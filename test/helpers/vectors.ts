/**
 * Access to the shared DIM test vectors (`<repo>/../shared/vectors`, see its README.md), falling back to a
 * copy in `<repo>/test/fixtures/vectors` when the shared directory is absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file lives in `<repo>/test/helpers`). */
export const repoDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const sharedVectorsDir = resolve(repoDir, '..', 'shared', 'vectors');
const fixtureVectorsDir = join(repoDir, 'test', 'fixtures', 'vectors');

/** Directory holding the vector files. */
export const vectorsDir = existsSync(sharedVectorsDir) ? sharedVectorsDir : fixtureVectorsDir;

/** One element of a vector file's `vectors` array. */
export interface Vector {
  id: string;
  title?: string;
  origin?: string;
  source?: string;
  input?: Record<string, unknown>;
  expected?: Record<string, unknown>;
  notes?: string[];
  [field: string]: unknown;
}

/** A `.json` vector file: `{description, conventions, vectors}`. */
export interface VectorFile {
  description?: string;
  conventions?: string[];
  vectors: Vector[];
  [field: string]: unknown;
}

const cache = new Map<string, unknown>();

/** Read and parse a vector file by name (e.g. `keys-and-signatures.json`); cached. */
export function readVectorFile<T = VectorFile>(name: string): T {
  let parsed = cache.get(name);
  if (parsed === undefined) {
    parsed = JSON.parse(readFileSync(join(vectorsDir, name), 'utf8')) as unknown;
    cache.set(name, parsed);
  }
  return parsed as T;
}

/** The vector with the given id in a `.json` vector file; throws when absent. */
export function vectorById(file: string, id: string): Vector {
  const found = readVectorFile(file).vectors.find((v) => v.id === id);
  if (!found) throw new Error(`vector ${id} not found in ${file}`);
  return found;
}

/** One line (MTP frame) of a `traces/*.jsonl` capture. */
export interface TraceFrame {
  conn: number;
  dir: 'c2s' | 's2c';
  t: number;
  header_hex: string;
  type: number;
  sn_hex: string;
  body: string;
  [field: string]: unknown;
}

/** Read a trace file by name (e.g. `sample-mtp-trace-vs-ref-station.jsonl`, or `traces/<name>`): one frame per line. */
export function readTrace(name: string): TraceFrame[] {
  const path = name.includes('/') ? join(vectorsDir, name) : join(vectorsDir, 'traces', name);
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as TraceFrame);
}

/**
 * JSON parsing with a bound on nesting depth. `JSON.parse` itself copes with any depth, but everything
 * after it that walks the value recursively (`JSON.stringify` when the message is published, structured
 * clone, loggers) throws `RangeError: Maximum call stack size exceeded` on a value nested ~10,000 deep.
 * The depth is measured on the text first (one pass, strings skipped), so a poison message is refused
 * with a code before any recursive code sees it.
 */
import { ProtocolError } from './protocol-error.ts';

/** Deepest nesting a DIMP message needs is ~6 (message → visa → data…); 64 leaves ample room. */
export const DEFAULT_MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** The deepest array/object nesting in a JSON text, stopping as soon as it exceeds `limit`. */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i += 1;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth += 1;
      if (depth > limit) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth -= 1;
    }
  }
  return false;
}

/** `JSON.parse` refusing texts nested deeper than `maxDepth` (NESTING_TOO_DEEP) and non-JSON (BAD_JSON). */
export function parseBoundedJson(text: string, maxDepth = DEFAULT_MAX_JSON_DEPTH): unknown {
  if (jsonDepthExceeds(text, maxDepth)) {
    throw new ProtocolError('NESTING_TOO_DEEP', `JSON nested deeper than ${maxDepth} levels`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new ProtocolError('BAD_JSON', 'not JSON', { cause });
  }
}

/** Depth of an already parsed value, stopping past `limit` (iterative: safe on any input). */
export function valueDepthExceeds(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (d + 1 > limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>)) {
      if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
    }
  }
  return false;
}

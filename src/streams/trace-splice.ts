/**
 * Appends the station's trace to a reliable message's JSON text without parsing or re-serialising it: a
 * byte splice. The text must be one JSON object (as the gateway accepted it); the station's `traces` item is
 * added to the top-level `traces` array — the last `traces` member when the sender sent duplicates, since
 * that is the one JSON parsers keep — or a `traces` array is added before the closing brace. A `traces`
 * value that is not an array is replaced by `[trace]` (what the reference station does).
 *
 * The scanner only walks the top-level object: strings are skipped with indexOf (the long `data` string
 * costs one search), nested values by bracket depth. Pure and I/O-free.
 */

export class TraceSpliceError extends Error {
  readonly code = 'BAD_MESSAGE_TEXT';
}

/** Character codes the scanner looks at. */
const Ch = {
  Tab: 9,
  Lf: 10,
  Cr: 13,
  Space: 32,
  Quote: 34,
  Comma: 44,
  Colon: 58,
  OpenArray: 91,
  Backslash: 92,
  CloseArray: 93,
  OpenObject: 123,
  CloseObject: 125,
} as const;

function skipWs(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== Ch.Space && c !== Ch.Lf && c !== Ch.Cr && c !== Ch.Tab) return i;
    i++;
  }
}

/** `i` at an opening quote; returns the index after the closing one. */
function skipString(text: string, i: number): number {
  let at = i + 1;
  for (;;) {
    const quote = text.indexOf('"', at);
    if (quote < 0) throw new TraceSpliceError('unterminated string');
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === Ch.Backslash) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    at = quote + 1;
  }
}

/** `i` at the start of a value; returns the index after it. */
function skipValue(text: string, i: number): number {
  const first = text.charCodeAt(i);
  if (first === Ch.Quote) return skipString(text, i);
  if (first === Ch.OpenObject || first === Ch.OpenArray) {
    let depth = 0;
    for (;;) {
      const c = text.charCodeAt(i);
      if (Number.isNaN(c)) throw new TraceSpliceError('unterminated object or array');
      if (c === Ch.Quote) {
        i = skipString(text, i);
        continue;
      }
      if (c === Ch.OpenObject || c === Ch.OpenArray) depth++;
      else if (c === Ch.CloseObject || c === Ch.CloseArray) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
  }
  // number, true, false, null: up to the next delimiter
  let j = i;
  for (;;) {
    const c = text.charCodeAt(j);
    if (
      Number.isNaN(c) ||
      c === Ch.Comma ||
      c === Ch.CloseObject ||
      c === Ch.CloseArray ||
      c === Ch.Space ||
      c === Ch.Lf ||
      c === Ch.Cr ||
      c === Ch.Tab
    ) {
      break;
    }
    j++;
  }
  if (j === i) throw new TraceSpliceError(`value expected at ${i}`);
  return j;
}

function keyOf(text: string, start: number, end: number): string {
  const inner = text.slice(start + 1, end - 1);
  if (!inner.includes('\\')) return inner;
  try {
    return JSON.parse(text.slice(start, end)) as string;
  } catch {
    throw new TraceSpliceError('bad member name');
  }
}

/** Where the top-level members are: the `traces` value (last one), and the object's closing brace. */
function scan(text: string): { close: number; empty: boolean; traces?: { start: number; end: number } } {
  let i = skipWs(text, 0);
  if (text.charCodeAt(i) !== Ch.OpenObject) throw new TraceSpliceError('message text is not a JSON object');
  i = skipWs(text, i + 1);
  let traces: { start: number; end: number } | undefined;
  if (text.charCodeAt(i) === Ch.CloseObject) return { close: i, empty: true };
  for (;;) {
    if (text.charCodeAt(i) !== Ch.Quote) throw new TraceSpliceError(`member name expected at ${i}`);
    const keyEnd = skipString(text, i);
    const key = keyOf(text, i, keyEnd);
    i = skipWs(text, keyEnd);
    if (text.charCodeAt(i) !== Ch.Colon) throw new TraceSpliceError(`colon expected at ${i}`);
    const start = skipWs(text, i + 1);
    const end = skipValue(text, start);
    if (key === 'traces') traces = { start, end };
    i = skipWs(text, end);
    const c = text.charCodeAt(i);
    if (c === Ch.Comma) {
      i = skipWs(text, i + 1);
      continue;
    }
    if (c !== Ch.CloseObject) throw new TraceSpliceError(`comma or closing brace expected at ${i}`);
    if (skipWs(text, i + 1) !== text.length) throw new TraceSpliceError('text after the object');
    return traces === undefined ? { close: i, empty: false } : { close: i, empty: false, traces };
  }
}

/**
 * `text` with `trace` (the JSON text of one trace object) appended to its top-level `traces`. Throws
 * TraceSpliceError when `text` is not a JSON object.
 */
export function appendTrace(text: string, trace: string): string {
  const { close, empty, traces } = scan(text);
  if (traces === undefined) {
    const member = `"traces":[${trace}]`;
    return `${text.slice(0, close)}${empty ? '' : ','}${member}${text.slice(close)}`;
  }
  if (text.charCodeAt(traces.start) !== Ch.OpenArray) {
    return `${text.slice(0, traces.start)}[${trace}]${text.slice(traces.end)}`;
  }
  const closing = traces.end - 1; // the array's `]`
  const isEmpty = skipWs(text, traces.start + 1) === closing;
  return `${text.slice(0, closing)}${isEmpty ? '' : ','}${trace}${text.slice(closing)}`;
}

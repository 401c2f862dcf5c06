/**
 * Short-key compression (sdk-py compress_keys): clients may send `F`/`R`/`W`… instead of long names.
 * A station expands them on input (long names win when both are present) and never compresses output.
 */
const MESSAGE_KEYS: ReadonlyArray<readonly [string, string]> = [
  ['F', 'sender'],
  ['R', 'receiver'],
  ['W', 'time'],
  ['T', 'type'],
  ['G', 'group'],
  ['D', 'data'],
  ['V', 'signature'],
  ['M', 'meta'],
  ['P', 'visa'],
];

const CONTENT_KEYS: ReadonlyArray<readonly [string, string]> = [
  ['T', 'type'],
  ['N', 'sn'],
  ['W', 'time'],
  ['G', 'group'],
  ['C', 'command'],
];

const SYMMETRIC_KEY_KEYS: ReadonlyArray<readonly [string, string]> = [
  ['A', 'algorithm'],
  ['D', 'data'],
  ['I', 'iv'],
];

function expand(
  dict: Record<string, unknown>,
  table: ReadonlyArray<readonly [string, string]>,
): Record<string, unknown> {
  let out = dict;
  for (const [short, long] of table) {
    if (short in dict && !(long in dict)) {
      if (out === dict) out = { ...dict };
      out[long] = dict[short];
      delete out[short];
    }
  }
  return out;
}

/** Expand a message dictionary. `K` becomes `keys` when it is a map and legacy `key` when a string. */
export function expandMessageKeys(dict: Record<string, unknown>): Record<string, unknown> {
  let out = expand(dict, MESSAGE_KEYS);
  if ('K' in out && !('keys' in out) && !('key' in out)) {
    const value = out['K'];
    out = { ...out };
    delete out['K'];
    out[typeof value === 'string' ? 'key' : 'keys'] = value;
  }
  return out;
}

export function expandContentKeys(dict: Record<string, unknown>): Record<string, unknown> {
  return expand(dict, CONTENT_KEYS);
}

export function expandSymmetricKeyKeys(dict: Record<string, unknown>): Record<string, unknown> {
  return expand(dict, SYMMETRIC_KEY_KEYS);
}

/**
 * WebSocket delivery confirmations (reference-station.md §2.3, dimp-protocol.md §8): after receiving a
 * message the Dart client answers `ACK:{"time":<t>,"signature":"<sig>"}` with the values cut out of the
 * message's JSON text. The ACK is parsed as JSON; when it is not valid JSON, the reference heuristic is
 * applied (first occurrence of `"name"`, text up to the next `,` or `}`, quotes and spaces stripped).
 */

export const ACK_PREFIX = 'ACK:';

/** What an ACK (or an outgoing message) is matched by. */
export interface AckValues {
  readonly signature: string | undefined;
  readonly time: string | undefined;
}

/**
 * The reference `_fetchValue` heuristic: the value of the first `"name"` key in a JSON text, as text,
 * without quotes and surrounding spaces; undefined when absent or empty.
 */
export function fetchJsonValue(text: string, name: string): string | undefined {
  const tag = `"${name}"`;
  const at = text.indexOf(tag);
  if (at < 0) return undefined;
  const colon = text.indexOf(':', at + tag.length);
  if (colon < 0) return undefined;
  let end = colon + 1;
  while (end < text.length && text[end] !== ',' && text[end] !== '}') end += 1;
  const value = text
    .slice(colon + 1, end)
    .trim()
    .replace(/^"+|"+$/g, '')
    .trim();
  return value.length > 0 ? value : undefined;
}

/** A time value in a canonical text form (numbers as JavaScript prints them), for comparisons. */
export function normalizeAckTime(time: string | number | undefined): string | undefined {
  if (time === undefined) return undefined;
  const text = String(time).trim();
  if (text.length === 0) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? String(n) : text;
}

/** The signature and time of an ACK payload (the text after `ACK:`). */
export function parseAck(payload: string): AckValues {
  try {
    const parsed = JSON.parse(payload) as unknown;
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const { signature, time } = parsed as Record<string, unknown>;
      return {
        signature: typeof signature === 'string' && signature.length > 0 ? signature : undefined,
        time: normalizeAckTime(typeof time === 'number' || typeof time === 'string' ? time : undefined),
      };
    }
  } catch {
    // not JSON: fall through to the reference heuristic
  }
  return {
    signature: fetchJsonValue(payload, 'signature'),
    time: normalizeAckTime(fetchJsonValue(payload, 'time')),
  };
}

/** What an outgoing message will be matched by: the given key, else the values cut out of its JSON text. */
export function outgoingAckValues(body: string, ackKey?: { signature?: string; time?: string }): AckValues {
  if (ackKey?.signature !== undefined && ackKey.signature.length > 0) {
    return { signature: ackKey.signature, time: undefined };
  }
  if (ackKey?.time !== undefined && ackKey.time.length > 0) {
    return { signature: undefined, time: normalizeAckTime(ackKey.time) };
  }
  const signature = fetchJsonValue(body, 'signature');
  if (signature !== undefined) return { signature, time: undefined };
  return { signature: undefined, time: normalizeAckTime(fetchJsonValue(body, 'time')) };
}

/**
 * The delivery confirmation a WebSocket client sends for each message frame it receives
 * (reference-station.md §2.3; dart gate.dart `AckEnablePorter`): `ACK:{"time":<t>,"signature":"<sig>"}`,
 * with `<t>` and `<sig>` cut out of the received JSON text by the reference `_fetchValue` heuristic (first
 * occurrence of `"name"`, text up to the next `,` or `}`, quotes and spaces stripped).
 */

/** The reference `_fetchValue`: the text of the first `"name"` value in `text`, or undefined. */
export function fetchAckValue(text: string, name: string): string | undefined {
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

/** The ACK frame for a received message text; undefined when it has neither `signature` nor `time`. */
export function wsAckFor(text: string): string | undefined {
  const signature = fetchAckValue(text, 'signature');
  const time = fetchAckValue(text, 'time');
  if (signature === undefined && time === undefined) return undefined;
  return `ACK:{"time":${time ?? 0},"signature":"${signature ?? ''}"}`;
}

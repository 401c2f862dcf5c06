/**
 * The delivery confirmation a WebSocket client sends for each message frame it receives
 * (reference-station.md §2.3; dart gate.dart `AckEnablePorter`): `ACK:{"time":<t>,"signature":"<sig>"}`,
 * with `<t>` and `<sig>` cut out of the received JSON text by the reference `_fetchValue` heuristic (first
 * occurrence of `"name"`, text up to the next `,` or `}`, quotes and spaces stripped).
 */

import { fetchJsonValue } from '../transport/ws-ack.ts';

/** The reference `_fetchValue` (shared with the station's ACK matching, a pure text codec). */
export const fetchAckValue = fetchJsonValue;

/** The ACK frame for a received message text; undefined when it has neither `signature` nor `time`. */
export function wsAckFor(text: string): string | undefined {
  const signature = fetchAckValue(text, 'signature');
  const time = fetchAckValue(text, 'time');
  if (signature === undefined && time === undefined) return undefined;
  return `ACK:{"time":${time ?? 0},"signature":"${signature ?? ''}"}`;
}

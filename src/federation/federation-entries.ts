/**
 * The entries of a neighbour's queue stream (`federationQueue(neighbour)`): written by the dispatcher's
 * federation router, consumed by the bridge that owns the link to that neighbour.
 */
import { StreamEntryError } from '../bus/stream-entries.ts';

export interface ForwardEntry {
  readonly kind: 'forward';
  readonly neighbour: string;
  /** The reservation member (`<receiver> <sig>`), released when the neighbour acknowledged. */
  readonly member: string;
  /** The reliable message JSON text to send. */
  readonly json: string;
  /** Set for a roamed copy: the stored message of `user` marked delivered for `terminal` once acknowledged. */
  readonly roam?: { readonly user: string; readonly terminal: string; readonly sig: string };
}

export function decodeForward(payload: string): ForwardEntry {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    throw new StreamEntryError('federation entry is not JSON');
  }
  const v = value as Partial<ForwardEntry> | null;
  if (
    v === null ||
    typeof v !== 'object' ||
    v.kind !== 'forward' ||
    typeof v.neighbour !== 'string' ||
    typeof v.member !== 'string' ||
    typeof v.json !== 'string'
  )
    throw new StreamEntryError('not a federation forward entry');
  return v as ForwardEntry;
}

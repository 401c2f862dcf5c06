/**
 * The entries of a neighbour's queue stream (`federationQueue(neighbour)`): written by the dispatcher's
 * federation router, consumed by the bridge that owns the link to that neighbour.
 *
 * Fields: t=fwd  nb  mem  msg  [ru  rt  rs]
 *   nb: the neighbour; mem: the reservation member (`<receiver> <sig>`), released on the neighbour's OK;
 *   msg: the reliable message JSON text to send; ru/rt/rs: for a roamed copy, the user, terminal and
 *   signature of the stored message to mark delivered (delete) once the neighbour acknowledged it.
 */
import type { StreamFields } from '../bus/message-bus.ts';
import { StreamEntryError } from '../streams/station-streams.ts';

export interface ForwardEntry {
  readonly kind: 'forward';
  readonly neighbour: string;
  readonly member: string;
  readonly json: string;
  readonly roam?: { readonly user: string; readonly terminal: string; readonly sig: string };
}

export function forwardFields(entry: ForwardEntry): StreamFields {
  const fields: Record<string, string> = {
    t: 'fwd',
    nb: entry.neighbour,
    mem: entry.member,
    msg: entry.json,
  };
  if (entry.roam !== undefined) {
    fields['ru'] = entry.roam.user;
    fields['rt'] = entry.roam.terminal;
    fields['rs'] = entry.roam.sig;
  }
  return fields;
}

export function decodeForward(fields: StreamFields): ForwardEntry {
  const { t, nb, mem, msg, ru, rt, rs } = fields;
  if (t !== 'fwd' || nb === undefined || mem === undefined || msg === undefined)
    throw new StreamEntryError('not a federation forward entry');
  return {
    kind: 'forward',
    neighbour: nb,
    member: mem,
    json: msg,
    ...(ru !== undefined && rt !== undefined && rs !== undefined
      ? { roam: { user: ru, terminal: rt, sig: rs } }
      : {}),
  };
}

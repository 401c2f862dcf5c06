/** Checks and flattens the fields of a stream entry (shared by both bus implementations). */
import { BusError } from './bus-error.ts';
import { RESERVED_FIELDS } from './message-bus.ts';
import type { StreamFields } from './message-bus.ts';

/** Throws BUS_BAD_ARGUMENT for an entry without fields or with a field name the bus reserves. */
export function checkFields(fields: StreamFields): void {
  let count = 0;
  for (const name in fields) {
    if (RESERVED_FIELDS.has(name)) {
      throw new BusError(
        'BUS_BAD_ARGUMENT',
        `stream field name ${JSON.stringify(name)} is reserved by the bus`,
      );
    }
    if (typeof fields[name] !== 'string') {
      throw new BusError('BUS_BAD_ARGUMENT', `stream field ${JSON.stringify(name)} is not a string`);
    }
    count++;
  }
  if (count === 0) throw new BusError('BUS_BAD_ARGUMENT', 'a stream entry needs at least one field');
}

/** `[name, value, …]` with the order key last (`k`), as XADD takes them. */
export function flattenFields(fields: StreamFields, orderKey: string | undefined): string[] {
  const out: string[] = [];
  for (const name in fields) out.push(name, fields[name]!);
  if (orderKey !== undefined) out.push('k', orderKey);
  return out;
}

/**
 * Neighbour stations from the three sources an operator may use, pure and I/O-free:
 *  - `DIM_NEIGHBORS`: `ID=host:port` pairs separated by commas;
 *  - the config file's `neighbors`: `[{id, host, port}]`;
 *  - a stations JSON file in the reference's format (reference-station.md §1.2):
 *    `{name, ID: "gsp@everywhere", stations: [{host, port, id | ID | did, desc?}]}`.
 * Entries naming this station (by ID, or by host:port) are dropped by `withoutSelf`.
 */

export interface NeighbourSpec {
  /** The neighbour's station ID (naked ID string). */
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

export class NeighbourListError extends Error {
  readonly code = 'NEIGHBOURS_INVALID';
}

function toPort(value: unknown, where: string): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > 65535)
    throw new NeighbourListError(`${where}: port must be 1..65535, got ${JSON.stringify(value)}`);
  return n;
}

function toId(value: unknown, where: string): string {
  if (typeof value !== 'string' || !/^[^@/\s]{1,64}@[^@/\s]{1,128}$/.test(value))
    throw new NeighbourListError(`${where}: station ID must be name@address, got ${JSON.stringify(value)}`);
  return value;
}

/** `ID=host:port,ID=host:port` (IPv6 hosts in brackets: `ID=[::1]:9394`). */
export function parseNeighbourString(text: string, where = 'DIM_NEIGHBORS'): NeighbourSpec[] {
  const out: NeighbourSpec[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item.length === 0) continue;
    const m = /^([^=\s]+)=(\[[^\]]+\]|[^:\s]+):(\d+)$/.exec(item);
    if (m === null)
      throw new NeighbourListError(`${where}: expected ID=host:port, got ${JSON.stringify(item)}`);
    const host = (m[2] as string).replace(/^\[|\]$/g, '');
    out.push({ id: toId(m[1], where), host, port: toPort(m[3], where) });
  }
  return out;
}

/** Objects `{id|ID|did, host, port}` (the config file's `neighbors`, the stations file's `stations`). */
export function parseNeighbourObjects(value: unknown, where: string): NeighbourSpec[] {
  if (!Array.isArray(value)) throw new NeighbourListError(`${where}: expected a list of stations`);
  return value.map((item, i) => {
    const at = `${where}[${i}]`;
    if (item === null || typeof item !== 'object') throw new NeighbourListError(`${at}: not an object`);
    const o = item as Record<string, unknown>;
    const host = o['host'];
    if (typeof host !== 'string' || host.length === 0) throw new NeighbourListError(`${at}: host missing`);
    return { id: toId(o['id'] ?? o['ID'] ?? o['did'], at), host, port: toPort(o['port'] ?? 9394, at) };
  });
}

/** A stations file (reference format): `{stations: [...]}`, or a bare list. */
export function parseStationsFile(json: unknown, where: string): NeighbourSpec[] {
  if (Array.isArray(json)) return parseNeighbourObjects(json, where);
  if (json === null || typeof json !== 'object')
    throw new NeighbourListError(`${where}: expected {stations: [...]}`);
  return parseNeighbourObjects((json as Record<string, unknown>)['stations'] ?? [], `${where}.stations`);
}

/** Merge sources (later ones win per ID) and drop this station (by ID, or its own public host:port). */
export function mergeNeighbours(
  lists: readonly (readonly NeighbourSpec[])[],
  self?: { id?: string; host?: string; port?: number },
): NeighbourSpec[] {
  const byId = new Map<string, NeighbourSpec>();
  for (const list of lists) for (const n of list) byId.set(n.id, n);
  return [...byId.values()].filter(
    (n) => n.id !== self?.id && !(self?.host !== undefined && n.host === self.host && n.port === self.port),
  );
}

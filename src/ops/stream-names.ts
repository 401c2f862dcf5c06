/**
 * The station's stream names as operators meet them: every stream there is (the shards of the inbound and
 * store streams, one delivery stream per known gateway), their kind, and short names (`inbound:0`,
 * `store:2`, `deliver:gateway-1`, `…:dead`) resolved to full keys. Names come from RedisKeys only.
 */
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { StreamKind } from './station-inspector.ts';
import { InspectError } from './station-inspector.ts';

/** Every stream of a station with `shards` shards and these gateways, inbound first. */
export function knownStreams(keys: RedisKeys, shards: number, gatewayIds: Iterable<string>): string[] {
  const out: string[] = [];
  for (let shard = 0; shard < shards; shard++) out.push(keys.inboundStream(shard));
  for (let shard = 0; shard < shards; shard++) out.push(keys.storeStream(shard));
  for (const id of [...new Set(gatewayIds)].sort()) out.push(keys.deliveryStream(id));
  return out;
}

export function streamKind(keys: RedisKeys, stream: string): StreamKind {
  const p = keys.prefix;
  if (stream.startsWith(`${p}inbound:`)) return 'inbound';
  if (stream.startsWith(`${p}store:`)) return 'store';
  if (stream.startsWith(`${p}deliver:`)) return 'deliver';
  return 'other';
}

/** Whether `stream` is a dead-letter stream. */
export function isDeadLetterStream(keys: RedisKeys, stream: string): boolean {
  return stream === keys.deadLetterStream(stream.slice(0, -':dead'.length)) && stream.endsWith(':dead');
}

/** A full stream key from a full key or a short name: `inbound:N`, `store:N`, `deliver:GATEWAY` (+ `:dead`). */
export function resolveStreamName(keys: RedisKeys, name: string): string {
  if (name.startsWith(keys.prefix)) return name;
  const dead = name.endsWith(':dead');
  const base = dead ? name.slice(0, -':dead'.length) : name;
  const colon = base.indexOf(':');
  const kind = colon < 0 ? base : base.slice(0, colon);
  const arg = colon < 0 ? '' : base.slice(colon + 1);
  let full: string;
  if ((kind === 'inbound' || kind === 'store') && /^\d+$/.test(arg)) {
    full = kind === 'inbound' ? keys.inboundStream(Number(arg)) : keys.storeStream(Number(arg));
  } else if ((kind === 'deliver' || kind === 'delivery') && arg.length > 0) {
    full = keys.deliveryStream(arg);
  } else {
    throw new InspectError(
      'BAD_ARGUMENT',
      `unknown stream ${JSON.stringify(name)}: use a full key or inbound:N, store:N, deliver:GATEWAY (optionally :dead)`,
    );
  }
  return dead ? keys.deadLetterStream(full) : full;
}

/** The short name of a full stream key (for tables). */
export function shortStreamName(keys: RedisKeys, stream: string): string {
  return stream.startsWith(keys.prefix) ? stream.slice(keys.prefix.length).replace(/[{}]/g, '') : stream;
}

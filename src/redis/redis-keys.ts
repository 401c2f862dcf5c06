/**
 * Every Redis key and stream name the station uses, in one place, under a configurable prefix (`dim:` by
 * default) so that several stations (or test runs) can share one Redis. Pure: no I/O.
 *
 * Hash tags (`{…}`) keep the keys that one Lua script touches in one cluster slot:
 *  - a stream and its dead-letter stream (`<stream>:dead` keeps the stream's tag);
 *  - a user's inbox, its entries and its per-terminal delivered marks (tag = the user);
 *  - a user's sessions (tag = the user);
 *  - a gateway's heartbeat, session index and delivery stream (tag = the gateway ID);
 *  - a hash and its companion `…:times` hash (documents, logins): the companion (`<prefix>{<hash key>}:times`)
 *    takes the whole key of the hash, which has no tag, as its tag, so both hash to the same slot (and
 *    stored documents and logins keep their keys).
 */

export interface RedisKeys {
  readonly prefix: string;

  // Streams
  /** Inbound shard: gateways → dispatcher. */
  inboundStream(shard: number): string;
  /** The inbound shard of a receiver (naked ID string): `shardOf(receiver, shards)`. */
  inboundShardOf(receiverNakedId: string, shards: number): number;
  /** One delivery stream per gateway: dispatcher/storage → that gateway. */
  deliveryStream(gatewayId: string): string;
  /** Store shard: dispatcher/gateways → storage worker. */
  storeStream(shard: number): string;
  /** Where a stream's entries go after too many failed deliveries (`<stream>:dead`). */
  deadLetterStream(stream: string): string;

  // Session registry
  /** Hash: a user's sessions, `<gatewayId>/<connId>` → the record (see redis-session-registry.ts). */
  userSessions(user: string): string;
  /** String with a TTL: a gateway's liveness. */
  gatewayHeartbeat(gatewayId: string): string;
  /** Set: the known gateways. */
  gateways(): string;

  // Storage
  /** Sorted set: a user's stored messages (member = signature, score = time). */
  inbox(user: string): string;
  /** String: one stored message (reliable message JSON). */
  inboxEntry(user: string, sig: string): string;
  /** Set: the signatures a terminal of the user has acknowledged. */
  inboxDelivered(user: string, terminal: string): string;
  meta(id: string): string;
  documents(id: string): string;
  /** The user's last login command (and its message). */
  login(id: string): string;
  blockList(id: string): string;
  muteList(id: string): string;

  // Added for the Redis stores and registry (src/storage/redis-*.ts, src/registry/redis-*.ts)
  /** Hash: a gateway's connections → their user (dropped when its heartbeat expires). */
  gatewaySessions(gatewayId: string): string;
  /** Sorted set: a user's stored messages by store time (member = the inbox member, score = storedAt). */
  inboxByStoredAt(user: string): string;
  /** Set: the terminals a user is known to use (their deliveries are awaited). */
  inboxTerminals(user: string): string;
  /** Set: the terminals that have an `inboxDelivered` set (to clear their marks when an entry goes). */
  inboxMarked(user: string): string;
  /** Hash: document slot (`type/terminal`) → the stored document's time (seconds). */
  documentTimes(id: string): string;
  /** Hash: terminal ('' for none) → the stored login's time (seconds). */
  loginTimes(id: string): string;
}

/** FNV-1a (32-bit) of the UTF-8 bytes of `text`. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/**
 * The shard (0 … shards-1) of a key (a receiver's naked ID string): FNV-1a of its UTF-8 bytes modulo
 * `shards`. Stable across processes, versions and platforms: changing it re-routes every receiver.
 */
export function shardOf(key: string, shards: number): number {
  if (!Number.isSafeInteger(shards) || shards < 1) {
    throw new RangeError(`shards must be a positive integer, got ${shards}`);
  }
  return fnv1a32(key) % shards;
}

function checkShard(shard: number): number {
  if (!Number.isSafeInteger(shard) || shard < 0) {
    throw new RangeError(`shard must be a non-negative integer, got ${shard}`);
  }
  return shard;
}

export function createRedisKeys(prefix = 'dim:'): RedisKeys {
  const p = prefix;
  return {
    prefix: p,

    inboundStream: (shard) => `${p}inbound:{${checkShard(shard)}}`,
    inboundShardOf: (receiverNakedId, shards) => shardOf(receiverNakedId, shards),
    deliveryStream: (gatewayId) => `${p}deliver:{${gatewayId}}`,
    storeStream: (shard) => `${p}store:{${checkShard(shard)}}`,
    deadLetterStream: (stream) => `${stream}:dead`,

    userSessions: (user) => `${p}sessions:{${user}}`,
    gatewayHeartbeat: (gatewayId) => `${p}gateway:{${gatewayId}}:alive`,
    gateways: () => `${p}gateways`,

    inbox: (user) => `${p}inbox:{${user}}`,
    inboxEntry: (user, sig) => `${p}inbox:{${user}}:msg:${sig}`,
    inboxDelivered: (user, terminal) => `${p}inbox:{${user}}:delivered:${terminal}`,
    meta: (id) => `${p}meta:${id}`,
    documents: (id) => `${p}documents:${id}`,
    login: (id) => `${p}login:${id}`,
    blockList: (id) => `${p}block:${id}`,
    muteList: (id) => `${p}mute:${id}`,

    gatewaySessions: (gatewayId) => `${p}gateway:{${gatewayId}}:sessions`,
    inboxByStoredAt: (user) => `${p}inbox:{${user}}:stored`,
    inboxTerminals: (user) => `${p}inbox:{${user}}:terminals`,
    inboxMarked: (user) => `${p}inbox:{${user}}:marked`,
    documentTimes: (id) => `${p}{${p}documents:${id}}:times`,
    loginTimes: (id) => `${p}{${p}login:${id}}:times`,
  };
}

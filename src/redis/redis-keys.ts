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
  /**
   * String with a TTL: a random value replaced whenever a session of the user is bound or becomes active
   * (SessionRegistry.snapshotOf); the inbox put compares it (same slot as the user's sessions and inbox).
   */
  sessionsEpoch(user: string): string;
  /** String with a TTL: a gateway's liveness. */
  gatewayHeartbeat(gatewayId: string): string;
  /** Set: the known gateways. */
  gateways(): string;

  // Storage
  /** Sorted set: a user's stored messages (member = cursor `<time>:<storedAt>:<signature>`, score 0). */
  inbox(user: string): string;
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
  // The inbox's entries, in per-user hashes keyed by signature (src/storage/redis-inbox-store.ts)
  /** Hash: signature → the entry's cursor (its `inbox` member; dedup). */
  inboxCursors(user: string): string;
  /** Hash: signature → the message text, as relayed. */
  inboxMessages(user: string): string;
  /** Hash: signature → the one terminal the message is for (messages to `ID/terminal` only). */
  inboxTargets(user: string): string;
  /** Hash: signature → JSON array of the terminals that have had it. */
  inboxDelivered(user: string): string;
  /** Hash: document slot (`type/terminal`) → the stored document's time (seconds). */
  documentTimes(id: string): string;
  /** Hash: terminal ('' for none) → the stored login's time (seconds). */
  loginTimes(id: string): string;

  // Push notifications (src/push/): every per-user key carries the user as hash tag, so that the push
  // scripts (push-note.lua, push-take.lua) touch one cluster slot.
  /** String: the user's device tokens (JSON list, newest first). */
  pushDevices(user: string): string;
  /** String with a TTL: marks a message (signature digest) as noted for push (dispatcher retries). */
  pushSeen(user: string, sigDigest: string): string;
  /** List: messages waiting for the user's next notification (coalescing window). */
  pushPending(user: string): string;
  /** String: the user's badge count (unread messages since the last login / report online). */
  pushBadge(user: string): string;
  /** Hash: the batch a push job took, and which devices it has notified. */
  pushBatch(user: string, jobId: string): string;
  /** BullMQ key prefix of the push queue: one hash tag, so every queue key is in one cluster slot. */
  pushQueuePrefix(): string;
  // Federation (src/federation): neighbour queues and their bookkeeping, one hash tag per neighbour
  /** Stream: messages waiting to go to a neighbour station (consumed by the bridge that owns its link). */
  federationQueue(neighbour: string): string;
  /** Sorted set: signatures queued for a neighbour (member = `<receiver> <sig>`, score = queued at, ms). */
  federationQueued(neighbour: string): string;
  /** String with a TTL: the bridge process that owns the link to a neighbour. */
  federationLinkOwner(neighbour: string): string;
  /** Hash: neighbour → its link state JSON (inspection). */
  federationLinks(): string;
  /** String with a TTL: a broadcast (or neighbour query) already handled here (dedup across the mesh). */
  federationSeen(key: string): string;

  // Operations (src/ops/): processes announce their ops server for dimctl and dashboards
  /** Set: the names of the processes that announced themselves. */
  opsInstances(): string;
  /** String (JSON InstanceInfo) with a TTL: one process's announcement. */
  opsInstance(name: string): string;

  // Change signals (src/redis/change-signal.ts)
  /** Pub/sub channel: `<topic> <key>` after a write that other processes may have cached. */
  changes(): string;
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
    sessionsEpoch: (user) => `${p}sessions:{${user}}:epoch`,
    gatewayHeartbeat: (gatewayId) => `${p}gateway:{${gatewayId}}:alive`,
    gateways: () => `${p}gateways`,

    inbox: (user) => `${p}inbox:{${user}}`,
    meta: (id) => `${p}meta:${id}`,
    documents: (id) => `${p}documents:${id}`,
    login: (id) => `${p}login:${id}`,
    blockList: (id) => `${p}block:${id}`,
    muteList: (id) => `${p}mute:${id}`,

    gatewaySessions: (gatewayId) => `${p}gateway:{${gatewayId}}:sessions`,
    inboxByStoredAt: (user) => `${p}inbox:{${user}}:stored`,
    inboxTerminals: (user) => `${p}inbox:{${user}}:terminals`,
    inboxCursors: (user) => `${p}inbox:{${user}}:cursors`,
    inboxMessages: (user) => `${p}inbox:{${user}}:messages`,
    inboxTargets: (user) => `${p}inbox:{${user}}:targets`,
    inboxDelivered: (user) => `${p}inbox:{${user}}:delivered`,
    documentTimes: (id) => `${p}{${p}documents:${id}}:times`,
    loginTimes: (id) => `${p}{${p}login:${id}}:times`,

    pushDevices: (user) => `${p}push:{${user}}:devices`,
    pushSeen: (user, sigDigest) => `${p}push:{${user}}:seen:${sigDigest}`,
    pushPending: (user) => `${p}push:{${user}}:pending`,
    pushBadge: (user) => `${p}push:{${user}}:badge`,
    pushBatch: (user, jobId) => `${p}push:{${user}}:batch:${jobId}`,
    pushQueuePrefix: () => `{${p}push}`,
    federationQueue: (neighbour) => `${p}fed:{${neighbour}}:queue`,
    federationQueued: (neighbour) => `${p}fed:{${neighbour}}:queued`,
    federationLinkOwner: (neighbour) => `${p}fed:{${neighbour}}:owner`,
    federationLinks: () => `${p}fed:links`,
    federationSeen: (key) => `${p}fed:seen:${key}`,

    opsInstances: () => `${p}ops:instances`,
    opsInstance: (name) => `${p}ops:instance:${name}`,
    changes: () => `${p}changes`,
  };
}

/**
 * The shared state a station runs on: the bus, the session registry and the stores. Two engines provide
 * it: Redis (several processes, horizontal scaling) and memory (one process, nothing kept across restarts).
 */
import type { MessageBus } from '../bus/message-bus.ts';
import type { ChangeFeed } from '../redis/change-signal.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { SessionRegistry } from '../registry/session-registry.ts';
import type { AccountStore } from '../storage/account-store.ts';
import type { IdentityStore } from '../storage/identity-store.ts';
import type { InboxStore } from '../storage/inbox-store.ts';

export interface Backend {
  readonly kind: 'redis' | 'memory';
  readonly keys: RedisKeys;
  readonly bus: MessageBus;
  readonly registry: SessionRegistry;
  readonly identities: IdentityStore;
  readonly accounts: AccountStore;
  readonly inbox: InboxStore;
  /** Whether a gateway is alive (heartbeat seen recently). */
  isGatewayAlive(gatewayId: string): Promise<boolean>;
  /** Announce that this gateway is alive; call periodically. */
  heartbeat(gatewayId: string): Promise<void>;
  /**
   * Signals of changed sessions and block lists, on a connection of its own (the caller closes it); only
   * where other processes change them (Redis), so that what is looked up may be cached.
   */
  watchChanges?(): ChangeFeed;
  close(): Promise<void>;
}

/**
 * The push job handler: takes the user's coalesced batch (the same batch again when the job is retried or
 * recovered after a crash), loads the user's devices and notifies every eligible device in parallel
 * through its provider (APNs for iOS, FCM for Firebase Android tokens, the webhook for other channels or
 * when the native provider is not configured), each provider behind its own rate limiter. The devices
 * notified or given up on are recorded in the batch in one write after the sends, so a retry sends only
 * what failed; a token the provider says is gone is deleted. Throws PushRetryError (with the longest
 * Retry-After) while any device remains.
 */
import type { Logger } from 'pino';
import { silentLogger } from '../ops/logger.ts';
import { parseId } from '../protocol/mkm/identifier.ts';
import type { Document } from '../protocol/mkm/document.ts';
import type { IdentityDirectory } from '../storage/identity-directory.ts';
import type { DeviceStore } from './device-store.ts';
import { isExpired, maskToken } from './device-token.ts';
import type { DeviceToken } from './device-token.ts';
import { buildNotification } from './notification.ts';
import type { Names } from './notification.ts';
import type { ProviderName, PushProvider, SendResult } from './push-provider.ts';
import { deviceKey, PushRetryError } from './push-queue.ts';
import type { PushJob } from './push-queue.ts';
import type { PushState } from './push-state.ts';
import type { RateLimiter } from './rate-limiter.ts';

const DOCUMENT_CACHE_MS = 30_000;
const DOCUMENT_CACHE_SIZE = 10_000;

export interface PushProviders {
  readonly apns?: PushProvider | undefined;
  readonly fcm?: PushProvider | undefined;
  readonly webhook?: PushProvider | undefined;
}

/** What happened to one device (tests, benchmarks, metrics). */
export interface DeliveryEvent {
  readonly jobId: string;
  readonly user: string;
  readonly provider: ProviderName;
  readonly result: SendResult;
  /** Newest message of the notification (ms). */
  readonly messageTime: number;
  readonly count: number;
}

export interface PushSenderOptions {
  readonly state: PushState;
  readonly devices: DeviceStore;
  readonly directory: IdentityDirectory;
  readonly providers: PushProviders;
  readonly limiters?: Partial<Record<ProviderName, RateLimiter>>;
  readonly logger?: Logger;
  readonly now?: () => number;
  readonly onDelivery?: (event: DeliveryEvent) => void;
}

/** Which configured provider serves a device, if any. */
export function providerFor(providers: PushProviders, device: DeviceToken): PushProvider | undefined {
  if (device.platform === 'ios' && device.channel === 'apns') return providers.apns ?? providers.webhook;
  if (device.platform === 'android' && device.channel === 'firebase')
    return providers.fcm ?? providers.webhook;
  return providers.webhook;
}

export class PushSender {
  readonly #o: PushSenderOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #docs = new Map<string, { docs: Document[]; until: number }>();

  constructor(options: PushSenderOptions) {
    this.#o = options;
    this.#log = (options.logger ?? silentLogger).child({ module: 'push-sender' });
    this.#now = options.now ?? Date.now;
  }

  /** The job handler (PushJobHandler). */
  readonly handle = async (jobId: string, job: PushJob, attempt: number): Promise<void> => {
    const { state } = this.#o;
    const user = job.user;
    const batch = await state.take(user, jobId);
    if (batch === undefined || batch.done || batch.items.length === 0) return;
    const now = this.#now();
    const devices = new Map<string, DeviceToken>();
    for (const device of batch.devices ?? (await this.#o.devices.list(user)))
      if (!isExpired(device, now)) devices.set(deviceKey(device.token), device);
    const wanted = new Set(batch.items.flatMap((item) => item.devices));
    const targets = [...wanted].filter((key) => !batch.settled.has(key) && devices.has(key));
    if (targets.length === 0) {
      await state.settle(user, jobId, [], true);
      return;
    }
    const names = await this.#names(
      user,
      batch.items.map((i) => i.sender),
      batch.items.map((i) => i.group),
    );
    const results = await Promise.all(
      targets.map(async (key) => {
        const device = devices.get(key) as DeviceToken;
        const items = batch.items.filter((item) => item.devices.includes(key));
        const notification = buildNotification(user, items, batch.badge, names);
        const provider = providerFor(this.#o.providers, device);
        if (provider === undefined) {
          this.#log.debug(
            { code: 'PUSH_NO_PROVIDER', platform: device.platform, channel: device.channel },
            'no provider configured for a device',
          );
          return key;
        }
        await this.#o.limiters?.[provider.name]?.acquire();
        const result = await provider.send({
          device,
          notification,
          receiver: user,
          deliveryId: `${jobId}.${key}`,
        });
        this.#o.onDelivery?.({
          jobId,
          user,
          provider: provider.name,
          result,
          messageTime: notification.time,
          count: notification.count,
        });
        if (result.kind === 'retry') return result;
        if (result.kind === 'sent') return key;
        if (result.kind === 'unregistered') {
          const removed = await this.#o.devices.remove(user, device.token, result.timestamp);
          this.#log.info(
            {
              code: 'PUSH_TOKEN_REMOVED',
              user,
              token: maskToken(device.token),
              reason: result.reason,
              removed,
            },
            'the provider says the token is gone',
          );
        } else if (result.kind === 'rejected') {
          this.#log.warn(
            {
              code: 'PUSH_REJECTED',
              user,
              provider: provider.name,
              token: maskToken(device.token),
              reason: result.reason,
            },
            'notification rejected; not retried',
          );
        }
        return key;
      }),
    );
    const settled = results.filter((r): r is string => typeof r === 'string');
    const retries = results.filter((r): r is Extract<SendResult, { kind: 'retry' }> => typeof r === 'object');
    // one write: the devices done (a retry skips them) and, when nothing is left, the job
    await state.settle(user, jobId, settled, retries.length === 0);
    if (retries.length > 0) {
      const after = Math.max(0, ...retries.map((r) => r.retryAfterMs ?? 0));
      this.#log.info(
        {
          code: 'PUSH_RETRY',
          user,
          jobId,
          attempt,
          devices: retries.length,
          reasons: retries.map((r) => r.reason),
        },
        'some devices will be retried',
      );
      throw new PushRetryError(
        `${retries.length} device(s) to retry: ${retries.map((r) => r.reason).join(', ')}`,
        after > 0 ? after : undefined,
      );
    }
  };

  /** Documents of an ID, cached briefly (names and languages change rarely; a job names few IDs). */
  async #documents(id: string): Promise<Document[]> {
    const now = this.#now();
    const cached = this.#docs.get(id);
    if (cached !== undefined && cached.until > now) return cached.docs;
    let docs: Document[] = [];
    try {
      docs = await this.#o.directory.documents(parseId(id));
    } catch {
      docs = [];
    }
    if (this.#docs.size >= DOCUMENT_CACHE_SIZE) this.#docs.clear();
    this.#docs.set(id, { docs, until: now + DOCUMENT_CACHE_MS });
    return docs;
  }

  async #names(
    receiver: string,
    senders: readonly string[],
    groups: readonly (string | undefined)[],
  ): Promise<Names> {
    const ids = [...new Set([receiver, ...senders, ...groups.filter((g): g is string => g !== undefined)])];
    const docs = new Map<string, Document[]>();
    await Promise.all(ids.map(async (id) => docs.set(id, await this.#documents(id))));
    const property = (
      id: string,
      read: (p: Readonly<Record<string, unknown>>) => unknown,
    ): string | undefined => {
      const list = (docs.get(id) ?? []).slice().sort((a, b) => b.time - a.time);
      for (const doc of list) {
        const value = read(doc.properties);
        if (typeof value === 'string' && value.length > 0) return value;
      }
      return undefined;
    };
    const nested = (p: Readonly<Record<string, unknown>>, a: string, b: string): unknown => {
      const inner = p[a];
      return inner !== null && typeof inner === 'object' ? (inner as Record<string, unknown>)[b] : undefined;
    };
    return {
      nameOf: (id) => property(id, (p) => p['name']),
      avatarOf: (id) => property(id, (p) => p['avatar']),
      language: property(receiver, (p) => nested(p, 'app', 'language') ?? nested(p, 'sys', 'locale')),
    };
  }
}

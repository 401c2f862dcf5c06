/**
 * Push notifications composed for one station process. Every process that runs the dispatcher keeps device
 * tokens and badges (DeviceRegistrar) and, when a provider is configured, enqueues push jobs (PushTrigger);
 * a process running the push role consumes them (PushSender). The Redis engine queues on BullMQ; the
 * embedded engine runs the same handler and retry policy on an in-process queue.
 *
 * Credential files are read here, once, at startup; their contents and paths are never logged.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ConfigError } from '../config/load-config.ts';
import type { PushConfig } from '../config/station-config.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { AccountStore } from '../storage/account-store.ts';
import type { IdentityDirectory } from '../storage/identity-directory.ts';
import { DeviceRegistrar } from './device-registrar.ts';
import type { DeviceStore } from './device-store.ts';
import { MemoryDeviceStore } from './memory-device-store.ts';
import { MemoryPushState } from './memory-push-state.ts';
import type { ProviderName } from './push-provider.ts';
import type { PushJobHandler, PushQueue, RetryPolicy } from './push-queue.ts';
import type { DeliveryEvent, PushProviders } from './push-sender.ts';
import type { PushState } from './push-state.ts';
import { PushTrigger } from './push-trigger.ts';
import type { PushHook } from './push-trigger.ts';
import { RateLimiter } from './rate-limiter.ts';
import { RedisDeviceStore } from './redis-device-store.ts';
import { RedisPushState } from './redis-push-state.ts';

function readSecretFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    // the path is the operator's own configuration; the content is never echoed
    throw new ConfigError(`cannot read the ${what} file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** The providers the configuration turns on (reads the credential files; loads only those clients). */
export async function createProviders(config: PushConfig, logger: Logger): Promise<PushProviders> {
  const ca = config.caFile === undefined ? undefined : readSecretFile(config.caFile, 'push CA');
  const { HttpClient } = await import('./http-request.ts');
  let apns: PushProviders['apns'];
  if (config.apns !== undefined) {
    const a = config.apns;
    const [{ ApnsProvider }, { ApnsProviderToken }] = await Promise.all([
      import('./apns-provider.ts'),
      import('./apns-token.ts'),
    ]);
    let token: InstanceType<typeof ApnsProviderToken>;
    try {
      token = new ApnsProviderToken(readSecretFile(a.keyFile, 'APNs key'), a.keyId, a.teamId);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`APNs key: ${(err as Error).message}`);
    }
    apns = new ApnsProvider({
      token,
      topic: a.topic,
      sandbox: a.sandbox,
      ...(a.productionUrl === undefined ? {} : { productionUrl: a.productionUrl }),
      ...(a.sandboxUrl === undefined ? {} : { sandboxUrl: a.sandboxUrl }),
      ca,
      logger,
    });
  }
  let fcm: PushProviders['fcm'];
  if (config.fcm !== undefined) {
    const f = config.fcm;
    const [{ FcmProvider }, { GoogleAccessToken, parseServiceAccount }] = await Promise.all([
      import('./fcm-provider.ts'),
      import('./google-oauth.ts'),
    ]);
    let account;
    try {
      account = parseServiceAccount(readSecretFile(f.serviceAccountFile, 'FCM service account'));
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`FCM service account: ${(err as Error).message}`);
    }
    const http = new HttpClient({ ca });
    fcm = new FcmProvider({
      projectId: account.projectId,
      accessToken: new GoogleAccessToken(
        account,
        http,
        f.tokenUri === undefined ? {} : { tokenUri: f.tokenUri },
      ),
      http,
      ...(f.url === undefined ? {} : { url: f.url }),
      channelId: f.channelId,
      logger,
    });
  }
  let webhook: PushProviders['webhook'];
  if (config.webhook !== undefined) {
    const { WebhookProvider } = await import('./webhook-provider.ts');
    webhook = new WebhookProvider({
      url: config.webhook.url,
      secret: config.webhook.secret,
      http: new HttpClient({ ca }),
      logger,
    });
  }
  return { apns, fcm, webhook };
}

export function retryPolicyOf(config: PushConfig): RetryPolicy {
  return {
    attempts: config.attempts,
    backoffMs: config.backoffMs,
    maxBackoffMs: config.maxBackoffMs,
    jitter: 0.25,
  };
}

export interface PushServiceOptions {
  readonly config: PushConfig;
  readonly engine:
    { readonly kind: 'memory' } | { readonly kind: 'redis'; readonly redis: Redis; readonly url: string };
  readonly keys: RedisKeys;
  readonly accounts: AccountStore;
  readonly directory: IdentityDirectory;
  /** Enqueue pushes (the process runs the dispatcher). */
  readonly produce: boolean;
  /** Send pushes (the process runs the push role; always with the embedded engine). */
  readonly consume: boolean;
  readonly logger: Logger;
  /** Providers to use instead of the configured ones (tests, benchmarks). */
  readonly providers?: PushProviders;
  readonly onDelivery?: (event: DeliveryEvent) => void;
}

export class PushService {
  readonly devices: DeviceStore;
  readonly state: PushState;
  readonly registrar: DeviceRegistrar;
  /** The dispatcher's hook; undefined when no provider is configured or this process does not dispatch. */
  hook: PushHook | undefined;
  providers: PushProviders = {};
  #queue: PushQueue | undefined;
  #worker: { start(): void; close(): Promise<void> } | undefined;
  readonly #log: Logger;
  #closing: Promise<void> | undefined;

  /**
   * Token storage and badges always; the queue, the worker and the providers only when a provider is
   * configured (BullMQ and the provider clients are loaded then, so processes without push start as fast
   * as before).
   */
  static async create(o: PushServiceOptions): Promise<PushService> {
    const service = new PushService(o);
    await service.#setUp(o);
    return service;
  }

  private constructor(o: PushServiceOptions) {
    this.#log = o.logger.child({ module: 'push' });
    if (o.engine.kind === 'redis') {
      this.devices = new RedisDeviceStore(o.engine.redis, o.keys, { logger: o.logger });
      this.state = new RedisPushState(o.engine.redis, o.keys);
    } else {
      this.devices = new MemoryDeviceStore();
      this.state = new MemoryPushState();
    }
    this.registrar = new DeviceRegistrar(this.devices, this.state, o.logger);
  }

  async #setUp(o: PushServiceOptions): Promise<void> {
    const active =
      o.providers !== undefined ||
      o.config.apns !== undefined ||
      o.config.fcm !== undefined ||
      o.config.webhook !== undefined;
    if (!active) {
      if (o.produce || o.consume)
        this.#log.info({ code: 'PUSH_OFF' }, 'push notifications off: no APNs, FCM or webhook configured');
      return;
    }
    const sends = o.consume || o.engine.kind === 'memory';
    if (sends) this.providers = o.providers ?? (await createProviders(o.config, o.logger));
    const policy = retryPolicyOf(o.config);
    const handler = sends ? await this.#handler(o) : undefined;
    if (o.engine.kind === 'memory') {
      const { InProcessPushQueue } = await import('./in-process-push-queue.ts');
      this.#queue = new InProcessPushQueue({
        handler: handler as PushJobHandler,
        policy,
        concurrency: o.config.concurrency,
        logger: o.logger,
      });
    } else {
      const { BullPushQueue, BullPushWorker } = await import('./bullmq-push-queue.ts');
      if (o.produce)
        this.#queue = new BullPushQueue({ url: o.engine.url, keys: o.keys, policy, logger: o.logger });
      if (o.consume)
        this.#worker = new BullPushWorker({
          url: o.engine.url,
          keys: o.keys,
          policy,
          logger: o.logger,
          handler: handler as PushJobHandler,
          concurrency: o.config.concurrency,
          lockDurationMs: o.config.lockDurationMs,
        });
    }
    this.hook =
      o.produce && this.#queue !== undefined
        ? new PushTrigger({
            devices: this.devices,
            state: this.state,
            queue: this.#queue,
            accounts: o.accounts,
            coalesceMs: o.config.coalesceMs,
            logger: o.logger,
          })
        : undefined;
    if (sends)
      this.#log.info(
        {
          code: 'PUSH_PROVIDERS',
          apns:
            this.providers.apns === undefined
              ? 'off'
              : o.config.apns?.sandbox
                ? 'on (sandbox default)'
                : 'on',
          fcm: this.providers.fcm === undefined ? 'off' : 'on',
          webhook: this.providers.webhook === undefined ? 'off' : `on (${safeHost(o.config.webhook?.url)})`,
          queue: o.engine.kind === 'memory' ? 'in-process' : 'bullmq',
          coalesceMs: o.config.coalesceMs,
          concurrency: o.config.concurrency,
          attempts: o.config.attempts,
        },
        'push notifications on',
      );
  }

  async #handler(o: PushServiceOptions): Promise<PushJobHandler> {
    const { PushSender } = await import('./push-sender.ts');
    const limiters: Partial<Record<ProviderName, RateLimiter>> = {};
    for (const name of ['apns', 'fcm', 'webhook'] as const)
      if (this.providers[name] !== undefined) limiters[name] = new RateLimiter(o.config.ratePerSecond);
    return new PushSender({
      state: this.state,
      devices: this.devices,
      directory: o.directory,
      providers: this.providers,
      limiters,
      logger: o.logger,
      ...(o.onDelivery === undefined ? {} : { onDelivery: o.onDelivery }),
    }).handle;
  }

  start(): void {
    this.#worker?.start();
  }

  /** Stop producing and consuming; running jobs finish; connections close. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#worker?.close();
      await this.#queue?.close();
      await Promise.all(
        [this.providers.apns, this.providers.fcm, this.providers.webhook].map((p) => p?.close()),
      );
      await this.devices.close();
      await this.state.close();
    })();
    return this.#closing;
  }
}

function safeHost(url: string | undefined): string {
  try {
    return url === undefined ? '' : new URL(url).host;
  } catch {
    return '';
  }
}

/**
 * A StationListener on 127.0.0.1:0 with a recording handler on every channel: packages (with their ack),
 * closes, and an optional reaction per package. `stop()` closes the listener and every test client.
 */
import type { ChannelHandler, ClientChannel, CloseInfo } from '../../../src/transport/client-channel.ts';
import { StationListener, type StationListenerOptions } from '../../../src/transport/listener.ts';
import { until } from './wait.ts';

export interface ReceivedPackage {
  readonly channel: ClientChannel;
  readonly body: Buffer;
  readonly ack: () => void;
}

export interface HarnessOptions extends Partial<Omit<StationListenerOptions, 'onChannel'>> {
  /** Call ack() as soon as a package arrives. Default false. */
  readonly autoAck?: boolean;
  /** Called for every package after it was recorded. */
  readonly onPackage?: (pkg: ReceivedPackage) => void;
  /** Delay before the handler is installed (ms); default: installed at once. */
  readonly handlerDelay?: number;
}

export class Harness {
  readonly listener: StationListener;
  readonly channels: ClientChannel[] = [];
  readonly packages: ReceivedPackage[] = [];
  readonly closes = new Map<string, CloseInfo[]>();
  readonly #cleanups: (() => void)[] = [];
  port = 0;

  constructor(options: HarnessOptions) {
    this.listener = new StationListener({
      host: '127.0.0.1',
      port: 0,
      ...options,
      onChannel: (channel) => {
        this.channels.push(channel);
        const handler: ChannelHandler = {
          onPackage: (body, ack) => {
            const pkg = { channel, body, ack };
            this.packages.push(pkg);
            if (options.autoAck === true) ack();
            options.onPackage?.(pkg);
          },
          onClose: (info) => {
            const list = this.closes.get(channel.id) ?? [];
            list.push(info);
            this.closes.set(channel.id, list);
          },
        };
        if (options.handlerDelay === undefined) channel.setHandler(handler);
        else setTimeout(() => channel.setHandler(handler), options.handlerDelay);
      },
    });
  }

  static async start(options: HarnessOptions = {}): Promise<Harness> {
    const harness = new Harness(options);
    harness.port = (await harness.listener.listen()).port;
    return harness;
  }

  /** Registers something to clean up in stop() (a client socket…). */
  track<T extends { destroy(): void }>(thing: T): T {
    this.#cleanups.push(() => thing.destroy());
    return thing;
  }

  async channel(n = 1, timeout = 2000): Promise<ClientChannel> {
    await until(() => this.channels.length >= n, timeout, `channel #${n}`);
    return this.channels[n - 1] as ClientChannel;
  }

  async packagesFrom(channel: ClientChannel, n: number, timeout = 2000): Promise<ReceivedPackage[]> {
    const mine = (): ReceivedPackage[] => this.packages.filter((p) => p.channel === channel);
    await until(() => mine().length >= n, timeout, `${n} packages`);
    return mine();
  }

  /** The (single) close of a channel, once it happened. */
  async closeOf(channel: ClientChannel, timeout = 2000): Promise<CloseInfo> {
    await until(() => this.closes.has(channel.id), timeout, `close of ${channel.id}`);
    const list = this.closes.get(channel.id) as CloseInfo[];
    return list[0] as CloseInfo;
  }

  async stop(): Promise<void> {
    for (const cleanup of this.#cleanups) cleanup();
    await this.listener.close();
  }
}

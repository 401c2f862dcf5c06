/**
 * Metrics by observation: wrappers that record what passes through the station's stable seams — a client
 * channel's open and close, the inbound sink, the bus (publish, consume and tail), the delivery target and the
 * session registry — without changing the code behind them. Each wrapper forwards every call unchanged.
 */
import type { BacklogRequest, InboundSink, MessageOrigin } from '../streams/inbound-sink.ts';
import type { Content } from '../protocol/dkd/content.ts';
import type {
  BusConsumer,
  BusEntry,
  BusTail,
  ConsumerOptions,
  MessageBus,
  StreamFields,
  TailOptions,
} from '../bus/message-bus.ts';
import type { DeliveryTarget } from '../gateway/delivery-consumer.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { SessionRecord, SessionRegistry } from '../registry/session-registry.ts';
import type { ClientChannel, ChannelHandler, DeliveryResult } from '../transport/client-channel.ts';
import type { BusStreamKind, StationMetrics } from './metrics.ts';
import { streamKind } from './stream-names.ts';

const seconds = (since: number): number => (performance.now() - since) / 1000;

/** Count the channel as open now, and as closed (with its close code) when its handler hears so. */
export function observeChannel(channel: ClientChannel, metrics: StationMetrics): void {
  const transport = channel.kind;
  metrics.connectionOpened(transport);
  const setHandler = channel.setHandler.bind(channel);
  let counted = false;
  channel.setHandler = (handler: ChannelHandler): void => {
    setHandler({
      onPackage: (body, ack) => handler.onPackage(body, ack),
      onClose: (info) => {
        if (!counted) {
          counted = true;
          metrics.connectionClosed(transport, info.code);
          if (info.local && info.code !== 'SHUTDOWN' && info.code !== 'IDLE_TIMEOUT')
            metrics.messageRefused(info.code);
        }
        handler.onClose(info);
      },
    });
  };
}

/** Messages accepted from clients (durable on the bus) or failed. */
export function meteredSink(sink: InboundSink, metrics: StationMetrics): InboundSink {
  return {
    publish: async (message: ReliableMessage, origin: MessageOrigin, content?: Content) => {
      try {
        await sink.publish(message, origin, content);
      } catch (err) {
        metrics.messageIn('failed');
        throw err;
      }
      metrics.messageIn('accepted');
    },
    requestBacklog: (request: BacklogRequest) => sink.requestBacklog(request),
  };
}

function busKind(keys: RedisKeys, stream: string): BusStreamKind {
  if (stream.endsWith(':dead')) return 'dead';
  return streamKind(keys, stream);
}

/** The handler, timed: latency and outcome per stream kind (and the backlog pages' sizes). */
function meteredHandler(
  kind: BusStreamKind,
  handler: (entry: BusEntry) => Promise<void>,
  metrics: StationMetrics,
): (entry: BusEntry) => Promise<void> {
  return async (entry: BusEntry) => {
    const start = performance.now();
    try {
      await handler(entry);
    } catch (err) {
      metrics.busConsumed(kind, seconds(start), 'failed');
      throw err;
    }
    metrics.busConsumed(kind, seconds(start), 'ok');
    if (kind === 'deliver' && entry.fields['t'] === 'page')
      metrics.backlogDrained(Number(entry.fields['n'] ?? 0));
  };
}

/** Publish latency per stream kind, and the latency and outcome of every handled entry (consumed or tailed). */
export function meteredBus(bus: MessageBus, keys: RedisKeys, metrics: StationMetrics): MessageBus {
  return {
    publish: async (stream: string, fields: StreamFields, orderKey?: string) => {
      const kind = busKind(keys, stream);
      const start = performance.now();
      try {
        const id = await bus.publish(stream, fields, orderKey);
        metrics.busPublished(kind, seconds(start), 'ok');
        return id;
      } catch (err) {
        metrics.busPublished(kind, seconds(start), 'failed');
        throw err;
      }
    },
    consume: (options: ConsumerOptions): BusConsumer =>
      bus.consume({
        ...options,
        handler: meteredHandler(busKind(keys, options.stream), options.handler, metrics),
      }),
    tail: (options: TailOptions): BusTail =>
      bus.tail({
        ...options,
        handler: meteredHandler(busKind(keys, options.stream), options.handler, metrics),
      }),
    length: (stream: string) => bus.length(stream),
    close: () => bus.close(),
  };
}

/** Every push to a client: its result and how long it took to end. */
export function meteredTarget(target: DeliveryTarget, metrics: StationMetrics): DeliveryTarget {
  return {
    id: target.id,
    deliver: async (connId: string, body: string, signature?: string, live?: boolean) => {
      const start = performance.now();
      const result: DeliveryResult | 'no-session' = await target.deliver(connId, body, signature, live);
      metrics.messageOut(result, seconds(start));
      return result;
    },
    backlogPage: (connId: string, last: boolean) => target.backlogPage?.(connId, last),
  };
}

/** Sessions bound (handshakes completed). */
export function meteredRegistry(registry: SessionRegistry, metrics: StationMetrics): SessionRegistry {
  return {
    bind: async (record: SessionRecord) => {
      await registry.bind(record);
      metrics.sessionBound();
    },
    setActive: (gatewayId, connId, active) => registry.setActive(gatewayId, connId, active),
    unbind: (gatewayId, connId) => registry.unbind(gatewayId, connId),
    sessionsOf: (user, terminal) => registry.sessionsOf(user, terminal),
    snapshotOf: (user) => registry.snapshotOf(user),
    dropGateway: (gatewayId) => registry.dropGateway(gatewayId),
    close: () => registry.close(),
  };
}

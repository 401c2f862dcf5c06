/**
 * The dispatcher actor: consumes the inbound shards and routes every message as the reference station
 * does (reference-station.md §4.1, §5):
 *  - to the station (its ID, station@anywhere, anyone@anywhere): station commands, replies to the sender;
 *  - to everyone@everywhere / stations@everywhere: processed locally (login, documents);
 *  - to NAME@anywhere: delivered to the bot the ANS table names;
 *  - to a group: refused with a receipt (groups are served by group bots);
 *  - to a user, bot or station: stored first, then pushed to every active session of the receiver (or only
 *    `ID/terminal`'s), and the sender gets "Message delivered." or "Message cached.";
 *  - from a sender the receiver blocked: refused with a receipt.
 */
import type { Logger } from 'pino';
import type { MessageOrigin } from '../bus/inbound-sink.ts';
import type { BusConsumer, BusEntry, MessageBus } from '../bus/message-bus.ts';
import { decodeInbound } from '../bus/stream-entries.ts';
import type { DeliverEntry, StoreMessageEntry } from '../bus/stream-entries.ts';
import type { StationMessenger } from '../identity/station-messenger.ts';
import type { Content } from '../protocol/dkd/content.ts';
import { parseContent } from '../protocol/dkd/content.ts';
import { buildReceipt } from '../protocol/dkd/receipt-command.ts';
import type { ReceiptOptions } from '../protocol/dkd/receipt-command.ts';
import { parseReliableMessage } from '../protocol/dkd/reliable-message.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import { EVERY_STATION, EVERYONE, tryParseId } from '../protocol/mkm/identifier.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import { isProtocolError } from '../protocol/protocol-error.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { shardOf } from '../redis/redis-keys.ts';
import type { SessionRecord, SessionRegistry } from '../registry/session-registry.ts';
import type { AccountStore } from '../storage/account-store.ts';
import type { StationCommands, StationReply } from './station-commands.ts';

export interface DispatcherOptions {
  readonly bus: MessageBus;
  readonly keys: RedisKeys;
  readonly shards: number;
  readonly registry: SessionRegistry;
  readonly accounts: AccountStore;
  readonly messenger: StationMessenger;
  readonly commands: StationCommands;
  /** Whether a gateway is alive (sessions of dead gateways are not delivered to). */
  readonly isGatewayAlive: (gatewayId: string) => Promise<boolean>;
  readonly consumerName: string;
  readonly concurrency?: number;
  /** Entries pending this long at a dead consumer are reclaimed (ms, default the bus's 30 s). */
  readonly claimIdleMs?: number;
  readonly logger: Logger;
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
}

export const DISPATCH_GROUP = 'dispatcher';

export class Dispatcher {
  readonly #o: DispatcherOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  #consumers: BusConsumer[] = [];
  #closing: Promise<void> | undefined;

  constructor(options: DispatcherOptions) {
    this.#o = options;
    this.#log = options.logger.child({ module: 'dispatcher' });
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    for (let shard = 0; shard < this.#o.shards; shard++) {
      this.#consumers.push(
        this.#o.bus.consume({
          stream: this.#o.keys.inboundStream(shard),
          group: DISPATCH_GROUP,
          consumer: this.#o.consumerName,
          concurrency: this.#o.concurrency ?? 64,
          claimIdleMs: this.#o.claimIdleMs,
          handler: (entry) => this.handle(entry),
        }),
      );
    }
    this.#log.info(
      { code: 'DISPATCHER_STARTED', shards: this.#o.shards },
      'dispatcher consuming inbound shards',
    );
  }

  /** Stop consuming; in-flight messages finish and are acknowledged. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= Promise.all(this.#consumers.map((c) => c.close())).then(() => {
      this.#log.info({ code: 'DISPATCHER_CLOSED' }, 'dispatcher stopped');
    });
    return this.#closing;
  }

  /** Handle one inbound entry (exposed for tests). Throws only for infrastructure errors (then retried). */
  async handle(entry: BusEntry): Promise<void> {
    let inbound;
    let message: ReliableMessage;
    try {
      inbound = decodeInbound(entry.payload);
      message = parseReliableMessage(inbound.msg);
    } catch (err) {
      // Gateways only publish parsed messages; a bad entry is a bug or tampering: log and drop.
      this.#log.error(
        { code: 'BAD_STREAM_ENTRY', id: entry.id, err: String(err) },
        'dropping unreadable inbound entry',
      );
      return;
    }
    await this.route(message, inbound.origin);
  }

  async route(message: ReliableMessage, origin: MessageOrigin): Promise<void> {
    const { messenger, commands } = this.#o;
    const receiver = message.receiver;
    const now = this.#now();
    if (messenger.isForStation(receiver)) {
      const content = this.#open(message);
      if (content !== undefined)
        await this.#reply(await commands.process(message, content, now / 1000), origin);
      return;
    }
    if (receiver.equals(EVERYONE) || receiver.equals(EVERY_STATION)) {
      const content = this.#open(message);
      if (content !== undefined)
        await this.#reply(await commands.process(message, content, now / 1000), origin);
      // Neighbour stations: forwarding is not configured in this deployment (no neighbours).
      return;
    }
    if (receiver.isBroadcast) {
      const name = receiver.name ?? '';
      const bot = tryParseId(commands.resolveName(name));
      if (bot === undefined || bot.isBroadcast || bot.isSameAs(message.sender)) {
        await this.#receipt(message, origin, 'Receiver not found.', {
          template: 'Cannot resolve ${name}.',
          replacements: { name: receiver.string },
        });
        return;
      }
      await this.#deliver(message, bot, origin);
      return;
    }
    if (receiver.isGroup) {
      await this.#receipt(message, origin, 'Group message not support for this station.', {
        template:
          'Group message (group: ${group}) not support for this station; send it to the group assistant.',
        replacements: { group: receiver.string },
      });
      return;
    }
    // the block list and the receiver's sessions are independent lookups: one round trip for both
    const [blocked, sessions] = await Promise.all([
      this.#isBlocked(message),
      this.#activeSessions(receiver.naked().string, receiver.terminal),
    ]);
    if (blocked) {
      await this.#receipt(message, origin, `Message is blocked by "${receiver.naked().string}"`, {
        template: 'Message is blocked by "${did}"',
        replacements: { did: receiver.naked().string },
      });
      return;
    }
    await this.#deliver(message, receiver, origin, sessions, now);
  }

  async #isBlocked(message: ReliableMessage): Promise<boolean> {
    const list = await this.#o.accounts.getList(message.receiver, 'block');
    if (list === undefined || list.length === 0) return false;
    const sender = message.sender.naked().string;
    const group = message.group?.string;
    return list.includes(sender) || (group !== undefined && list.includes(group));
  }

  /**
   * Store, push to every active session of `target`, tell the sender. The receipt is packed first so that
   * every entry is published in the same tick: one pipelined write, in this order (store, pushes, receipt).
   */
  async #deliver(
    message: ReliableMessage,
    target: ID,
    origin: MessageOrigin,
    activeSessions?: readonly SessionRecord[],
    /** When the sessions were looked up (ms); now when looked up here. */
    lookedUpAt?: number,
  ): Promise<void> {
    const { keys, shards, messenger } = this.#o;
    const lookupAt = lookedUpAt ?? this.#now();
    const now = this.#now();
    const station = messenger.identity.id.string;
    const traces = Array.isArray(message.dict['traces']) ? (message.dict['traces'] as unknown[]) : [];
    const relayed = message.withFields({
      traces: [...traces, { ID: station, did: station, time: now / 1000 }],
    });
    const json = JSON.stringify(relayed.dict);
    const user = target.naked().string;
    const sessions = activeSessions ?? (await this.#activeSessions(user, target.terminal));
    const store: StoreMessageEntry = {
      kind: 'store',
      user,
      terminal: target.terminal,
      sig: message.signatureText,
      time: Math.round((message.time ?? now / 1000) * 1000),
      json,
      at: lookupAt,
    };
    const entries: Outgoing[] = [
      { stream: keys.storeStream(shardOf(user, shards)), payload: JSON.stringify(store), orderKey: user },
    ];
    for (const session of sessions) {
      const deliver: DeliverEntry = {
        kind: 'deliver',
        connId: session.connId,
        user,
        terminal: session.terminal ?? '*',
        sig: message.signatureText,
        json,
      };
      entries.push({ stream: keys.deliveryStream(session.gatewayId), payload: JSON.stringify(deliver) });
    }
    if (!message.sender.isStation && !target.isStation) {
      const receipt =
        sessions.length > 0
          ? this.#receiptReply(message, 'Message delivered.', {
              template: 'Message delivered to ${did}.',
              replacements: { did: target.string },
              extra: { recipient: target.string },
            })
          : this.#receiptReply(message, 'Message cached.', {
              template: 'Message cached for ${did}.',
              replacements: { did: target.string },
            });
      entries.push(...(await this.#pack([receipt], origin)));
    }
    await this.#publish(entries);
  }

  async #activeSessions(user: string, terminal: string | undefined): Promise<SessionRecord[]> {
    const sessions = await this.#o.registry.sessionsOf(user, terminal);
    const out: SessionRecord[] = [];
    for (const s of sessions) if (s.active && (await this.#o.isGatewayAlive(s.gatewayId))) out.push(s);
    return out;
  }

  #open(message: ReliableMessage): Content | undefined {
    try {
      if (message.isBroadcast) return parseContent(JSON.parse(message.data));
      return this.#o.messenger.open(message).content;
    } catch (err) {
      const code = isProtocolError(err) ? err.code : 'BAD_CONTENT';
      this.#log.warn({ code, sender: message.sender.string }, 'station message not readable');
      return undefined;
    }
  }

  #receiptReply(message: ReliableMessage, text: string, options: ReceiptOptions): StationReply {
    return { to: message.sender, content: buildReceipt(text, message, this.#now() / 1000, options) };
  }

  async #receipt(
    message: ReliableMessage,
    origin: MessageOrigin,
    text: string,
    options: ReceiptOptions,
  ): Promise<void> {
    if (message.sender.isStation) return;
    await this.#reply([this.#receiptReply(message, text, options)], origin);
  }

  /** Sign, encrypt and push replies to the connection the request came from. */
  async #reply(replies: readonly StationReply[], origin: MessageOrigin): Promise<void> {
    await this.#publish(await this.#pack(replies, origin));
  }

  /** Replies as delivery entries for the origin's gateway; a reply that cannot be packed is logged and skipped. */
  async #pack(replies: readonly StationReply[], origin: MessageOrigin): Promise<Outgoing[]> {
    const out: Outgoing[] = [];
    for (const reply of replies) {
      let packed: ReliableMessage;
      try {
        packed = await this.#o.messenger.pack(reply.to, reply.content);
      } catch (err) {
        const code = isProtocolError(err) ? err.code : 'REPLY_FAILED';
        this.#log.warn({ code, to: reply.to.string }, 'reply not sent');
        continue;
      }
      const deliver: DeliverEntry = {
        kind: 'deliver',
        connId: origin.connId,
        user: reply.to.naked().string,
        terminal: origin.terminal ?? '*',
        sig: packed.signatureText,
        json: JSON.stringify(packed.dict),
        response: true,
      };
      out.push({ stream: this.#o.keys.deliveryStream(origin.gatewayId), payload: JSON.stringify(deliver) });
    }
    return out;
  }

  /** Publish in one tick (Redis gets them in this order, in one pipelined write); fails if any fails. */
  async #publish(entries: readonly Outgoing[]): Promise<void> {
    await Promise.all(entries.map((e) => this.#o.bus.publish(e.stream, e.payload, e.orderKey)));
  }
}

interface Outgoing {
  readonly stream: string;
  readonly payload: string;
  readonly orderKey?: string | undefined;
}

/**
 * The dispatcher actor: consumes the inbound shards and routes every message as the reference station
 * does (reference-station.md §4.1, §5):
 *  - to the station (its ID, station@anywhere, anyone@anywhere): station commands, replies to the sender;
 *  - to everyone@everywhere / stations@everywhere: processed locally (login, documents);
 *  - to NAME@anywhere: delivered to the bot the ANS table names;
 *  - to a group: refused with a receipt (groups are served by group bots);
 *  - to a user, bot or station: stored in the inbox first (the inbound entry is acknowledged only after), then
 *    pushed to every active session of the receiver (or only `ID/terminal`'s) — no delivery is published
 *    before the put, so a delivered mark cannot overtake it — and the sender gets "Message delivered." or
 *    "Message cached.";
 *  - from a sender the receiver blocked: refused with a receipt.
 * With a change feed (src/redis/change-signal.ts), receivers' sessions and block lists are cached between
 * their changes (lookup-cache.ts): a receiver who stays online costs no lookup per message. A message is
 * stored with the time its sessions were read (`storedAt`), however old the cached read: a session bound
 * after that read drains it. The put also compares the sessions epoch of that read (InboxStore.putChecked):
 * when a session was bound or became active since, its drain may already have passed the message's place,
 * so the message is pushed to that session too, instead of waiting for the next drain (if the drain did
 * send it, the session gets an exact copy, as after any re-delivery).
 */
import type { Logger } from 'pino';
import type { BusConsumer, BusEntry, MessageBus } from '../bus/message-bus.ts';
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
import type { PushHook } from '../push/push-trigger.ts';
import type { SessionRecord, SessionRegistry, SessionsSnapshot } from '../registry/session-registry.ts';
import type { AccountStore } from '../storage/account-store.ts';
import type { InboxStore } from '../storage/inbox-store.ts';
import { appendTrace } from '../streams/trace-splice.ts';
import {
  decodeEnvelope,
  decodeInbound,
  envelopeText,
  messageText,
  publishAll,
} from '../streams/station-streams.ts';
import type { InboundEntry, MessageOrigin, Outgoing, StationStreams } from '../streams/station-streams.ts';
import type { FederationRouter } from '../federation/federation-router.ts';
import type { ChangeFeed } from '../redis/change-signal.ts';
import { LookupCache, LOOKUP_CACHE_MS } from './lookup-cache.ts';
import type { CacheStats } from './lookup-cache.ts';
import type { StationCommands, StationReply } from './station-commands.ts';

export interface DispatcherOptions {
  readonly bus: MessageBus;
  readonly streams: StationStreams;
  readonly registry: SessionRegistry;
  readonly accounts: AccountStore;
  /** Where messages are stored before they are pushed. */
  readonly inbox: InboxStore;
  readonly messenger: StationMessenger;
  readonly commands: StationCommands;
  /** Whether a gateway is alive (sessions of dead gateways are not delivered to). */
  readonly isGatewayAlive: (gatewayId: string) => Promise<boolean>;
  /** Push notifications: told about every message stored for a receiver (src/push/push-trigger.ts). */
  readonly push?: PushHook | undefined;
  readonly consumerName: string;
  readonly concurrency?: number;
  /** Entries pending this long at a dead consumer are reclaimed (ms, default the bus's 30 s). */
  readonly claimIdleMs?: number;
  readonly logger: Logger;
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
  /** Neighbour stations (src/federation): forwarding, broadcasts, roaming, queries. */
  readonly federation?: FederationRouter;
  /** Signals of changed sessions and block lists: with one, those lookups are cached (the caller closes it). */
  readonly changes?: ChangeFeed;
  /** How long a cached lookup is served at most (ms, default LOOKUP_CACHE_MS; 0: no cache). */
  readonly lookupCacheMs?: number;
}

export const DISPATCH_GROUP = 'dispatcher';

/** The active sessions of a receiver, when they were read (ms), and their epoch then. */
interface ActiveSessions {
  readonly sessions: SessionRecord[];
  readonly readAt: number;
  readonly epoch: string;
}

export class Dispatcher {
  readonly #o: DispatcherOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #sessions: LookupCache<SessionsSnapshot>;
  readonly #blockLists: LookupCache<string[] | undefined>;
  #consumers: BusConsumer[] = [];
  #closing: Promise<void> | undefined;

  constructor(options: DispatcherOptions) {
    this.#o = options;
    this.#log = options.logger.child({ module: 'dispatcher' });
    this.#now = options.now ?? Date.now;
    const feed = options.changes;
    const cache = {
      ttlMs: feed === undefined ? 0 : (options.lookupCacheMs ?? LOOKUP_CACHE_MS),
      live: () => feed?.live ?? false,
      now: this.#now,
    };
    this.#sessions = new LookupCache(cache);
    this.#blockLists = new LookupCache(cache);
    feed?.watch(
      (topic, key) => (topic === 'sessions' ? this.#sessions : this.#blockLists).invalidate(key),
      () => {
        this.#sessions.clear();
        this.#blockLists.clear();
      },
    );
  }

  /** Lookups answered from the caches and lookups that read (tests, inspection). */
  cacheStats(): { sessions: CacheStats; blockLists: CacheStats } {
    return { sessions: this.#sessions.stats(), blockLists: this.#blockLists.stats() };
  }

  start(): void {
    for (let shard = 0; shard < this.#o.streams.shards; shard++) {
      this.#consumers.push(
        this.#o.bus.consume({
          stream: this.#o.streams.inboundStream(shard),
          group: DISPATCH_GROUP,
          consumer: this.#o.consumerName,
          concurrency: this.#o.concurrency ?? 64,
          claimIdleMs: this.#o.claimIdleMs,
          handler: (entry) => this.handle(entry),
        }),
      );
    }
    this.#log.info(
      { code: 'DISPATCHER_STARTED', shards: this.#o.streams.shards },
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
    let inbound: InboundEntry;
    try {
      inbound = decodeInbound(entry.fields);
    } catch (err) {
      // Gateways only publish parsed messages; a bad entry is a bug or tampering: log and drop.
      this.#log.error(
        { code: 'BAD_STREAM_ENTRY', id: entry.id, err: String(err) },
        'dropping unreadable inbound entry',
      );
      return;
    }
    await this.dispatch(inbound, entry.ackNow);
  }

  /** Route a parsed message as a gateway would hand it over (tests). */
  route(message: ReliableMessage, origin: MessageOrigin, content?: Content): Promise<void> {
    return this.dispatch({
      kind: 'message',
      msg: messageText(message),
      envelope: envelopeText(message),
      content: content === undefined ? undefined : JSON.stringify(content.dict),
      origin,
    });
  }

  /**
   * Route one inbound message. User-to-user messages are routed on their envelope alone: the message text
   * is neither parsed nor re-serialised, only spliced (the station's trace).
   */
  async dispatch(
    inbound: InboundEntry,
    /** Acknowledges the inbound entry early (BusEntry.ackNow): called once the message is stored. */
    ackNow?: () => void,
  ): Promise<void> {
    const { messenger } = this.#o;
    let envelope: ReliableMessage;
    try {
      envelope = decodeEnvelope(inbound.envelope);
    } catch (err) {
      this.#log.error({ code: 'BAD_STREAM_ENTRY', err: String(err) }, 'dropping an inbound entry');
      return;
    }
    const { origin } = inbound;
    const receiver = envelope.receiver;
    if (messenger.isForStation(receiver) || receiver.equals(EVERYONE) || receiver.equals(EVERY_STATION)) {
      await this.#forStation(inbound, envelope);
      return;
    }
    if (receiver.isBroadcast) {
      const name = receiver.name ?? '';
      const bot = tryParseId(this.#o.commands.resolveName(name));
      if (bot === undefined && (name === 'apns' || name === 'c2dm')) {
        // device-token reports: no external announcer bot is named, so the station keeps them itself
        await this.#forStation(inbound, envelope);
        return;
      }
      if (bot === undefined || bot.isBroadcast || bot.isSameAs(envelope.sender)) {
        await this.#receipt(envelope, origin, 'Receiver not found.', {
          template: 'Cannot resolve ${name}.',
          replacements: { name: receiver.string },
        });
        return;
      }
      await this.#deliver(inbound, envelope, bot, undefined, ackNow);
      return;
    }
    if (receiver.isGroup) {
      await this.#receipt(envelope, origin, 'Group message not support for this station.', {
        template:
          'Group message (group: ${group}) not support for this station; send it to the group assistant.',
        replacements: { group: receiver.string },
      });
      return;
    }
    // the block list and the receiver's sessions are independent lookups: one round trip for both
    const [blocked, active] = await Promise.all([
      this.#isBlocked(envelope),
      this.#activeSessions(receiver.naked().string, receiver.terminal),
    ]);
    if (blocked) {
      await this.#receipt(envelope, origin, `Message is blocked by "${receiver.naked().string}"`, {
        template: 'Message is blocked by "${did}"',
        replacements: { did: receiver.naked().string },
      });
      return;
    }
    await this.#deliver(inbound, envelope, receiver, active, ackNow);
  }

  /**
   * Station commands, with the content the gateway decrypted (never decrypted twice). The whole message is
   * parsed here: commands keep it (a login message is handed to other users as is).
   */
  async #forStation(inbound: InboundEntry, envelope: ReliableMessage): Promise<void> {
    const fed = this.#o.federation;
    const broadcast = envelope.receiver.equals(EVERYONE) || envelope.receiver.equals(EVERY_STATION);
    if (broadcast && fed !== undefined && !(await fed.acceptBroadcast(envelope))) return; // cycled or seen
    let content: Content;
    let message: ReliableMessage;
    try {
      message = parseReliableMessage(inbound.msg);
      // broadcasts the gateway did not open (device-token reports to apns@anywhere) carry plaintext data
      if (inbound.content === undefined && !message.isBroadcast)
        throw new Error('the gateway could not open it');
      content = parseContent(JSON.parse(inbound.content ?? message.data));
    } catch (err) {
      const code = isProtocolError(err) ? err.code : 'BAD_CONTENT';
      this.#log.warn(
        { code, sender: envelope.sender.string, err: String(err) },
        'station message not readable',
      );
      return;
    }
    const now = this.#now();
    const replies = await this.#o.commands.process(message, content, now / 1000);
    // a broadcast a neighbour relayed: its sender hears from its own station, not from every station
    if (!broadcast || inbound.origin.user === envelope.sender.naked().string)
      await this.#reply(replies, inbound.origin);
    await fed?.afterLocal(message, content);
    if (broadcast) await fed?.forwardBroadcast(message);
  }

  async #isBlocked(message: ReliableMessage): Promise<boolean> {
    const receiver = message.receiver;
    const { value: list } = await this.#blockLists.get(receiver.naked().string, () =>
      this.#o.accounts.getList(receiver, 'block'),
    );
    if (list === undefined || list.length === 0) return false;
    const sender = message.sender.naked().string;
    const group = message.group?.string;
    return list.includes(sender) || (group !== undefined && list.includes(group));
  }

  /**
   * Store, push to every active session of `target`, tell the sender. The receipt is packed while the put
   * runs; once the message is stored, the pushes and the receipt are published in the same tick (one
   * pipelined write).
   */
  async #deliver(
    inbound: InboundEntry,
    envelope: ReliableMessage,
    target: ID,
    /** The target's sessions, when already looked up (else looked up here). */
    looked?: ActiveSessions,
    ackNow?: () => void,
  ): Promise<void> {
    const { streams, messenger } = this.#o;
    const now = this.#now();
    const station = messenger.identity.id.string;
    let msg: string;
    try {
      msg = appendTrace(inbound.msg, JSON.stringify({ ID: station, did: station, time: now / 1000 }));
    } catch (err) {
      this.#log.error({ code: 'BAD_STREAM_ENTRY', err: String(err) }, 'dropping an inbound message');
      return;
    }
    const user = target.naked().string;
    const sig = envelope.signatureText;
    const { sessions, readAt, epoch } = looked ?? (await this.#activeSessions(user, target.terminal));
    const via = sessions.length > 0 ? undefined : await this.#o.federation?.routeUser(envelope, msg, target);
    if (via !== undefined) {
      if (envelope.sender.isStation) return;
      const redirected = this.#receiptReply(envelope, 'Message redirected.', {
        template: 'Message redirected to ${did} via ${station}.',
        replacements: { did: target.string, station: via },
        extra: { neighbor: via },
      });
      await this.#reply([redirected], inbound.origin);
      return;
    }
    // Stored at the time the sessions were read: a session bound after that read (which this message is
    // not pushed to) drains everything stored up to its bind, this message included.
    const stored = this.#o.inbox.putChecked(
      user,
      {
        sig,
        time: Math.round((envelope.time ?? now / 1000) * 1000),
        storedAt: readAt,
        terminal: target.terminal,
        json: msg,
      },
      epoch,
    );
    // a failed put must not be reported as unhandled while the receipt is packed: it is awaited below
    stored.catch(() => undefined);
    const deliver = (session: SessionRecord): Outgoing =>
      streams.deliver(session.gatewayId, {
        connId: session.connId,
        user,
        terminal: session.terminal ?? '*',
        sig,
        msg,
        response: false,
      });
    const entries: Outgoing[] = sessions.map(deliver);
    if (!envelope.sender.isStation && !target.isStation) {
      const receipt =
        sessions.length > 0
          ? this.#receiptReply(envelope, 'Message delivered.', {
              template: 'Message delivered to ${did}.',
              replacements: { did: target.string },
              extra: { recipient: target.string },
            })
          : this.#receiptReply(envelope, 'Message cached.', {
              template: 'Message cached for ${did}.',
              replacements: { did: target.string },
            });
      entries.push(...(await this.#pack([receipt], inbound.origin)));
    }
    const { rebound } = await stored;
    const late = rebound ? await this.#reboundSessions(user, target, sessions) : [];
    entries.push(...late.map(deliver));
    const published = publishAll(this.#o.bus, entries);
    published.catch(() => undefined); // awaited below
    // stored: wake the receiver's devices that have no active session (a failure retries the entry)
    await this.#o.push?.messageStored(envelope, target, late.length > 0 ? [...sessions, ...late] : sessions);
    // Stored and the push noted: a re-delivery would only repeat the pushes and the receipt, issued above
    // (an outage of theirs is still retried here). On standalone Redis the XACK joins their write.
    ackNow?.();
    await published;
  }

  /** A user's active sessions on live gateways (only `terminal`'s, if given); every terminal's is cached. */
  async #activeSessions(user: string, terminal: string | undefined): Promise<ActiveSessions> {
    const { value, fetchedAt } = await this.#sessions.get(user, () => this.#o.registry.snapshotOf(user));
    const sessions: SessionRecord[] = [];
    for (const s of value.records) {
      if (!s.active || (terminal !== undefined && s.terminal !== terminal)) continue;
      if (await this.#o.isGatewayAlive(s.gatewayId)) sessions.push(s);
    }
    return { sessions, readAt: fetchedAt, epoch: value.epoch };
  }

  /**
   * The put found a newer sessions epoch than the read the message was routed on: read the sessions again
   * and return the active ones the message was not pushed to.
   */
  async #reboundSessions(
    user: string,
    target: ID,
    pushed: readonly SessionRecord[],
  ): Promise<SessionRecord[]> {
    this.#sessions.invalidate(user);
    const { sessions } = await this.#activeSessions(user, target.terminal);
    const had = new Set(pushed.map((s) => `${s.gatewayId}/${s.connId}`));
    const fresh = sessions.filter((s) => !had.has(`${s.gatewayId}/${s.connId}`));
    if (fresh.length > 0) {
      this.#log.debug(
        { code: 'DISPATCH_REBOUND', user, sessions: fresh.length },
        'a session was bound while the message was routed: pushed to it too',
      );
    }
    return fresh;
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
    await publishAll(this.#o.bus, await this.#pack(replies, origin));
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
      out.push(
        this.#o.streams.deliver(origin.gatewayId, {
          connId: origin.connId,
          user: reply.to.naked().string,
          terminal: origin.terminal ?? '*',
          sig: packed.signatureText,
          msg: JSON.stringify(packed.dict),
          response: true,
        }),
      );
    }
    return out;
  }
}

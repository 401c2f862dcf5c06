/**
 * Every stream entry of the station's message path, with its emitter and its decoder: one place to follow
 * a message. The bus (src/bus/) only moves named string fields; this module gives them their meaning.
 *
 *   client ─frame→ gateway ──inbound:{shard}──→ dispatcher ──deliver:{gateway}──→ gateway ─→ client socket
 *                     │                             └──────store:{shard}──→ storage ──(inbox)
 *                     └─(marks, drains)─store:{shard}──→ storage ──deliver:{gateway} (backlog pages)
 *
 * The message travels as its own field `msg`: the JSON text the sender's frame carried (re-serialised once
 * by the gateway only when it expanded short keys), unchanged to the receiver's socket and into the inbox,
 * except for the station's `traces` item, which the dispatcher appends by a byte splice (trace-splice.ts).
 * What routing needs travels beside it: the envelope (`env`: the message without data/keys/meta/visa,
 * what receipts quote), the content the gateway decrypted for station-bound messages (`c`), the origin.
 *
 * Fields per entry kind (`t`); `?` = optional; names the bus reserves (k, id, from…) are never used:
 *  - inbound (gateway → dispatcher, order key = receiver):
 *      t=msg  msg  env  c?  gw  conn  user  term?
 *  - delivery (dispatcher / storage → the gateway holding the connection):
 *      t=deliver  conn  user  term  sig  msg  resp?=1          one message (live, or a station response)
 *      t=page     conn  user  term  until  next?  pre?  n  sig.0 msg.0 … sig.{n-1} msg.{n-1}   backlog page
 *  - store shard (dispatcher, gateways → storage, order key = user):
 *      t=store      user  term?  sig  time  msg  at?          persist before any push
 *      t=delivered  user  term  n  sig.0 … sig.{n-1}            a terminal confirmed these
 *      t=drain      user  term  gw  conn  until  cursor?      send the backlog's next page
 */
import type { MessageBus, StreamFields } from '../bus/message-bus.ts';
import { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import { ANYONE, parseId, tryParseId } from '../protocol/mkm/identifier.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import { shardOf } from '../redis/redis-keys.ts';

/** Where an inbound message came from (its reply goes back to this connection). */
export interface MessageOrigin {
  readonly gatewayId: string;
  readonly connId: string;
  /** The identity bound to the connection (naked ID string). */
  readonly user: string;
  readonly terminal: string | undefined;
}

export interface InboundEntry {
  readonly kind: 'message';
  /** The reliable message JSON text. */
  readonly msg: string;
  /** JSON of the envelope: the message without `data`, `key`, `keys`, `meta`, `visa`. */
  readonly envelope: string;
  /** JSON of the content, when the gateway decrypted it (messages to the station or to everyone). */
  readonly content: string | undefined;
  readonly origin: MessageOrigin;
}

export interface DeliverEntry {
  readonly kind: 'deliver';
  readonly connId: string;
  /** Naked receiver ID and the terminal of the connection (for the delivered mark). */
  readonly user: string;
  readonly terminal: string;
  readonly sig: string;
  /** The reliable message JSON text to push. */
  readonly msg: string;
  /** Responses (receipts…) are not stored and need no delivered mark. */
  readonly response: boolean;
}

/** One page of a terminal's stored backlog, in order: one stream entry for the whole page. */
export interface DeliverPageEntry {
  readonly kind: 'deliver-page';
  readonly connId: string;
  readonly user: string;
  readonly terminal: string;
  /** The drain's `until` (ms), carried into the next page's request. */
  readonly until: number;
  /** Cursor of the next page; absent on the last one. */
  readonly next: string | undefined;
  /**
   * Ask for the next page once this many of the page's messages are confirmed (a window: the next page is
   * on its way while the client still confirms this one). Absent: once all are.
   */
  readonly prefetchAt: number | undefined;
  /** Signature and reliable message JSON text of each message, oldest first. */
  readonly messages: readonly { readonly sig: string; readonly msg: string }[];
}

export type DeliveryEntry = DeliverEntry | DeliverPageEntry;

export interface StoreMessageEntry {
  readonly kind: 'store';
  readonly user: string;
  /** Only this terminal wants it (message to `ID/terminal`). */
  readonly terminal: string | undefined;
  readonly sig: string;
  /** Message time (ms): the backlog order. */
  readonly time: number;
  readonly msg: string;
  /**
   * When the dispatcher looked the receiver's sessions up (ms), before deciding whom to push to: the
   * message counts as stored from then, so a backlog drain of a session bound later (its `until` is after
   * the bind) includes it even when the storage worker writes it after that `until`. Absent (earlier
   * dispatchers): the storage worker's clock.
   */
  readonly at?: number;
}

/** Messages a terminal confirmed. */
export interface DeliveredEntry {
  readonly kind: 'delivered';
  readonly user: string;
  readonly terminal: string;
  readonly sigs: readonly string[];
}

export interface DrainEntry {
  readonly kind: 'drain';
  readonly user: string;
  readonly terminal: string;
  readonly gatewayId: string;
  readonly connId: string;
  /** Only messages stored at or before this time (ms): later ones were delivered live. */
  readonly until: number;
  readonly cursor: string | undefined;
}

export type StoreEntry = StoreMessageEntry | DeliveredEntry | DrainEntry;

export class StreamEntryError extends Error {
  readonly code = 'BAD_STREAM_ENTRY';
}

/** One entry to append: the stream, its fields, its order key. */
export interface Outgoing {
  readonly stream: string;
  readonly fields: StreamFields;
  readonly orderKey?: string | undefined;
}

/** Append entries in one tick (Redis gets them in this order, in one pipelined write); fails if any fails. */
export async function publishAll(bus: MessageBus, entries: readonly Outgoing[]): Promise<void> {
  await Promise.all(entries.map((e) => bus.publish(e.stream, e.fields, e.orderKey)));
}

// ---- emitters ----------------------------------------------------------------------------------------

/** Names the streams (through RedisKeys) and builds every entry. */
export class StationStreams {
  readonly #keys: RedisKeys;
  readonly #shards: number;

  constructor(keys: RedisKeys, shards: number) {
    this.#keys = keys;
    this.#shards = shards;
  }

  get shards(): number {
    return this.#shards;
  }

  inboundStream(shard: number): string {
    return this.#keys.inboundStream(shard);
  }

  storeStream(shard: number): string {
    return this.#keys.storeStream(shard);
  }

  deliveryStream(gatewayId: string): string {
    return this.#keys.deliveryStream(gatewayId);
  }

  /** Gateway → dispatcher: to the inbound shard of the (naked) receiver, in order per receiver. */
  inbound(receiver: string, entry: Omit<InboundEntry, 'kind'>): Outgoing {
    const { origin } = entry;
    const fields: Record<string, string> = {
      t: 'msg',
      msg: entry.msg,
      env: entry.envelope,
      gw: origin.gatewayId,
      conn: origin.connId,
      user: origin.user,
    };
    if (entry.content !== undefined) fields['c'] = entry.content;
    if (origin.terminal !== undefined) fields['term'] = origin.terminal;
    return { stream: this.#keys.inboundStream(shardOf(receiver, this.#shards)), fields, orderKey: receiver };
  }

  /** → the gateway holding `connId`: one message. */
  deliver(gatewayId: string, entry: Omit<DeliverEntry, 'kind'>): Outgoing {
    const fields: Record<string, string> = {
      t: 'deliver',
      conn: entry.connId,
      user: entry.user,
      term: entry.terminal,
      sig: entry.sig,
      msg: entry.msg,
    };
    if (entry.response) fields['resp'] = '1';
    return { stream: this.#keys.deliveryStream(gatewayId), fields };
  }

  /** Storage → the gateway holding `connId`: one backlog page. */
  deliverPage(gatewayId: string, entry: Omit<DeliverPageEntry, 'kind'>): Outgoing {
    const fields: Record<string, string> = {
      t: 'page',
      conn: entry.connId,
      user: entry.user,
      term: entry.terminal,
      until: String(entry.until),
      n: String(entry.messages.length),
    };
    if (entry.next !== undefined) fields['next'] = entry.next;
    if (entry.prefetchAt !== undefined) fields['pre'] = String(entry.prefetchAt);
    entry.messages.forEach((m, i) => {
      fields[`sig.${i}`] = m.sig;
      fields[`msg.${i}`] = m.msg;
    });
    return { stream: this.#keys.deliveryStream(gatewayId), fields };
  }

  /** → storage: persist a message for `user`. */
  store(entry: Omit<StoreMessageEntry, 'kind'>): Outgoing {
    const fields: Record<string, string> = {
      t: 'store',
      user: entry.user,
      sig: entry.sig,
      time: String(entry.time),
      msg: entry.msg,
    };
    if (entry.terminal !== undefined) fields['term'] = entry.terminal;
    if (entry.at !== undefined) fields['at'] = String(entry.at);
    return this.#toStore(entry.user, fields);
  }

  /** Gateway → storage: a terminal confirmed these messages. */
  delivered(entry: Omit<DeliveredEntry, 'kind'>): Outgoing {
    const fields: Record<string, string> = {
      t: 'delivered',
      user: entry.user,
      term: entry.terminal,
      n: String(entry.sigs.length),
    };
    entry.sigs.forEach((sig, i) => (fields[`sig.${i}`] = sig));
    return this.#toStore(entry.user, fields);
  }

  /** Gateway → storage: send the next page of a terminal's backlog. */
  drain(entry: Omit<DrainEntry, 'kind'>): Outgoing {
    const fields: Record<string, string> = {
      t: 'drain',
      user: entry.user,
      term: entry.terminal,
      gw: entry.gatewayId,
      conn: entry.connId,
      until: String(entry.until),
    };
    if (entry.cursor !== undefined) fields['cursor'] = entry.cursor;
    return this.#toStore(entry.user, fields);
  }

  /** Store entries of one user go to that user's store shard, in order. */
  #toStore(user: string, fields: StreamFields): Outgoing {
    return { stream: this.#keys.storeStream(shardOf(user, this.#shards)), fields, orderKey: user };
  }
}

// ---- decoders ----------------------------------------------------------------------------------------

function text(fields: StreamFields, name: string): string {
  const value = fields[name];
  if (value === undefined) throw new StreamEntryError(`stream entry without ${name}`);
  return value;
}

function number(fields: StreamFields, name: string): number {
  const value = Number(text(fields, name));
  if (!Number.isFinite(value)) throw new StreamEntryError(`stream entry field ${name} is not a number`);
  return value;
}

function optionalNumber(fields: StreamFields, name: string): number | undefined {
  return fields[name] === undefined ? undefined : number(fields, name);
}

function kind(fields: StreamFields, kinds: readonly string[]): string {
  const t = fields['t'];
  if (t === undefined || !kinds.includes(t)) {
    throw new StreamEntryError(`unexpected stream entry kind ${JSON.stringify(t ?? null)}`);
  }
  return t;
}

export function decodeInbound(fields: StreamFields): InboundEntry {
  kind(fields, ['msg']);
  return {
    kind: 'message',
    msg: text(fields, 'msg'),
    envelope: text(fields, 'env'),
    content: fields['c'],
    origin: {
      gatewayId: text(fields, 'gw'),
      connId: text(fields, 'conn'),
      user: text(fields, 'user'),
      terminal: fields['term'],
    },
  };
}

export function decodeDelivery(fields: StreamFields): DeliveryEntry {
  if (kind(fields, ['deliver', 'page']) === 'deliver') {
    return {
      kind: 'deliver',
      connId: text(fields, 'conn'),
      user: text(fields, 'user'),
      terminal: text(fields, 'term'),
      sig: text(fields, 'sig'),
      msg: text(fields, 'msg'),
      response: fields['resp'] === '1',
    };
  }
  const n = number(fields, 'n');
  const messages: { sig: string; msg: string }[] = [];
  for (let i = 0; i < n; i++) messages.push({ sig: text(fields, `sig.${i}`), msg: text(fields, `msg.${i}`) });
  return {
    kind: 'deliver-page',
    connId: text(fields, 'conn'),
    user: text(fields, 'user'),
    terminal: text(fields, 'term'),
    until: number(fields, 'until'),
    next: fields['next'],
    prefetchAt: optionalNumber(fields, 'pre'),
    messages,
  };
}

export function decodeStore(fields: StreamFields): StoreEntry {
  switch (kind(fields, ['store', 'delivered', 'drain'])) {
    case 'store':
      return {
        kind: 'store',
        user: text(fields, 'user'),
        terminal: fields['term'],
        sig: text(fields, 'sig'),
        time: number(fields, 'time'),
        msg: text(fields, 'msg'),
        ...(fields['at'] === undefined ? {} : { at: number(fields, 'at') }),
      };
    case 'delivered': {
      const n = number(fields, 'n');
      const sigs: string[] = [];
      for (let i = 0; i < n; i++) sigs.push(text(fields, `sig.${i}`));
      return { kind: 'delivered', user: text(fields, 'user'), terminal: text(fields, 'term'), sigs };
    }
    default:
      return {
        kind: 'drain',
        user: text(fields, 'user'),
        terminal: text(fields, 'term'),
        gatewayId: text(fields, 'gw'),
        connId: text(fields, 'conn'),
        until: number(fields, 'until'),
        cursor: fields['cursor'],
      };
  }
}

// ---- the message and its envelope ---------------------------------------------------------------------

/** Fields the envelope leaves out: the payload and the attachments (what receipts never quote). */
const NOT_IN_ENVELOPE = new Set(['data', 'key', 'keys', 'meta', 'visa']);

/** The JSON text that travels as `msg`: the wire text when the message kept it, else its dictionary. */
export function messageText(message: ReliableMessage): string {
  return message.source ?? JSON.stringify(message.dict);
}

/** The `env` field: the message's dictionary without `data`, `key`, `keys`, `meta`, `visa`. */
export function envelopeText(message: ReliableMessage): string {
  const envelope: Record<string, unknown> = {};
  for (const name in message.dict) if (!NOT_IN_ENVELOPE.has(name)) envelope[name] = message.dict[name];
  return JSON.stringify(envelope);
}

/**
 * The envelope as a ReliableMessage without a payload (sender, receiver, group, time, type, signature,
 * and what else the sender put beside them): enough to route, check block lists and build receipts.
 */
export function decodeEnvelope(envelope: string): ReliableMessage {
  let dict: unknown;
  try {
    dict = JSON.parse(envelope);
  } catch {
    throw new StreamEntryError('envelope is not JSON');
  }
  if (dict === null || typeof dict !== 'object' || Array.isArray(dict)) {
    throw new StreamEntryError('envelope is not an object');
  }
  const d = dict as Record<string, unknown>;
  try {
    const group = d['group'];
    return new ReliableMessage(
      d,
      parseId(d['sender']),
      tryParseId(d['receiver']) ?? ANYONE,
      group === undefined || group === null || group === '' ? undefined : parseId(group),
    );
  } catch (err) {
    throw new StreamEntryError(`envelope with a bad ID: ${String(err)}`);
  }
}

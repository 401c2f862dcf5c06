/**
 * The dispatcher's federation decisions (reference-station.md §4.2, §4.4, §4.5, done properly):
 *  - `routeUser`: a receiver with no session here whose latest login names a neighbour → queue the message
 *    for that neighbour ("Message redirected.", `neighbor`); nothing is stored here. No route (no login
 *    elsewhere, not a neighbour, queue full, or the message already passed here / there) → the caller stores.
 *  - `acceptBroadcast` / `forwardBroadcast`: a broadcast is handled once per station (a seen mark keyed by
 *    signature and receiver, 5 h) and never when this station is already in its `traces`; it goes to every
 *    neighbour not yet in `recipients`, with `recipients` and `traces` updated: exactly once across a mesh.
 *  - `afterLocal`: a login naming another station → that user's stored messages are queued for it (roaming;
 *    each copy is marked delivered only when the neighbour acknowledges it); a meta/documents query for an
 *    ID unknown here → asked of every neighbour, at most once per ID per 10 minutes (answers are saved by
 *    the station commands when they come back).
 * Relayed copies carry the sender's meta and visa, so that a neighbour that does not trust us can verify
 * the original signature.
 */
import type { Logger } from 'pino';
import type { MessageBus } from '../bus/message-bus.ts';
import type { StationMessenger } from '../identity/station-messenger.ts';
import type { Content } from '../protocol/dkd/content.ts';
import { newCommand } from '../protocol/dkd/content.ts';
import { parseDocumentsCommand, parseMetaCommand } from '../protocol/dkd/document-commands.ts';
import { parseLogin } from '../protocol/dkd/login-command.ts';
import type { ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import { ANY_STATION, parseId } from '../protocol/mkm/identifier.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import type { RedisKeys } from '../redis/redis-keys.ts';
import type { AccountStore } from '../storage/account-store.ts';
import type { IdentityDirectory } from '../storage/identity-directory.ts';
import { DEFAULT_TERMINAL } from '../storage/inbox-store.ts';
import type { InboxStore } from '../storage/inbox-store.ts';
import { forwardFields } from './federation-entries.ts';
import type { ForwardEntry } from './federation-entries.ts';
import type { FederationStore, ReserveResult } from './federation-store.ts';

export interface FederationRouterOptions {
  readonly self: ID;
  /** Configured neighbour station IDs (naked strings). */
  readonly neighbours: readonly string[];
  readonly store: FederationStore;
  readonly bus: MessageBus;
  readonly keys: RedisKeys;
  /** Messages per neighbour queue (beyond: stored here instead). */
  readonly queueLimit: number;
  readonly accounts: AccountStore;
  readonly inbox: InboxStore;
  readonly directory: IdentityDirectory;
  readonly messenger: StationMessenger;
  readonly logger: Logger;
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
}

export const BROADCAST_SEEN_TTL_MS = 5 * 3600 * 1000;
export const QUERY_INTERVAL_MS = 10 * 60 * 1000;
/** Stored messages roamed per login at most (the reference's CACHE_LIMIT). */
export const ROAM_LIMIT = 20_480;
const ROAM_PAGE = 256;

/** Station IDs named in `traces` (`{ID|did}` items or bare strings). */
export function tracedStations(message: ReliableMessage): string[] {
  const traces = message.dict['traces'];
  if (!Array.isArray(traces)) return [];
  const out: string[] = [];
  for (const t of traces) {
    if (typeof t === 'string') out.push(t);
    else if (t !== null && typeof t === 'object') {
      const o = t as Record<string, unknown>;
      const id = o['did'] ?? o['ID'];
      if (typeof id === 'string') out.push(id);
    }
  }
  return out;
}

function recipientsOf(message: ReliableMessage): string[] {
  const r = message.dict['recipients'];
  return Array.isArray(r) ? r.filter((x): x is string => typeof x === 'string') : [];
}

export class FederationRouter {
  readonly #o: FederationRouterOptions;
  readonly #self: string;
  readonly #neighbours: ReadonlySet<string>;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(options: FederationRouterOptions) {
    this.#o = options;
    this.#self = options.self.naked().string;
    this.#neighbours = new Set(options.neighbours);
    this.#log = options.logger.child({ module: 'federation-router' });
    this.#now = options.now ?? Date.now;
  }

  get neighbours(): readonly string[] {
    return [...this.#neighbours];
  }

  isNeighbour(station: string): boolean {
    return this.#neighbours.has(station);
  }

  /**
   * Queue a message for the station where `target` is (its latest login), or for `target` itself when it is
   * a neighbour station. `envelope` is the message as received (its traces decide loops); `msg` its JSON
   * text with this station's trace already appended. Returns the neighbour, or undefined when there is no
   * route (the caller stores).
   */
  async routeUser(envelope: ReliableMessage, msg: string, target: ID): Promise<string | undefined> {
    if (this.#neighbours.size === 0) return undefined;
    let station: string | undefined;
    if (target.isStation) {
      station = target.naked().string;
    } else {
      const logins = await this.#o.accounts.getLogins(target.naked());
      const latest =
        (target.terminal !== undefined ? logins.find((l) => l.terminal === target.terminal) : undefined) ??
        logins[0];
      station = latest?.station;
    }
    if (station === undefined || station === this.#self || !this.#neighbours.has(station)) return undefined;
    const traced = tracedStations(envelope);
    // It was here before (a loop between stale login records) or already at that station: keep it here.
    if (traced.includes(this.#self) || traced.includes(station)) {
      this.#log.info(
        { code: 'FEDERATION_CYCLE', neighbour: station, receiver: target.string },
        'message already passed here or there: stored instead of forwarded',
      );
      return undefined;
    }
    const json = await this.#relayText(envelope.sender, msg);
    const result = await this.#enqueue(station, `${target.string} ${envelope.signatureText}`, json, {});
    return result === 'full' ? undefined : station;
  }

  /** Whether to handle a broadcast here: false when it cycled back or was already handled (dedup). */
  async acceptBroadcast(message: ReliableMessage): Promise<boolean> {
    if (tracedStations(message).includes(this.#self)) {
      this.#log.debug({ code: 'BROADCAST_CYCLED', sender: message.sender.string }, 'broadcast came back');
      return false;
    }
    const key = `b:${message.receiver.string}:${message.signatureText.slice(-43)}`;
    const first = await this.#o.store.firstSeen(key, BROADCAST_SEEN_TTL_MS);
    if (!first)
      this.#log.debug({ code: 'BROADCAST_DUPLICATE', sender: message.sender.string }, 'broadcast seen');
    return first;
  }

  /** Queue a broadcast for every neighbour not yet in `recipients` (or `traces`); returns them. */
  async forwardBroadcast(message: ReliableMessage): Promise<string[]> {
    const recipients = recipientsOf(message);
    const skip = new Set([...recipients, ...tracedStations(message), this.#self]);
    const targets = [...this.#neighbours].filter((n) => !skip.has(n));
    if (targets.length === 0) return [];
    const fields = { recipients: [...new Set([...recipients, this.#self, ...targets])] };
    const json = await this.#relayJson(message, fields);
    const member = `${message.receiver.string} ${message.signatureText}`;
    const sent: string[] = [];
    for (const neighbour of targets) {
      const r = await this.#enqueue(neighbour, member, json, {});
      if (r !== 'full') sent.push(neighbour);
    }
    return sent;
  }

  /** After the station processed `content` itself: roaming on login, neighbour queries for unknown IDs. */
  async afterLocal(message: ReliableMessage, content: Content): Promise<void> {
    if (this.#neighbours.size === 0) return;
    const login = parseLogin(content);
    if (login !== undefined) {
      if (login.id.isSameAs(message.sender)) await this.#roam(login.id, login.station?.id, login.terminal);
      return;
    }
    if (message.sender.isStation) return; // never re-ask on behalf of another station (query storms)
    const meta = parseMetaCommand(content);
    const docs = meta === undefined ? parseDocumentsCommand(content) : undefined;
    const id = meta?.meta === undefined ? meta?.id : undefined;
    const docId = docs?.documents === undefined ? docs?.id : undefined;
    const asked = id ?? docId;
    if (asked === undefined || asked.isBroadcast) return;
    const { directory } = this.#o;
    const known =
      (await directory.meta(asked)) !== undefined &&
      (id !== undefined || (await directory.documents(asked)).length > 0);
    if (known) return;
    await this.askNeighbours(asked);
  }

  /** Ask every neighbour for `id`'s meta and documents, at most once per 10 minutes per ID. */
  async askNeighbours(id: ID): Promise<number> {
    if (!(await this.#o.store.firstSeen(`q:${id.naked().string}`, QUERY_INTERVAL_MS))) return 0;
    const now = this.#now();
    const query = await this.#o.messenger.pack(
      ANY_STATION,
      newCommand('documents', now / 1000, { did: id.naked().string }),
    );
    const json = JSON.stringify(query.dict);
    let asked = 0;
    for (const neighbour of this.#neighbours) {
      const r = await this.#enqueue(neighbour, `query ${id.naked().string}`, json, {});
      if (r === 'reserved') asked += 1;
    }
    this.#log.info({ code: 'NEIGHBOUR_QUERY', did: id.string, neighbours: asked }, 'asked neighbours');
    return asked;
  }

  async #roam(user: ID, stationId: ID | undefined, terminal: string | undefined): Promise<void> {
    const station = stationId?.naked().string;
    if (station === undefined || station === this.#self || !this.#neighbours.has(station)) return;
    // Only when this login is the user's latest (an old login relayed late must not pull messages away).
    const latest = (await this.#o.accounts.getLogins(user.naked()))[0];
    if (latest !== undefined && latest.station !== station) return;
    const name = user.naked().string;
    const term = terminal ?? DEFAULT_TERMINAL;
    let cursor: string | undefined;
    let queued = 0;
    const until = this.#now();
    do {
      const page = await this.#o.inbox.page(name, term, {
        limit: ROAM_PAGE,
        until,
        ...(cursor === undefined ? {} : { cursor }),
      });
      for (const entry of page.entries) {
        let json = entry.json;
        try {
          json = await this.#relayText(undefined, entry.json);
        } catch {
          // stored before the checks of today: sent as it is
        }
        const r = await this.#enqueue(station, `${name} ${entry.sig}`, json, {
          roam: { user: name, terminal: term, sig: entry.sig },
        });
        if (r === 'full') {
          this.#log.warn({ code: 'ROAM_QUEUE_FULL', neighbour: station, user: name }, 'roaming paused');
          return;
        }
        queued += 1;
      }
      cursor = page.next;
    } while (cursor !== undefined && queued < ROAM_LIMIT);
    if (queued > 0)
      this.#log.info({ code: 'ROAMING', user: name, neighbour: station, messages: queued }, 'user roamed');
  }

  /** A message text (our trace already in it) with the sender's meta and visa attached when missing. */
  async #relayText(sender: ID | undefined, msg: string): Promise<string> {
    const dict = JSON.parse(msg) as Record<string, unknown>;
    if (dict['meta'] !== undefined && dict['visa'] !== undefined) return msg;
    await this.#attach(dict, sender ?? parseId(dict['sender']));
    return JSON.stringify(dict);
  }

  /** The copy a neighbour gets: our trace appended, the sender's meta and visa attached when missing. */
  async #relayJson(message: ReliableMessage, fields: Record<string, unknown>, trace = true): Promise<string> {
    const dict: Record<string, unknown> = { ...message.dict, ...fields };
    const traces = Array.isArray(dict['traces']) ? (dict['traces'] as unknown[]) : [];
    if (trace) dict['traces'] = [...traces, { ID: this.#self, did: this.#self, time: this.#now() / 1000 }];
    await this.#attach(dict, message.sender);
    return JSON.stringify(dict);
  }

  /** The neighbour needs the sender's meta and visa to verify (if it does not trust us) and to encrypt its
   * receipts to the sender. */
  async #attach(dict: Record<string, unknown>, sender: ID): Promise<void> {
    if (dict['meta'] !== undefined && dict['visa'] !== undefined) return;
    const { directory } = this.#o;
    const id = sender.naked();
    const [meta, visas] = await Promise.all([directory.meta(id), directory.visas(id)]);
    if (dict['meta'] === undefined && meta !== undefined) dict['meta'] = meta.toJSON();
    const visa = visas.sort((a, b) => b.time - a.time)[0];
    if (dict['visa'] === undefined && visa !== undefined) dict['visa'] = visa.toJSON();
  }

  async #enqueue(
    neighbour: string,
    member: string,
    json: string,
    options: { roam?: ForwardEntry['roam'] },
  ): Promise<ReserveResult> {
    const { store, bus, keys, queueLimit } = this.#o;
    const r = await store.reserve(neighbour, member, queueLimit, this.#now());
    if (r === 'full') {
      this.#log.warn({ code: 'FEDERATION_QUEUE_FULL', neighbour }, 'neighbour queue full');
      return r;
    }
    if (r === 'duplicate') return r;
    const entry: ForwardEntry = {
      kind: 'forward',
      neighbour,
      member,
      json,
      ...(options.roam === undefined ? {} : { roam: options.roam }),
    };
    try {
      // no order key: the bridge writes entries in stream order over one connection (pipelined)
      await bus.publish(keys.federationQueue(neighbour), forwardFields(entry));
    } catch (err) {
      await store.release(neighbour, member).catch(() => undefined);
      throw err;
    }
    return r;
  }
}

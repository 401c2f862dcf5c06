/**
 * A DIM client over any ClientTransport, speaking to any DIMP station the way real clients do
 * (dimp-protocol.md §5, §6.4, §9; reference-station.md §3):
 *
 * - handshake: Start = broadcast `handshake` `Hello world!` to `station@anywhere` with `group:
 *   stations@everywhere` in the content and the user's meta + visa attached; the station's `DIM?` (encrypted
 *   to the visa key, carrying the station's meta + visa) is verified (meta generates the sender, visa
 *   verifies, signature verifies), then Restart = `Hello world!` + `session` to the station ID, encrypted to
 *   its visa key; `DIM!` completes it. A `DIM?` with `force: true` at any later time triggers a new Restart
 *   (`autoRehandshake`).
 * - login (broadcast to `everyone@everywhere`), report (to the station), contents to other users (encrypted
 *   with their visa keys from the key directory), receipts and received messages as events, an async
 *   iterator, and `waitFor` with a bounded event history so that tests never race.
 *
 * Every method returns promptly: sends resolve when the transport says so (MTP: the station's `OK`;
 * WebSocket: written), waits take explicit timeouts.
 */
import type { SymmetricKey } from '../protocol/crypto/symmetric-key.ts';
import { AesKey } from '../protocol/crypto/symmetric-key.ts';
import { attachedMeta, attachedVisa } from '../protocol/dkd/attachments.ts';
import { ContentType } from '../protocol/dkd/content-type.ts';
import { compatContent, newCommand, nextSerialNumber } from '../protocol/dkd/content.ts';
import type { Content } from '../protocol/dkd/content.ts';
import { AGAIN, HELLO, parseHandshake, SUCCESS } from '../protocol/dkd/handshake-command.ts';
import { openMessage, packMessage, verifyMessage } from '../protocol/dkd/message-packer.ts';
import { parseReliableMessage, ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import type { Document } from '../protocol/mkm/document.ts';
import { ANY_STATION, EVERY_STATION, EVERYONE, parseId } from '../protocol/mkm/identifier.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import type { Meta } from '../protocol/mkm/meta.ts';
import { ProtocolError } from '../protocol/protocol-error.ts';
import { ClientError } from './client-error.ts';
import type { ClientTransport, TransportCloseInfo } from './client-transport.ts';
import type { ContactInput } from './key-directory.ts';
import { KeyDirectory } from './key-directory.ts';
import { ListenerSet } from './listener-set.ts';
import type { UserIdentity } from './user-identity.ts';

export interface DimClientOptions {
  readonly transport: ClientTransport;
  readonly identity: UserIdentity;
  /** Other entities' metas and visas; may be shared between clients. A new one by default. */
  readonly keyDirectory?: KeyDirectory;
  /** Seconds since the epoch (message and content times). Default: the wall clock. */
  readonly now?: () => number;
  /** Answer a `DIM?` with `force: true` by handshaking again (default true). */
  readonly autoRehandshake?: boolean;
  /** Default handshake timeout (ms, default 10000). */
  readonly handshakeTimeoutMs?: number;
  /** How long login/report wait for a receipt (ms, default 3000). */
  readonly receiptTimeoutMs?: number;
  /** Events kept for `waitFor({since})` / `waitReceipt` (default 1000). */
  readonly historyLimit?: number;
  /**
   * Encrypted-key field of personal messages: `keys` (map keyed by the bare receiver ID, readable by every
   * generation; default) or classic `key` (as the Python client of the captured traces).
   */
  readonly keyStyle?: 'keys' | 'key';
  /** Envelope `type` as an integer (default) or a decimal string (`"136"`, as the Python SDK writes it). */
  readonly envelopeType?: 'number' | 'string';
  /** Reuse one AES key per receiver, as real clients do (default true). */
  readonly reuseKeys?: boolean;
  /** `agent` string of login commands. */
  readonly agent?: string;
}

export interface HandshakeOptions {
  /** The station expected to answer; a reply from another station fails the handshake. */
  readonly stationId?: ID | string;
  readonly timeoutMs?: number;
}

export interface HandshakeResult {
  readonly stationId: ID;
  readonly sessionKey: string;
  /** The client address as the station sees it (`remote_address`), if it said. */
  readonly remoteAddress: readonly [string, number] | undefined;
  /** Milliseconds from Start to `DIM!`. */
  readonly elapsedMs: number;
}

export interface SendOptions {
  /** Exposed group ID in the envelope. */
  readonly group?: ID | string;
  /** Attach the user's meta and visa (first contact). */
  readonly attachIdentity?: boolean;
}

export interface SentMessage {
  readonly message: ReliableMessage;
  /** The exact text sent. */
  readonly text: string;
  /** The content dictionary as packed (compatible form, with `sn` and `time`). */
  readonly content: Record<string, unknown>;
  readonly sn: number;
  /** performance.now() before the send and when the transport resolved it (MTP: the station's `OK`). */
  readonly sentAt: number;
  readonly ackedAt: number;
  /** Event sequence number before sending (`waitFor({since})`, `waitReceipt`). */
  readonly eventMark: number;
}

interface EventBase {
  /** Sequence number in this client's event history. */
  readonly seq: number;
  /** performance.now() at reception. */
  readonly receivedAt: number;
}

export interface ReceivedMessage extends EventBase {
  readonly kind: 'message';
  readonly sender: ID;
  readonly receiver: ID;
  readonly content: Content;
  readonly raw: ReliableMessage;
  /** Whether the signature was verified (false only when the sender's keys are unknown). */
  readonly verified: boolean;
}

export interface ReceivedReceipt extends Omit<ReceivedMessage, 'kind'> {
  readonly kind: 'receipt';
  readonly text: string | undefined;
  /** `origin` (or v1 `envelope`): the envelope of the message this receipt is about. */
  readonly origin: Record<string, unknown> | undefined;
  readonly template: string | undefined;
  readonly replacements: Record<string, unknown> | undefined;
}

export interface HandshakeEvent extends Omit<ReceivedMessage, 'kind'> {
  readonly kind: 'handshake';
  readonly title: string;
  readonly session: string | undefined;
  readonly force: boolean;
  readonly remoteAddress: readonly [string, number] | undefined;
}

export interface InvalidEvent extends EventBase {
  readonly kind: 'invalid';
  /** The received text. */
  readonly body: string;
  readonly error: Error;
}

export type ClientEvent = ReceivedMessage | ReceivedReceipt | HandshakeEvent | InvalidEvent;

export interface DimClientEventMap {
  message: ReceivedMessage;
  receipt: ReceivedReceipt;
  handshake: HandshakeEvent;
  invalid: InvalidEvent;
  /** Every event above. */
  event: ClientEvent;
  close: TransportCloseInfo;
}

export interface WaitOptions {
  /** Also match events already received since this mark (`mark()`, `SentMessage.eventMark`). */
  readonly since?: number;
}

export interface LoginOptions {
  /** Published station address; default the station visa's host/port, else the socket's remote address. */
  readonly host?: string;
  readonly port?: number;
  readonly agent?: string;
  readonly receiptTimeoutMs?: number;
}

export interface ReportOptions {
  /** Default: the client's receiptTimeoutMs, 0 for `offline` (the station does not answer it). */
  readonly receiptTimeoutMs?: number;
}

interface HandshakeAttempt {
  readonly promise: Promise<HandshakeResult>;
  readonly resolve: (result: HandshakeResult) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
  readonly expected: ID | undefined;
  readonly start: number;
  startSent: boolean;
  session: string | undefined;
  restarts: number;
  remoteAddress: readonly [string, number] | undefined;
}

interface Waiter {
  readonly predicate: (event: ClientEvent) => boolean;
  readonly resolve: (event: ClientEvent) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const DEFAULT_RECEIPT_TIMEOUT_MS = 3_000;
const DEFAULT_HISTORY_LIMIT = 1000;
const DEFAULT_WAIT_MS = 5_000;
/** A station answering `DIM?` to every Restart is broken: give up after this many. */
const MAX_RESTARTS = 5;
const SEND_KEY_CACHE_LIMIT = 4096;
/** Envelope field order of real clients (captured traces); other fields follow. */
const FIELD_ORDER = [
  'sender',
  'receiver',
  'time',
  'group',
  'meta',
  'visa',
  'SDT',
  'IV',
  'data',
  'key',
  'keys',
];
const FIELD_ORDER_TAIL = ['type', 'signature'];

function toId(value: ID | string): ID {
  return typeof value === 'string' ? parseId(value) : value;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function remoteAddressOf(value: unknown): readonly [string, number] | undefined {
  if (Array.isArray(value) && typeof value[0] === 'string' && typeof value[1] === 'number') {
    return [value[0], value[1]];
  }
  return undefined;
}

function dictOf(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

export class DimClient {
  readonly identity: UserIdentity;
  readonly transport: ClientTransport;
  readonly keyDirectory: KeyDirectory;
  /** Answer a `DIM?` with `force: true` by handshaking again. */
  autoRehandshake: boolean;
  /** Number of handshakes started by a forced `DIM?`. */
  rehandshakes = 0;
  readonly #now: () => number;
  readonly #handshakeTimeoutMs: number;
  readonly #receiptTimeoutMs: number;
  readonly #historyLimit: number;
  readonly #keyStyle: 'keys' | 'key';
  readonly #envelopeType: 'number' | 'string';
  readonly #reuseKeys: boolean;
  readonly #agent: string | undefined;
  readonly #terminals: string[];
  readonly #sendKeys = new Map<string, SymmetricKey>();
  readonly #receiveKeys = new Map<string, SymmetricKey>();
  readonly #history: ClientEvent[] = [];
  readonly #waiters = new Set<Waiter>();
  readonly #listeners: { [K in keyof DimClientEventMap]: ListenerSet<DimClientEventMap[K]> } = {
    message: new ListenerSet(),
    receipt: new ListenerSet(),
    handshake: new ListenerSet(),
    invalid: new ListenerSet(),
    event: new ListenerSet(),
    close: new ListenerSet(),
  };
  readonly #unsubscribe: Array<() => void> = [];
  #seq = 0;
  #attempt: HandshakeAttempt | undefined;
  #station: ID | undefined;
  #sessionKey: string | undefined;
  #remoteAddress: readonly [string, number] | undefined;
  #handshaken = false;
  #closed = false;
  #closeInfo: TransportCloseInfo | undefined;
  #closePromise: Promise<void> | undefined;

  constructor(options: DimClientOptions) {
    this.identity = options.identity;
    this.transport = options.transport;
    this.keyDirectory = options.keyDirectory ?? new KeyDirectory();
    this.autoRehandshake = options.autoRehandshake ?? true;
    this.#now = options.now ?? (() => Date.now() / 1000);
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.#receiptTimeoutMs = options.receiptTimeoutMs ?? DEFAULT_RECEIPT_TIMEOUT_MS;
    this.#historyLimit = Math.max(1, options.historyLimit ?? DEFAULT_HISTORY_LIMIT);
    this.#keyStyle = options.keyStyle ?? 'keys';
    this.#envelopeType = options.envelopeType ?? 'number';
    this.#reuseKeys = options.reuseKeys ?? true;
    this.#agent = options.agent;
    const terminal = this.identity.terminal ?? this.identity.visa.terminal;
    this.#terminals = terminal === undefined ? [] : [terminal];
    // our own identity, so that messages we send to ourselves (and echoes) verify
    this.keyDirectory.add({ id: this.identity.id, meta: this.identity.meta, visa: this.identity.visa });
    this.#unsubscribe.push(this.transport.onMessage((body) => this.#onBody(body)));
    this.#unsubscribe.push(this.transport.onClose((info) => this.#onTransportClosed(info)));
  }

  get id(): ID {
    return this.identity.id;
  }

  /** Whether the last handshake succeeded and no forced `DIM?` came since. */
  get handshaken(): boolean {
    return this.#handshaken;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The station learnt from the handshake. */
  get stationId(): ID | undefined {
    return this.#station;
  }

  get stationMeta(): Meta | undefined {
    return this.#station === undefined ? undefined : this.keyDirectory.meta(this.#station);
  }

  get stationVisa(): Document | undefined {
    return this.#station === undefined ? undefined : this.keyDirectory.visas(this.#station)[0];
  }

  get sessionKey(): string | undefined {
    return this.#sessionKey;
  }

  get remoteAddress(): readonly [string, number] | undefined {
    return this.#remoteAddress;
  }

  /** How the transport closed, once it has. */
  get closeInfo(): TransportCloseInfo | undefined {
    return this.#closeInfo;
  }

  /** Add another user's (or a station's) meta and visa, so that messages to and from it can be packed / verified. */
  addContact(contact: UserIdentity | ContactInput): void {
    this.keyDirectory.add({ id: contact.id, meta: contact.meta, visa: contact.visa });
  }

  on<K extends keyof DimClientEventMap>(
    name: K,
    listener: (value: DimClientEventMap[K]) => void,
  ): () => void {
    return this.#listeners[name].add(listener);
  }

  /** The current event sequence number: `waitFor(…, {since: mark})` also sees events from here on. */
  mark(): number {
    return this.#seq;
  }

  /** Events still in the history (at most `historyLimit`), oldest first. */
  get history(): readonly ClientEvent[] {
    return this.#history;
  }

  // ---- handshake -------------------------------------------------------------------------------------

  /** Run the handshake (concurrent calls share one attempt); rejects with HANDSHAKE_TIMEOUT / HANDSHAKE_FAILED / CLOSED. */
  handshake(options: HandshakeOptions = {}): Promise<HandshakeResult> {
    if (this.#closed) return Promise.reject(new ClientError('CLOSED', 'the client is closed'));
    if (this.#attempt !== undefined) return this.#attempt.promise;
    const attempt = this.#newAttempt(
      options.stationId === undefined ? undefined : toId(options.stationId),
      options.timeoutMs ?? this.#handshakeTimeoutMs,
    );
    this.#sendStart(attempt);
    return attempt.promise;
  }

  #newAttempt(expected: ID | undefined, timeoutMs: number): HandshakeAttempt {
    let resolve!: (result: HandshakeResult) => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<HandshakeResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const attempt: HandshakeAttempt = {
      promise,
      resolve,
      reject,
      expected,
      start: performance.now(),
      startSent: false,
      session: undefined,
      restarts: 0,
      remoteAddress: undefined,
      timer: setTimeout(() => {
        this.#failAttempt(
          attempt,
          new ClientError('HANDSHAKE_TIMEOUT', `no DIM! from the station within ${timeoutMs} ms`),
        );
      }, timeoutMs),
    };
    this.#attempt = attempt;
    return attempt;
  }

  #failAttempt(attempt: HandshakeAttempt, err: Error): void {
    if (this.#attempt !== attempt) return;
    this.#attempt = undefined;
    clearTimeout(attempt.timer);
    attempt.reject(err);
  }

  /** Start: to `station@anywhere` (broadcast), or to the expected station when its keys are known. */
  #sendStart(attempt: HandshakeAttempt): void {
    attempt.startSent = true;
    const expected = attempt.expected;
    const receiver =
      expected !== undefined && this.keyDirectory.encryptKeys(expected).length > 0 ? expected : ANY_STATION;
    const content = newCommand('handshake', this.#now(), {
      title: HELLO,
      message: HELLO,
      group: EVERY_STATION.string,
    });
    this.#sendForAttempt(attempt, receiver, content, true);
  }

  #sendRestart(attempt: HandshakeAttempt, station: ID, session: string): void {
    attempt.session = session;
    attempt.restarts += 1;
    const content = newCommand('handshake', this.#now(), { title: HELLO, message: HELLO, session });
    this.#sendForAttempt(attempt, station, content, false);
  }

  #sendForAttempt(
    attempt: HandshakeAttempt,
    receiver: ID,
    content: Record<string, unknown>,
    attachIdentity: boolean,
  ): void {
    let text: string;
    try {
      text = this.#pack(receiver, content, { attachIdentity }).text;
    } catch (err) {
      this.#failAttempt(
        attempt,
        new ClientError('HANDSHAKE_FAILED', 'cannot pack the handshake', { cause: err }),
      );
      return;
    }
    this.transport.send(text).catch((err: unknown) => {
      // a missing OK is covered by the handshake timeout; a closed connection ends the attempt now
      if (err instanceof ClientError && err.code === 'CLOSED') this.#failAttempt(attempt, err);
    });
  }

  #onHandshake(event: HandshakeEvent): void {
    if (event.title === AGAIN) this.#onAgain(event);
    else if (event.title === SUCCESS) this.#onSuccess(event);
  }

  #onAgain(event: HandshakeEvent): void {
    if (event.session === undefined) return;
    let attempt = this.#attempt;
    if (attempt === undefined) {
      if (!event.force || !this.autoRehandshake || this.#closed) return;
      this.#handshaken = false;
      this.rehandshakes += 1;
      attempt = this.#newAttempt(this.#station, this.#handshakeTimeoutMs);
      attempt.promise.catch(() => {}); // nobody awaits an automatic re-handshake; it is observable as events
    }
    attempt.remoteAddress = event.remoteAddress ?? attempt.remoteAddress;
    const station = event.sender;
    const problem = this.#stationProblem(attempt, event);
    if (problem !== undefined) {
      // A forced DIM? from a station we cannot verify yet: introduce ourselves first (its reply attaches its keys).
      if (!attempt.startSent) this.#sendStart(attempt);
      else this.#failAttempt(attempt, new ClientError('HANDSHAKE_FAILED', problem));
      return;
    }
    if (attempt.restarts >= MAX_RESTARTS) {
      this.#failAttempt(attempt, new ClientError('HANDSHAKE_FAILED', 'the station keeps answering DIM?'));
      return;
    }
    this.#station = station.naked();
    this.#sendRestart(attempt, station.naked(), event.session);
  }

  /** Why a handshake reply cannot be trusted, or undefined when it can. */
  #stationProblem(attempt: HandshakeAttempt, event: HandshakeEvent): string | undefined {
    if (attempt.expected !== undefined && !event.sender.isSameAs(attempt.expected)) {
      return `handshake answered by ${event.sender.string}, expected ${attempt.expected.string}`;
    }
    if (!event.verified) return `cannot verify the handshake reply of ${event.sender.string} (no meta)`;
    if (this.keyDirectory.encryptKeys(event.sender).length === 0) {
      return `no visa key to encrypt for ${event.sender.string}`;
    }
    return undefined;
  }

  #onSuccess(event: HandshakeEvent): void {
    const attempt = this.#attempt;
    if (attempt === undefined || !event.verified) return;
    if (attempt.session !== undefined && event.session !== undefined && event.session !== attempt.session)
      return;
    if (attempt.expected !== undefined && !event.sender.isSameAs(attempt.expected)) return;
    this.#attempt = undefined;
    clearTimeout(attempt.timer);
    this.#station = event.sender.naked();
    this.#sessionKey = event.session ?? attempt.session;
    this.#remoteAddress = event.remoteAddress ?? attempt.remoteAddress;
    this.#handshaken = true;
    attempt.resolve({
      stationId: this.#station,
      sessionKey: this.#sessionKey ?? '',
      remoteAddress: this.#remoteAddress,
      elapsedMs: performance.now() - attempt.start,
    });
  }

  // ---- station commands ------------------------------------------------------------------------------

  /** Broadcast a `login` to `everyone@everywhere`; resolves with the receipt text, if one comes in time. */
  async login(options: LoginOptions = {}): Promise<string | undefined> {
    const station = this.#requireStation();
    const visa = this.stationVisa?.properties;
    const visaHost = typeof visa?.['host'] === 'string' ? visa['host'] : undefined;
    const visaPort = typeof visa?.['port'] === 'number' ? visa['port'] : undefined;
    const host = options.host ?? visaHost ?? this.transport.remoteHost;
    const port = options.port ?? visaPort ?? this.transport.remotePort;
    const stationInfo: Record<string, unknown> = { did: station.string };
    if (host !== undefined) stationInfo['host'] = host;
    if (port !== undefined) stationInfo['port'] = port;
    stationInfo['ID'] = station.string;
    const fields: Record<string, unknown> = { did: this.id.string };
    const agent = options.agent ?? this.#agent;
    if (agent !== undefined) fields['agent'] = agent;
    fields['station'] = stationInfo;
    if (this.#terminals[0] !== undefined) fields['terminal'] = this.#terminals[0];
    const sent = await this.sendContent(EVERYONE, newCommand('login', this.#now(), fields));
    const receipt = await this.waitReceipt(sent, options.receiptTimeoutMs ?? this.#receiptTimeoutMs);
    return receipt?.text;
  }

  /** `report` online/offline to the station (encrypted); resolves with the receipt text, if one comes in time. */
  async report(title: string, options: ReportOptions = {}): Promise<string | undefined> {
    const station = this.#requireStation();
    const sent = await this.sendContent(station, newCommand('report', this.#now(), { title }));
    const timeout = options.receiptTimeoutMs ?? (title === 'offline' ? 0 : this.#receiptTimeoutMs);
    return (await this.waitReceipt(sent, timeout))?.text;
  }

  /** Send a command content (to the station by default). */
  async sendCommand(
    command: string,
    fields: Record<string, unknown> = {},
    receiver?: ID | string,
    options: SendOptions = {},
  ): Promise<SentMessage> {
    const to = receiver === undefined ? this.#requireStation() : toId(receiver);
    return this.sendContent(to, newCommand(command, this.#now(), fields), options);
  }

  #requireStation(): ID {
    if (this.#station === undefined)
      throw new ClientError('NOT_HANDSHAKEN', 'no station known: handshake first');
    return this.#station;
  }

  // ---- sending ---------------------------------------------------------------------------------------

  /** Send a text content. `extra` fields are merged into the content. */
  sendText(
    receiver: ID | string,
    text: string,
    options: SendOptions & { readonly extra?: Record<string, unknown> } = {},
  ): Promise<SentMessage> {
    return this.sendContent(receiver, { ...options.extra, type: ContentType.TEXT, text }, options);
  }

  /**
   * Pack (encrypt to the receiver's visa keys; plaintext for broadcasts), sign and send a content. `sn` and
   * `time` are added when missing. Rejects with NO_KEY_FOR_RECEIVER, CLOSED, ACK_TIMEOUT (MTP).
   */
  async sendContent(
    receiver: ID | string,
    content: Record<string, unknown>,
    options: SendOptions = {},
  ): Promise<SentMessage> {
    if (this.#closed) throw new ClientError('CLOSED', 'the client is closed');
    const packed = this.#pack(toId(receiver), content, options);
    const eventMark = this.#seq;
    const sentAt = performance.now();
    await this.transport.send(packed.text);
    return { ...packed, sentAt, ackedAt: performance.now(), eventMark };
  }

  /** Pack a content without sending it (for tests sending raw or modified messages). */
  pack(
    receiver: ID | string,
    content: Record<string, unknown>,
    options: SendOptions = {},
  ): Pick<SentMessage, 'message' | 'text' | 'content' | 'sn'> {
    return this.#pack(toId(receiver), content, options);
  }

  #pack(
    receiver: ID,
    content: Record<string, unknown>,
    options: SendOptions,
  ): Pick<SentMessage, 'message' | 'text' | 'content' | 'sn'> {
    const now = this.#now();
    const sn = typeof content['sn'] === 'number' ? content['sn'] : nextSerialNumber();
    const dict = compatContent({ ...content, sn, time: content['time'] ?? now });
    const group = options.group === undefined ? undefined : toId(options.group);
    const broadcast = receiver.isBroadcast || (group !== undefined && group.isBroadcast);
    const receiverKeys = broadcast ? [] : this.keyDirectory.encryptKeys(receiver);
    if (!broadcast && receiverKeys.length === 0) {
      throw new ClientError('NO_KEY_FOR_RECEIVER', `no visa or meta key known for ${receiver.string}`);
    }
    const packed = packMessage({
      sender: this.id,
      receiver,
      group,
      content: dict,
      time: now,
      signer: this.identity.signKey,
      receiverKeys,
      symmetricKey: broadcast ? undefined : this.#sendKey(receiver),
      attachments: options.attachIdentity
        ? { meta: this.identity.meta.toJSON(), visa: this.identity.visa.toJSON() }
        : undefined,
    });
    const wire = this.#wireForm(packed.dict);
    const message = new ReliableMessage(wire, packed.sender, packed.receiver, packed.group);
    return { message, text: JSON.stringify(wire), content: dict, sn };
  }

  #sendKey(receiver: ID): SymmetricKey | undefined {
    if (!this.#reuseKeys) return undefined;
    const direction = receiver.naked().string;
    let key = this.#sendKeys.get(direction);
    if (key === undefined) {
      if (this.#sendKeys.size >= SEND_KEY_CACHE_LIMIT) this.#sendKeys.clear();
      key = AesKey.generate();
      this.#sendKeys.set(direction, key);
    }
    return key;
  }

  /** Field order of real clients; classic `key` and string envelope type when configured. */
  #wireForm(dict: Record<string, unknown>): Record<string, unknown> {
    const source = { ...dict };
    if (this.#keyStyle === 'key') {
      const keys = dictOf(source['keys']);
      const entries = keys === undefined ? [] : Object.entries(keys);
      if (entries.length === 1 && entries[0] !== undefined) {
        source['key'] = entries[0][1];
        delete source['keys'];
      }
    }
    if (this.#envelopeType === 'string' && typeof source['type'] === 'number') {
      source['type'] = String(source['type']);
    }
    const out: Record<string, unknown> = {};
    for (const name of FIELD_ORDER) if (name in source) out[name] = source[name];
    for (const [name, value] of Object.entries(source)) {
      if (!(name in out) && !FIELD_ORDER_TAIL.includes(name)) out[name] = value;
    }
    for (const name of FIELD_ORDER_TAIL) if (name in source) out[name] = source[name];
    return out;
  }

  // ---- receiving -------------------------------------------------------------------------------------

  #onBody(body: string): void {
    if (this.#closed) return;
    const lines = body.includes('\n') ? body.split(/\r?\n/) : [body];
    for (const line of lines) {
      const text = line.trim();
      if (text.length > 0) this.#onText(text);
    }
  }

  #onText(text: string): void {
    const receivedAt = performance.now();
    let message: ReliableMessage;
    try {
      message = parseReliableMessage(text);
    } catch (err) {
      this.#record({ kind: 'invalid', seq: this.#seq, receivedAt, body: text, error: asError(err) });
      return;
    }
    let content: Content;
    let verified = false;
    let senderError: Error | undefined;
    try {
      if (!message.isBroadcast && !message.receiver.isSameAs(this.id)) {
        throw new ProtocolError('BAD_MESSAGE', `message addressed to ${message.receiver.string}`);
      }
      try {
        verified = this.#checkSender(message);
      } catch (err) {
        senderError = asError(err);
      }
      const direction = message.sender.naked().string;
      const opened = openMessage(message, {
        privateKeys: this.identity.decryptKeys,
        terminals: this.#terminals,
        cachedKey: this.#receiveKeys.get(direction),
      });
      if (senderError === undefined && opened.key.algorithm === 'AES')
        this.#receiveKeys.set(direction, opened.key);
      content = opened.content;
    } catch (err) {
      this.#record({ kind: 'invalid', seq: this.#seq, receivedAt, body: text, error: asError(err) });
      return;
    }
    if (senderError !== undefined) {
      // A handshake reply whose meta, visa or signature does not check out ends the handshake at once.
      const attempt = this.#attempt;
      if (attempt !== undefined && content.command === 'handshake') {
        this.#failAttempt(
          attempt,
          new ClientError('HANDSHAKE_FAILED', `handshake reply rejected: ${senderError.message}`, {
            cause: senderError,
          }),
        );
      }
      this.#record({ kind: 'invalid', seq: this.#seq, receivedAt, body: text, error: senderError });
      return;
    }
    this.#dispatch(message, content, verified, receivedAt);
  }

  /** Store attached meta/visa (after checking them) and verify the signature; false when the sender is unknown. */
  #checkSender(message: ReliableMessage): boolean {
    const meta = attachedMeta(message);
    if (meta !== undefined) this.keyDirectory.addMeta(message.sender, meta);
    const known = this.keyDirectory.meta(message.sender);
    if (known !== undefined && message.visa !== undefined && message.visa !== null) {
      const visa = attachedVisa(message, known);
      if (visa !== undefined) this.keyDirectory.addVisa(visa);
    }
    const keys = this.keyDirectory.verifyKeys(message.sender);
    if (keys.length === 0) return false;
    if (!verifyMessage(message, keys)) {
      throw new ProtocolError('SIGNATURE_INVALID', `signature of ${message.sender.string} does not verify`);
    }
    return true;
  }

  #dispatch(raw: ReliableMessage, content: Content, verified: boolean, receivedAt: number): void {
    const base = {
      seq: this.#seq,
      receivedAt,
      sender: raw.sender,
      receiver: raw.receiver,
      content,
      raw,
      verified,
    };
    const handshake = content.type === ContentType.COMMAND ? parseHandshake(content) : undefined;
    if (handshake !== undefined) {
      const event: HandshakeEvent = {
        ...base,
        kind: 'handshake',
        title: handshake.title,
        session: handshake.session,
        force: content.dict['force'] === true,
        remoteAddress: remoteAddressOf(content.dict['remote_address']),
      };
      this.#onHandshake(event);
      this.#record(event);
      return;
    }
    if (content.command === 'receipt') {
      const text = content.dict['text'];
      const template = content.dict['template'];
      this.#record({
        ...base,
        kind: 'receipt',
        text: typeof text === 'string' ? text : undefined,
        origin: dictOf(content.dict['origin']) ?? dictOf(content.dict['envelope']),
        template: typeof template === 'string' ? template : undefined,
        replacements: dictOf(content.dict['replacements']),
      });
      return;
    }
    this.#record({ ...base, kind: 'message' });
  }

  #record(event: ClientEvent): void {
    this.#seq += 1;
    this.#history.push(event);
    if (this.#history.length > this.#historyLimit) {
      this.#history.splice(0, this.#history.length - this.#historyLimit);
    }
    for (const waiter of [...this.#waiters]) {
      let matched = false;
      try {
        matched = waiter.predicate(event);
      } catch (err) {
        this.#waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.reject(asError(err));
        continue;
      }
      if (matched) {
        this.#waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(event);
      }
    }
    switch (event.kind) {
      case 'message':
        this.#listeners.message.emit(event);
        break;
      case 'receipt':
        this.#listeners.receipt.emit(event);
        break;
      case 'handshake':
        this.#listeners.handshake.emit(event);
        break;
      case 'invalid':
        this.#listeners.invalid.emit(event);
        break;
    }
    this.#listeners.event.emit(event);
  }

  // ---- waiting ---------------------------------------------------------------------------------------

  /**
   * The first event matching `predicate` (received after this call, or since `options.since`); rejects with
   * TIMEOUT or CLOSED.
   */
  waitFor(
    predicate: (event: ClientEvent) => boolean,
    timeoutMs: number = DEFAULT_WAIT_MS,
    options: WaitOptions = {},
  ): Promise<ClientEvent> {
    if (options.since !== undefined) {
      const past = this.#history.find((event) => event.seq >= (options.since as number) && predicate(event));
      if (past !== undefined) return Promise.resolve(past);
    }
    if (this.#closed) return Promise.reject(new ClientError('CLOSED', 'the client is closed'));
    return new Promise<ClientEvent>((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          reject(new ClientError('TIMEOUT', `no matching event within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiters.add(waiter);
    });
  }

  /** The next received message (not receipt / handshake) matching `predicate`. */
  async waitForMessage(
    predicate: (message: ReceivedMessage) => boolean = () => true,
    timeoutMs: number = DEFAULT_WAIT_MS,
    options: WaitOptions = {},
  ): Promise<ReceivedMessage> {
    const event = await this.waitFor((e) => e.kind === 'message' && predicate(e), timeoutMs, options);
    return event as ReceivedMessage;
  }

  /** The receipt the station sent about `sent` (matched by signature or sn), or undefined after `timeoutMs`. */
  async waitReceipt(
    sent: SentMessage,
    timeoutMs: number = this.#receiptTimeoutMs,
  ): Promise<ReceivedReceipt | undefined> {
    const matches = (event: ClientEvent): boolean =>
      event.kind === 'receipt' && this.#receiptMatches(event, sent);
    const past = this.#history.find((event) => event.seq >= sent.eventMark && matches(event));
    if (past !== undefined) return past as ReceivedReceipt;
    if (timeoutMs <= 0 || this.#closed) return undefined;
    try {
      return (await this.waitFor(matches, timeoutMs)) as ReceivedReceipt;
    } catch (err) {
      if (err instanceof ClientError && (err.code === 'TIMEOUT' || err.code === 'CLOSED')) return undefined;
      throw err;
    }
  }

  #receiptMatches(receipt: ReceivedReceipt, sent: SentMessage): boolean {
    const origin = receipt.origin ?? {};
    const top = receipt.content.dict;
    const signature = origin['signature'] ?? top['signature'];
    if (typeof signature === 'string' && signature.length > 0)
      return signature === sent.message.signatureText;
    const sn = origin['sn'] ?? top['sn'];
    const sender = origin['sender'];
    return sn === sent.sn && (sender === undefined || sender === this.id.string);
  }

  /** Received messages (not receipts or handshakes) from now on, until the client closes. */
  messages(): AsyncIterableIterator<ReceivedMessage> {
    const queue: ReceivedMessage[] = [];
    let waiting: ((result: IteratorResult<ReceivedMessage>) => void) | undefined;
    let done = this.#closed;
    const finish = (): void => {
      if (done) return;
      done = true;
      offMessage();
      offClose();
      const pending = waiting;
      waiting = undefined;
      pending?.({ value: undefined, done: true });
    };
    const offMessage = this.on('message', (message) => {
      if (waiting !== undefined) {
        const pending = waiting;
        waiting = undefined;
        pending({ value: message, done: false });
      } else {
        queue.push(message);
      }
    });
    const offClose = this.on('close', finish);
    if (done) finish();
    const iterator: AsyncIterableIterator<ReceivedMessage> = {
      next: () => {
        const value = queue.shift();
        if (value !== undefined) return Promise.resolve({ value, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          waiting = resolve;
        });
      },
      return: () => {
        finish();
        queue.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  // ---- closing ---------------------------------------------------------------------------------------

  /** Close the client and its transport; idempotent. */
  close(): Promise<void> {
    if (this.#closePromise === undefined) {
      this.#shutdown(new ClientError('CLOSED', 'the client was closed'));
      this.#closePromise = this.transport.close();
    }
    return this.#closePromise;
  }

  #onTransportClosed(info: TransportCloseInfo): void {
    this.#closeInfo = info;
    this.#shutdown(new ClientError('CLOSED', `the connection closed (${info.reason})`));
    this.#listeners.close.emit(info);
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }

  #shutdown(error: ClientError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handshaken = false;
    const attempt = this.#attempt;
    if (attempt !== undefined) this.#failAttempt(attempt, error);
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.#waiters.clear();
  }
}

/**
 * One actor per client connection, with an explicit state machine:
 *
 *   handshaking ──(Hello world! + our session key)──▶ bound ──(close)──▶ closed
 *        └──────────────(deadline / close)──────────────────────────────▶ closed
 *
 * It answers handshakes itself (Start → `DIM?` with a fresh 64-hex session key, Restart with that key →
 * `DIM!`), applies `login` / `report` to the session, verifies senders, holds messages from unbound
 * connections (bounded) until the handshake, rate-limits, and hands everything else to the inbound sink.
 * A client's frame is acknowledged only once every message in it was durably accepted or explicitly
 * rejected (with a receipt where the sender can be told); nothing accepted is ever dropped.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { LimitsConfig } from '../config/station-config.ts';
import type { InboundSink, MessageOrigin } from '../streams/inbound-sink.ts';
import type { StationMessenger } from '../identity/station-messenger.ts';
import { attachedMeta, attachedVisa } from '../protocol/dkd/attachments.ts';
import type { Content } from '../protocol/dkd/content.ts';
import { parseContent } from '../protocol/dkd/content.ts';
import {
  AGAIN,
  HELLO,
  SPEED_TEST,
  SPEED_TEST_REPLY,
  SUCCESS,
  buildHandshakeReply,
  parseHandshake,
} from '../protocol/dkd/handshake-command.ts';
import { parseLogin } from '../protocol/dkd/login-command.ts';
import { verifyMessage } from '../protocol/dkd/message-packer.ts';
import { buildReceipt } from '../protocol/dkd/receipt-command.ts';
import type { ReceiptOptions } from '../protocol/dkd/receipt-command.ts';
import { parseReliableMessage } from '../protocol/dkd/reliable-message.ts';
import type { MessageLimits, ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import { parseReport } from '../protocol/dkd/report-command.ts';
import { EVERY_STATION, EVERYONE } from '../protocol/mkm/identifier.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import { ProtocolError, isProtocolError } from '../protocol/protocol-error.ts';
import type { SessionRegistry } from '../registry/session-registry.ts';
import type { IdentityDirectory } from '../storage/identity-directory.ts';
import { DEFAULT_TERMINAL } from '../storage/inbox-store.ts';
import type { ChannelHandler, ClientChannel, CloseInfo } from '../transport/client-channel.ts';
import { BoundLogger, type TransportLogger } from '../transport/transport-logger.ts';
import { TokenBucket } from './token-bucket.ts';

export type SessionState = 'handshaking' | 'bound' | 'closed';

export interface SessionDeps {
  readonly gatewayId: string;
  readonly messenger: StationMessenger;
  readonly directory: IdentityDirectory;
  readonly sink: InboundSink;
  readonly registry: SessionRegistry;
  readonly limits: LimitsConfig;
  readonly verifyAllMessages: boolean;
  /** Station IDs (naked strings) allowed to relay other senders' messages. */
  readonly trustedStations: ReadonlySet<string>;
  readonly logger: Logger;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** Called once after the session closed (the gateway forgets it). */
  readonly onClosed?: (session: ClientSession) => void;
}

/** Why a message was refused; logged with this code and, where possible, told to the sender. */
type RejectCode =
  | 'RATE_LIMITED'
  | 'SIGNATURE_INVALID'
  | 'VERIFY_KEY_NOT_FOUND'
  | 'SENDER_MISMATCH'
  | 'HELD_QUEUE_FULL'
  | 'IDENTITY_CONFLICT'
  | 'FORGED_RELAY';

class Rejection extends Error {
  readonly code: RejectCode;
  /** Whether the client should get an `OK` (the message is settled) or resend later. */
  readonly settle: boolean;
  constructor(code: RejectCode, message: string, settle: boolean) {
    super(message);
    this.code = code;
    this.settle = settle;
  }
}

/**
 * A message's stage 2: `done` resolves when it is settled (durably accepted or explicitly refused) and its
 * frame may be acknowledged; rejects when it was not accepted (no OK: the client resends). Wrapped in an
 * object so that async stage-1 functions do not wait for it.
 */
interface Settlement {
  readonly done: Promise<void>;
}

const SETTLED: Settlement = { done: Promise.resolve() };
const settlement = (done: Promise<void>): Settlement => {
  // Handlers are attached once every message of the frame went through stage 1, possibly after other
  // I/O: mark the promise handled now so a refusal is never reported as an unhandled rejection.
  done.catch(() => undefined);
  return { done };
};

interface HeldMessage {
  readonly message: ReliableMessage;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

const messageLimitsCache = new WeakMap<LimitsConfig, MessageLimits>();

/** The parser limits for a limits config (one object per config, shared by its sessions). */
const messageLimitsOf = (limits: LimitsConfig): MessageLimits => {
  let found = messageLimitsCache.get(limits);
  if (found === undefined) {
    found = { maxDataLength: limits.maxFrameBytes, maxKeys: 4096 };
    messageLimitsCache.set(limits, found);
  }
  return found;
};

export class ClientSession implements ChannelHandler {
  readonly channel: ClientChannel;
  readonly sessionKey = randomBytes(32).toString('hex');
  readonly #deps: SessionDeps;
  readonly #log: TransportLogger;
  /** Created with the first message (a connection that sends nothing costs no bucket). */
  #bucket: TokenBucket | undefined;
  readonly #messageLimits: MessageLimits;
  #state: SessionState = 'handshaking';
  #user: ID | undefined;
  #active = false;
  #held: HeldMessage[] = [];
  #rateViolations = 0;
  #protocolErrors = 0;
  #chain: Promise<void> = Promise.resolve();
  #handshakeTimer: NodeJS.Timeout | undefined;
  /** Terminal declared in the first handshake's visa or in a login (2026 multi-device clients). */
  #deviceTerminal: string | undefined;

  constructor(channel: ClientChannel, deps: SessionDeps) {
    this.channel = channel;
    this.#deps = deps;
    this.#log = new BoundLogger(deps.logger, {
      conn: channel.id,
      kind: channel.kind,
      remote: channel.remote.address,
    });
    this.#messageLimits = messageLimitsOf(deps.limits);
    this.#handshakeTimer = setTimeout(() => {
      if (this.#state === 'handshaking') {
        this.#log.info({ code: 'HANDSHAKE_TIMEOUT' }, 'no handshake before the deadline');
        channel.close('HANDSHAKE_TIMEOUT', `no handshake within ${deps.limits.handshakeTimeoutMs} ms`);
      }
    }, deps.limits.handshakeTimeoutMs);
    this.#handshakeTimer.unref();
    channel.setHandler(this);
  }

  get state(): SessionState {
    return this.#state;
  }

  get user(): ID | undefined {
    return this.#user;
  }

  get active(): boolean {
    return this.#active;
  }

  // ---- channel events -------------------------------------------------------------------------------

  onPackage(body: Buffer, ack: () => void): void {
    // Stage 1 (verify, classify, hand to the sink) runs strictly in arrival order, so that messages of
    // one connection reach the bus in the order they were sent. Stage 2 (durable acceptance, or a held
    // message's replay) may complete later; the frame's OK is sent when every message in it settled.
    this.#chain = this.#chain.then(async () => {
      let settled: Settlement;
      try {
        settled = await this.#processPackage(body);
      } catch (err) {
        // e.g. the directory's store unreachable: no OK, the client resends; later frames still flow
        this.#notAcked(err);
        return;
      }
      settled.done.then(ack, (err: unknown) => this.#notAcked(err));
    });
  }

  onClose(info: CloseInfo): void {
    if (this.#state === 'closed') return;
    const wasBound = this.#state === 'bound';
    this.#state = 'closed';
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    for (const held of this.#held) held.reject(new Error('connection closed before the handshake'));
    this.#held = [];
    this.#log.info({ code: info.code, local: info.local, user: this.#user?.string }, 'connection closed');
    this.#deps.onClosed?.(this);
    if (wasBound) {
      this.#deps.registry
        .unbind(this.#deps.gatewayId, this.channel.id)
        .catch((err: unknown) => this.#log.error({ err, code: 'REGISTRY_ERROR' }, 'unbind failed'));
    }
  }

  // ---- package processing ---------------------------------------------------------------------------

  /**
   * One frame may carry several JSON messages separated by newlines. Resolves once every message went
   * through stage 1 (in order), with a promise of their settlement.
   */
  async #processPackage(body: Buffer): Promise<Settlement> {
    const text = body.toString('utf8');
    const lines = text.startsWith('{') ? text.split(/\r?\n/).filter((l) => l.trim().length > 0) : [text];
    const settled: Promise<void>[] = [];
    for (const line of lines) {
      if (this.#state === 'closed') return settlement(Promise.reject(new Error('connection closed')));
      settled.push((await this.#processLine(line)).done);
    }
    return settlement(Promise.all(settled).then(() => undefined));
  }

  /** Stage 1 of one message; resolves with its settlement. */
  async #processLine(line: string): Promise<Settlement> {
    const now = this.#deps.now();
    const limits = this.#deps.limits;
    this.#bucket ??= new TokenBucket(limits.messagesPerSecond, limits.messageBurst, now);
    // A neighbour station's link carries the traffic of many users: a trusted one is not rate-limited, any
    // other station is slowed down without losing anything (not acknowledged: it resends later).
    const station = this.#state === 'bound' && this.#user?.isStation === true ? this.#user : undefined;
    const exempt = station !== undefined && this.#deps.trustedStations.has(station.naked().string);
    if (!exempt && !this.#bucket.take(now)) {
      if (station !== undefined)
        return settlement(Promise.reject(new Rejection('RATE_LIMITED', 'station link over its rate', false)));
      this.#rateViolations += 1;
      if (this.#rateViolations > this.#deps.limits.maxRateViolations) {
        this.#log.warn(
          { code: 'RATE_LIMITED', violations: this.#rateViolations },
          'persistent rate excess: closing',
        );
        this.channel.close('RATE_LIMITED', 'message rate limit exceeded persistently');
        return settlement(Promise.reject(new Error('rate limited')));
      }
      return this.#refuse(
        line,
        new Rejection('RATE_LIMITED', 'Message rejected: rate limit exceeded.', true),
      );
    }
    let message: ReliableMessage;
    try {
      message = parseReliableMessage(line, this.#messageLimits);
    } catch (err) {
      this.#protocolError(err, 'unparseable message');
      return SETTLED;
    }
    return this.#stageOne(message);
  }

  /** Run stage 1; a refusal settles the message at once (it will never be accepted). */
  async #stageOne(message: ReliableMessage): Promise<Settlement> {
    try {
      return await this.#processMessage(message);
    } catch (err) {
      if (err instanceof Rejection) return this.#reject(message, err);
      if (isProtocolError(err)) {
        this.#protocolError(err, 'message refused');
        return SETTLED;
      }
      throw err;
    }
  }

  /** Stage 1: check, classify and hand over; returns the settlement (stage 2). */
  async #processMessage(message: ReliableMessage): Promise<Settlement> {
    const deps = this.#deps;
    await this.#acceptAttachments(message);
    const bound = this.#state === 'bound' ? this.#user : undefined;
    const fromBoundUser = bound !== undefined && message.sender.isSameAs(bound);
    // A station session may relay other senders' messages (federation): trusted stations unverified,
    // any other station verified against the original sender's keys (a station-type ID proves nothing).
    const relay = bound !== undefined && !fromBoundUser;
    const trusted = relay && deps.trustedStations.has(bound.naked().string);
    if (relay && !trusted && !bound.isStation) {
      throw new Rejection(
        'SENDER_MISMATCH',
        'Message rejected: sender does not match the logged-in user.',
        true,
      );
    }
    const needsVerify = (!fromBoundUser && !trusted) || deps.verifyAllMessages;
    if (needsVerify) {
      const keys = await deps.directory.verifyKeys(message.sender);
      if (keys.length === 0) {
        // Unknown sender before the handshake: hold it; it is verified (or trusted) once bound.
        if (bound === undefined) return this.#hold(message);
        throw new Rejection('VERIFY_KEY_NOT_FOUND', 'Message rejected: sender keys not found.', true);
      }
      if (!verifyMessage(message, keys)) {
        if (relay) throw new Rejection('FORGED_RELAY', 'Relayed message refused: forged signature.', true);
        throw new ProtocolError('SIGNATURE_INVALID', 'signature does not verify');
      }
    }
    const forStation = deps.messenger.isForStation(message.receiver);
    const toEveryone = message.receiver.equals(EVERYONE) || message.receiver.equals(EVERY_STATION);
    let content: Content | undefined;
    if (forStation || toEveryone) content = this.#openForStation(message);
    if (content !== undefined && content.command === 'handshake') {
      await this.#handshake(message, content);
      return SETTLED;
    }
    if (this.#state !== 'bound') return this.#hold(message);
    // login / report change the session here; the dispatcher still records logins (with `content`)
    // (not those a station relays for other users)
    if (content !== undefined && !relay) this.#sessionCommand(message, content);
    return this.#publish(message, this.#origin(), content);
  }

  /**
   * Hand to the sink now (stage 1 ends when the publish is issued); settles when durable. `content`: what
   * was decrypted here, so that the dispatcher does not decrypt it again.
   */
  #publish(message: ReliableMessage, origin: MessageOrigin, content?: Content): Settlement {
    return settlement(this.#deps.sink.publish(message, origin, content));
  }

  #openForStation(message: ReliableMessage): Content | undefined {
    if (message.isBroadcast) {
      try {
        return parseContent(JSON.parse(message.data));
      } catch {
        throw new ProtocolError('BAD_CONTENT', 'broadcast content is not a JSON content');
      }
    }
    try {
      return this.#deps.messenger.open(message).content;
    } catch (err) {
      // Not decryptable here (e.g. a key for another terminal of the station): the dispatcher decides.
      this.#log.debug(
        { code: isProtocolError(err) ? err.code : 'DECRYPT_FAILED' },
        'station message not opened',
      );
      return undefined;
    }
  }

  async #acceptAttachments(message: ReliableMessage): Promise<void> {
    if (message.meta === undefined && message.visa === undefined) return;
    const directory = this.#deps.directory;
    const meta = attachedMeta(message) ?? (await directory.meta(message.sender));
    if (meta !== undefined && message.meta !== undefined) await directory.acceptMeta(message.sender, meta);
    if (message.visa !== undefined) {
      if (meta === undefined)
        throw new ProtocolError('VERIFY_KEY_NOT_FOUND', 'visa attached without a known meta');
      const visa = attachedVisa(message, meta);
      if (visa && this.#state !== 'bound' && visa.terminal !== undefined)
        this.#deviceTerminal = visa.terminal;
      if (visa) {
        const verdict = await directory.acceptDocument(visa, this.#deps.now() / 1000, message.sender);
        if (verdict !== 'saved' && verdict !== 'not-changed') {
          this.#log.debug({ code: 'VISA_NOT_ACCEPTED', verdict }, 'attached visa not stored');
        }
      }
    }
  }

  // ---- handshake ------------------------------------------------------------------------------------

  async #handshake(message: ReliableMessage, content: Content): Promise<void> {
    const request = parseHandshake(content);
    if (request === undefined) return;
    const remote: [string, number] = [this.channel.remote.address, this.channel.remote.port];
    const attach =
      message.receiver.string === 'station@anywhere' || content.group?.equals(EVERY_STATION) === true;
    const now = this.#deps.now() / 1000;
    if (request.title === SPEED_TEST) {
      this.#send(
        message.sender,
        buildHandshakeReply(SPEED_TEST_REPLY, now, { remoteAddress: remote }),
        attach,
      );
      return;
    }
    if (request.title !== HELLO) {
      this.#sendReceipt(message, 'Command not support.', {
        content,
        template: 'Command (name: ${command}) not support yet!',
        replacements: { command: 'handshake' },
      });
      return;
    }
    if (request.session !== this.sessionKey) {
      this.#send(
        message.sender,
        buildHandshakeReply(AGAIN, now, { session: this.sessionKey, remoteAddress: remote }),
        attach,
      );
      return;
    }
    if (this.#state === 'bound' && this.#user !== undefined && !message.sender.isSameAs(this.#user)) {
      throw new Rejection(
        'IDENTITY_CONFLICT',
        'Handshake refused: this connection is logged in as another user.',
        true,
      );
    }
    this.#bind(message.sender);
    this.#send(
      message.sender,
      buildHandshakeReply(SUCCESS, now, { session: this.sessionKey, remoteAddress: remote }),
      attach,
    );
    await this.#replayHeld();
  }

  #bind(sender: ID): void {
    const first = this.#state !== 'bound';
    this.#state = 'bound';
    this.#user = sender;
    this.#active = true;
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    if (first)
      this.#log.info(
        { code: 'SESSION_BOUND', user: sender.string, terminal: this.#terminal },
        'handshake complete',
      );
    this.#register();
  }

  /** (Re-)register the session in the registry, then ask for the terminal's backlog. */
  #register(): void {
    const user = this.#user;
    if (user === undefined) return;
    this.#deps.registry
      .bind({
        gatewayId: this.#deps.gatewayId,
        connId: this.channel.id,
        user: user.naked().string,
        terminal: this.#terminal,
        active: this.#active,
        since: this.#deps.now(),
      })
      .then(() => {
        if (this.#active) this.#requestBacklog();
      })
      .catch((err: unknown) => this.#log.error({ err, code: 'REGISTRY_ERROR' }, 'bind failed'));
  }

  /**
   * The device tag of the session (`*` for clients that send none): the terminal of the handshake
   * sender ID (`name@address/terminal`), else the one the client declared in its visa or login.
   */
  get #terminal(): string {
    return this.#user?.terminal ?? this.#deviceTerminal ?? DEFAULT_TERMINAL;
  }

  #requestBacklog(): void {
    const user = this.#user;
    if (user === undefined || this.#state !== 'bound') return;
    this.#deps.sink
      .requestBacklog({
        user: user.naked().string,
        terminal: this.#terminal,
        gatewayId: this.#deps.gatewayId,
        connId: this.channel.id,
        until: this.#deps.now(),
      })
      .catch((err: unknown) =>
        this.#log.error({ err, code: 'BACKLOG_REQUEST_FAILED' }, 'backlog not requested'),
      );
  }

  /** Hold until the handshake (stage 1 ends here); settles once replayed and accepted. */
  #hold(message: ReliableMessage): Settlement {
    if (this.#held.length >= this.#deps.limits.maxHeldMessages) {
      // Not acknowledged: the client keeps it and resends; nothing accepted is dropped.
      const full = Promise.reject(
        new Rejection('HELD_QUEUE_FULL', 'too many messages before the handshake', false),
      );
      this.#log.warn({ code: 'HELD_QUEUE_FULL', sender: message.sender.string }, 'message not held');
      return settlement(full);
    }
    const first = this.#held.length === 0;
    return settlement(
      new Promise<void>((resolve, reject) => {
        this.#held.push({ message, resolve, reject });
        if (first) {
          const now = this.#deps.now() / 1000;
          const reply = buildHandshakeReply(AGAIN, now, {
            session: this.sessionKey,
            remoteAddress: [this.channel.remote.address, this.channel.remote.port],
            force: true,
          });
          this.#send(message.sender, reply, false);
        }
      }),
    );
  }

  /** Replay held messages in their original order (called from stage 1 of the handshake). */
  async #replayHeld(): Promise<void> {
    const held = this.#held;
    this.#held = [];
    for (const { message, resolve, reject } of held) {
      try {
        (await this.#stageOne(message)).done.then(resolve, reject);
      } catch (err) {
        reject(err);
      }
    }
  }

  // ---- login / report -------------------------------------------------------------------------------

  /** Apply `login` / `report` to the session and answer them; returns what was handled, if anything. */
  #sessionCommand(message: ReliableMessage, content: Content): 'login' | 'report' | undefined {
    const login = parseLogin(content);
    if (login !== undefined) {
      if (!login.id.isSameAs(message.sender)) return undefined;
      const station = login.station?.id;
      if (station !== undefined && !station.isSameAs(this.#deps.messenger.identity.id)) {
        return 'login'; // roaming to another station: recorded by the dispatcher, no reply
      }
      if (
        login.terminal !== undefined &&
        login.terminal !== this.#terminal &&
        message.sender.terminal === undefined
      ) {
        // The device declared its terminal: deliveries and stored-copy state follow it from now on.
        this.#deviceTerminal = login.terminal;
        this.#active = true;
        this.#register();
      }
      this.#setActive(true);
      this.#sendReceipt(message, 'Login received.', {
        content,
        template: 'Login command received: ${did}.',
        replacements: { did: login.id.string },
      });
      return 'login';
    }
    const report = parseReport(content);
    if (report === undefined) return undefined;
    if (report.title === 'online') {
      this.#setActive(true);
      this.#sendReceipt(message, 'Online received.', { content });
      return 'report';
    }
    if (report.title === 'offline') {
      this.#setActive(false);
      return 'report';
    }
    // device-token reports (apns / c2dm) are answered by the dispatcher's station commands
    if (report.title === 'apns' || report.title === 'c2dm') return undefined;
    if (this.#deps.messenger.isForStation(message.receiver)) {
      this.#sendReceipt(message, 'Command not support.', {
        content,
        template: 'Report command (title: ${title}) not support yet!',
        replacements: { title: report.title },
      });
      return 'report';
    }
    return undefined;
  }

  #setActive(active: boolean): void {
    if (this.#active === active) return;
    this.#active = active;
    this.#deps.registry
      .setActive(this.#deps.gatewayId, this.channel.id, active)
      .then(() => {
        if (active) this.#requestBacklog();
      })
      .catch((err: unknown) => this.#log.error({ err, code: 'REGISTRY_ERROR' }, 'setActive failed'));
  }

  // ---- replies and rejections -----------------------------------------------------------------------

  #origin(): MessageOrigin {
    const user = this.#user as ID;
    return {
      gatewayId: this.#deps.gatewayId,
      connId: this.channel.id,
      user: user.naked().string,
      terminal: this.#terminal,
    };
  }

  #send(to: ID, content: Record<string, unknown>, attachIdentity: boolean): void {
    this.#deps.messenger
      .pack(to, content, attachIdentity)
      .then((reply) => this.channel.push(JSON.stringify(reply.dict), { signature: reply.signatureText }))
      .catch((err: unknown) => {
        const code = isProtocolError(err) ? err.code : 'REPLY_FAILED';
        this.#log.warn({ code, to: to.string }, 'reply not sent');
      });
  }

  #sendReceipt(
    message: ReliableMessage,
    text: string,
    options: ReceiptOptions,
    to: ID = message.sender,
  ): void {
    this.#send(to, buildReceipt(text, message, this.#deps.now() / 1000, options), false);
  }

  #reject(message: ReliableMessage, rejection: Rejection): Settlement {
    this.#log.warn({ code: rejection.code, sender: message.sender.string }, 'message rejected');
    if (!rejection.settle) return settlement(Promise.reject(rejection));
    // Tell the connection's own (proven) user, also when the message claimed another sender; never
    // encrypt to an unproven claimed sender.
    const user = this.#user;
    if (user !== undefined && this.#state === 'bound') {
      const to = message.sender.isSameAs(user) ? message.sender : user;
      this.#sendReceipt(
        message,
        rejection.message,
        {
          template: rejection.message,
          replacements: { code: rejection.code },
          extra: { error: { code: rejection.code } },
        },
        to,
      );
    }
    return SETTLED;
  }

  #refuse(line: string, rejection: Rejection): Settlement {
    let message: ReliableMessage | undefined;
    try {
      message = parseReliableMessage(line, this.#messageLimits);
    } catch {
      message = undefined;
    }
    if (message) return this.#reject(message, rejection);
    this.#log.warn({ code: rejection.code }, 'message rejected');
    return SETTLED;
  }

  #protocolError(err: unknown, what: string): void {
    this.#protocolErrors += 1;
    const code = isProtocolError(err) ? err.code : 'INTERNAL_ERROR';
    this.#log.warn({ code, count: this.#protocolErrors }, what);
    if (!isProtocolError(err)) this.#log.error({ err }, 'unexpected error while processing a message');
    if (this.#protocolErrors > this.#deps.limits.maxProtocolErrors && this.#state !== 'closed') {
      this.channel.close('PROTOCOL_ERROR', `too many invalid messages (last: ${code})`);
    }
  }

  #notAcked(err: unknown): void {
    if (err instanceof Rejection) return; // already logged
    if (this.#state === 'closed') return;
    this.#log.error(
      { err, code: 'NOT_ACCEPTED' },
      'message not durably accepted: no OK sent, the client will resend',
    );
  }
}

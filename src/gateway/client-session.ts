/**
 * One actor per client connection, with an explicit state machine:
 *
 *   handshaking ──(Hello world! + our session key)──▶ bound ──(close)──▶ closed
 *        └──────────────(deadline / close)──────────────────────────────▶ closed
 *
 * It answers handshakes itself (session-handshake.ts), applies `login` / `report` to the session
 * (session-commands.ts), validates envelopes and verifies senders, holds messages from unbound connections
 * (held-messages.ts) until the handshake, rate-limits, and hands everything else to the inbound sink.
 * Every message is settled: accepted durably, or refused with a code — a receipt to a logged-in client
 * (session-refusals.ts), a coded log line for an unproven sender, and past a threshold a coded close.
 * A client's frame is acknowledged only once every message in it is settled; nothing accepted is dropped.
 *
 * The stored backlog is pushed only once the client is ready to read it: after its first message
 * following the handshake (its `login` or `report online`), or after `backlogDelayMs` if none comes.
 * Clients such as dimples mark the session accepted some time after `DIM!` and drop what they need to
 * read the backlog (their own meta/document queries) until then.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { LimitsConfig } from '../config/station-config.ts';
import type { InboundSink, MessageOrigin } from '../streams/inbound-sink.ts';
import type { StationMessenger } from '../identity/station-messenger.ts';
import { attachedMeta, attachedVisa } from '../protocol/dkd/attachments.ts';
import type { Content } from '../protocol/dkd/content.ts';
import { parseContent } from '../protocol/dkd/content.ts';
import { checkEnvelope } from '../protocol/dkd/envelope-check.ts';
import { verifyMessage } from '../protocol/dkd/message-packer.ts';
import { buildReceipt } from '../protocol/dkd/receipt-command.ts';
import type { ReceiptOptions } from '../protocol/dkd/receipt-command.ts';
import { parseReliableMessage } from '../protocol/dkd/reliable-message.ts';
import type { MessageLimits, ReliableMessage } from '../protocol/dkd/reliable-message.ts';
import { parseBoundedJson } from '../protocol/bounded-json.ts';
import { EVERY_STATION, EVERYONE } from '../protocol/mkm/identifier.ts';
import type { ID } from '../protocol/mkm/identifier.ts';
import { ProtocolError, isProtocolError } from '../protocol/protocol-error.ts';
import type { SessionRegistry } from '../registry/session-registry.ts';
import type { IdentityDirectory } from '../storage/identity-directory.ts';
import { DEFAULT_TERMINAL } from '../storage/inbox-store.ts';
import type { ChannelHandler, ClientChannel, CloseInfo } from '../transport/client-channel.ts';
import { BoundLogger, type TransportLogger } from '../transport/transport-logger.ts';
import { LiveGate } from './live-gate.ts';
import { HeldMessages } from './held-messages.ts';
import { handleSessionCommand } from './session-commands.ts';
import type { CommandHost } from './session-commands.ts';
import { addressedToAnotherStation, againReply, answerHandshake } from './session-handshake.ts';
import type { HandshakeHost } from './session-handshake.ts';
import { Rejection, buildRefusalReceipt, refusalOrigin, refusalText } from './session-refusals.ts';
import type { RejectCode } from './session-refusals.ts';
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

/** Where the session's stored backlog stands: not asked yet (waiting for the client), or asked. */
type BacklogGate = 'closed' | 'waiting' | 'open';

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
  readonly #held: HeldMessages;
  /** Live pushes wait here while the backlog requested for this connection is on its way (live-gate.ts). */
  readonly #liveGate: LiveGate;
  /** This connection's registry updates, one after another: an unbind never overtakes its bind. */
  #registryOps: Promise<void> = Promise.resolve();
  #rateViolations = 0;
  #protocolErrors = 0;
  #chain: Promise<void> = Promise.resolve();
  #handshakeTimer: NodeJS.Timeout | undefined;
  #backlogTimer: NodeJS.Timeout | undefined;
  #backlog: BacklogGate = 'closed';
  /** Terminal declared in the first handshake's visa or in a login (2026 multi-device clients). */
  #deviceTerminal: string | undefined;
  /** Close reason decided while a frame was in progress; applied once the frame is acknowledged. */
  #closeAfterFrame: { code: 'RATE_LIMITED' | 'PROTOCOL_ERROR'; reason: string } | undefined;
  readonly #handshakeHost: HandshakeHost;
  readonly #commandHost: CommandHost;

  constructor(channel: ClientChannel, deps: SessionDeps) {
    this.channel = channel;
    this.#deps = deps;
    this.#log = new BoundLogger(deps.logger, {
      conn: channel.id,
      kind: channel.kind,
      remote: channel.remote.address,
    });
    this.#messageLimits = messageLimitsOf(deps.limits);
    this.#held = new HeldMessages(deps.limits.maxHeldMessages);
    this.#liveGate = new LiveGate(deps.limits.backlogHoldMs, () =>
      this.#log.warn(
        { code: 'BACKLOG_HOLD_TIMEOUT', waiting: this.#liveGate.waiting, holdMs: deps.limits.backlogHoldMs },
        'no backlog page in time: live messages go out without waiting for it',
      ),
    );
    this.#handshakeHost = this.#newHandshakeHost();
    this.#commandHost = this.#newCommandHost();
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

  /** Whether the stored backlog was asked for (after the client's first message, or the deadline). */
  get backlogRequested(): boolean {
    return this.#backlog === 'open';
  }

  /**
   * A live push to this connection may go out: undefined at once, else a promise that resolves once the
   * backlog requested for it has been written (or the hold ran out).
   */
  livePass(): Promise<void> | undefined {
    return this.#liveGate.pass();
  }

  /** A page of this connection's backlog was written; `last`: the drain is complete, live pushes go. */
  backlogPage(last: boolean): void {
    if (last) this.#liveGate.open();
    else this.#liveGate.progress();
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
      const closing = this.#closeAfterFrame;
      settled.done.then(
        () => {
          ack();
          if (closing !== undefined) this.channel.close(closing.code, closing.reason);
        },
        (err: unknown) => {
          this.#notAcked(err);
          if (closing !== undefined) this.channel.close(closing.code, closing.reason);
        },
      );
    });
  }

  onClose(info: CloseInfo): void {
    if (this.#state === 'closed') return;
    const wasBound = this.#state === 'bound';
    this.#state = 'closed';
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    clearTimeout(this.#backlogTimer);
    this.#backlogTimer = undefined;
    this.#held.rejectAll(new Error('connection closed before the handshake'));
    this.#liveGate.close();
    this.#log.info({ code: info.code, local: info.local, user: this.#user?.string }, 'connection closed');
    this.#deps.onClosed?.(this);
    if (wasBound) {
      // after the bind still in flight, if any: an unbind that overtook it would leave the session behind
      this.#inRegistry('unbind', () => this.#deps.registry.unbind(this.#deps.gatewayId, this.channel.id));
    }
  }

  // ---- package processing ---------------------------------------------------------------------------

  /**
   * One frame may carry several JSON messages separated by newlines. Resolves once every message went
   * through stage 1 (in order), with a promise of their settlement. Every message of the frame is
   * handled (accepted or refused) before a close decided on the way takes effect.
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
      if (this.#rateViolations > limits.maxRateViolations) {
        // Persistent excess: the rest of the frame is refused without a receipt each; the connection is
        // closed once the frame is acknowledged (so a resend cannot duplicate what was accepted).
        if (this.#closeAfterFrame === undefined) {
          this.#log.warn(
            { code: 'RATE_LIMITED', violations: this.#rateViolations },
            'persistent rate excess: closing after this frame',
          );
          this.#closeAfterFrame = {
            code: 'RATE_LIMITED',
            reason: 'message rate limit exceeded persistently',
          };
        }
        return SETTLED;
      }
      return this.#refuseLine(
        line,
        new Rejection('RATE_LIMITED', 'Message rejected: rate limit exceeded.', true),
      );
    }
    let message: ReliableMessage;
    try {
      message = parseReliableMessage(line, this.#messageLimits);
      checkEnvelope(message, now / 1000);
    } catch (err) {
      return this.#refuseInvalid(line, err);
    }
    return this.#stageOne(message, false);
  }

  /** Run stage 1; a refusal settles the message at once (it will never be accepted). */
  async #stageOne(message: ReliableMessage, replay: boolean): Promise<Settlement> {
    try {
      return await this.#processMessage(message, replay);
    } catch (err) {
      if (err instanceof Rejection) return this.#reject(message, err);
      if (isProtocolError(err)) return this.#refuseInvalid(undefined, err, message);
      throw err;
    }
  }

  /** Stage 1: check, classify and hand over; returns the settlement (stage 2). */
  async #processMessage(message: ReliableMessage, replay: boolean): Promise<Settlement> {
    const deps = this.#deps;
    await this.#acceptAttachments(message);
    const bound = this.#state === 'bound' ? this.#user : undefined;
    if (bound === undefined && addressedToAnotherStation(message, (id) => deps.messenger.isForStation(id))) {
      throw new Rejection(
        'WRONG_STATION',
        `Handshake refused: addressed to ${message.receiver.string}, this is ${deps.messenger.identity.id.string}.`,
        true,
      );
    }
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
      if (answerHandshake(this.#handshakeHost, message, content)) await this.#replayHeld();
      return SETTLED;
    }
    if (this.#state !== 'bound') return this.#hold(message);
    // login / report change the session here; the dispatcher still records logins (with `content`)
    // (not those a station relays for other users)
    if (content !== undefined && !relay) handleSessionCommand(this.#commandHost, message, content);
    const settled = this.#publish(message, this.#origin(), content);
    if (!replay) this.#openBacklog('first-message');
    return settled;
  }

  /**
   * Hand to the sink now (stage 1 ends when the publish is issued); settles when durable. `content`: what
   * was decrypted here, so that the dispatcher does not decrypt it again.
   */
  #publish(message: ReliableMessage, origin: MessageOrigin, content?: Content): Settlement {
    let published: Promise<void>;
    try {
      published = this.#deps.sink.publish(message, origin, content);
    } catch (err) {
      published = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return settlement(published);
  }

  #openForStation(message: ReliableMessage): Content | undefined {
    if (message.isBroadcast) {
      try {
        return parseContent(parseBoundedJson(message.data));
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

  // ---- handshake and binding -------------------------------------------------------------------------

  #newHandshakeHost(): HandshakeHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const session = this;
    return {
      sessionKey: this.sessionKey,
      remote: [this.channel.remote.address, this.channel.remote.port],
      get boundUser() {
        return session.#state === 'bound' ? session.#user : undefined;
      },
      now: () => this.#deps.now() / 1000,
      send: (to, content, attach) => this.#send(to, content, attach),
      sendReceipt: (message, text, options) => this.#sendReceipt(message, text, options),
      bind: (sender) => this.#bind(sender),
    };
  }

  #newCommandHost(): CommandHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const session = this;
    return {
      stationId: this.#deps.messenger.identity.id,
      get terminal() {
        return session.#terminal;
      },
      isForStation: (id) => this.#deps.messenger.isForStation(id),
      declareTerminal: (terminal) => {
        this.#deviceTerminal = terminal;
        this.#active = true;
        this.#register();
      },
      setActive: (active) => this.#setActive(active),
      sendReceipt: (message, text, options) => this.#sendReceipt(message, text, options),
    };
  }

  #bind(sender: ID): void {
    const first = this.#state !== 'bound';
    this.#state = 'bound';
    this.#user = sender;
    this.#active = true;
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    if (first) {
      this.#log.info(
        { code: 'SESSION_BOUND', user: sender.string, terminal: this.#terminal },
        'handshake complete',
      );
      // The backlog waits for the client's first message after `DIM!` (or the deadline).
      this.#backlog = 'waiting';
      this.#backlogTimer = setTimeout(() => this.#openBacklog('deadline'), this.#deps.limits.backlogDelayMs);
      this.#backlogTimer.unref();
    }
    this.#register();
  }

  /** Open the backlog gate (once) and ask for the backlog if the session is active. */
  #openBacklog(why: 'first-message' | 'deadline'): void {
    if (this.#backlog !== 'waiting' || this.#state !== 'bound') return;
    this.#backlog = 'open';
    clearTimeout(this.#backlogTimer);
    this.#backlogTimer = undefined;
    this.#log.debug({ code: 'BACKLOG_OPEN', why }, 'stored backlog requested');
    if (this.#active) this.#requestBacklog();
  }

  /** (Re-)register the session in the registry, then ask for the terminal's backlog. */
  #register(): void {
    const user = this.#user;
    if (user === undefined) return;
    // from the bind on the dispatcher may push live: hold those until the backlog (asked for at the
    // client's first message, or after backlogDelayMs) has been written
    if (this.#active) {
      this.#liveGate.hold(this.#backlog === 'waiting' ? this.#deps.limits.backlogDelayMs : 0);
    }
    this.#inRegistry('bind', async () => {
      await this.#deps.registry.bind({
        gatewayId: this.#deps.gatewayId,
        connId: this.channel.id,
        user: user.naked().string,
        terminal: this.#terminal,
        active: this.#active,
        since: this.#deps.now(),
      });
      if (this.#active) this.#requestBacklog();
    });
  }

  /** Queue a registry update behind this connection's earlier ones; a failure is logged REGISTRY_ERROR. */
  #inRegistry(what: 'bind' | 'unbind' | 'setActive', update: () => Promise<void>): void {
    this.#registryOps = this.#registryOps
      .then(update)
      .catch((err: unknown) => this.#log.error({ err, code: 'REGISTRY_ERROR' }, `${what} failed`));
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
    if (user === undefined || this.#state !== 'bound' || this.#backlog !== 'open') return;
    this.#liveGate.hold();
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

  #setActive(active: boolean): void {
    if (this.#active === active) return;
    this.#active = active;
    if (active && this.#backlog === 'open') this.#liveGate.hold();
    this.#inRegistry('setActive', async () => {
      await this.#deps.registry.setActive(this.#deps.gatewayId, this.channel.id, active);
      if (active) this.#requestBacklog();
    });
  }

  // ---- held messages ---------------------------------------------------------------------------------

  /** Hold until the handshake (stage 1 ends here); settles once replayed and accepted. */
  #hold(message: ReliableMessage): Settlement {
    if (this.#held.full) {
      // Not acknowledged: the client keeps it and resends; nothing accepted is dropped.
      this.#log.warn({ code: 'HELD_QUEUE_FULL', sender: message.sender.string }, 'message not held');
      return settlement(
        Promise.reject(new Rejection('HELD_QUEUE_FULL', 'too many messages before the handshake', false)),
      );
    }
    return settlement(
      this.#held.hold(message, () =>
        this.#send(message.sender, againReply(this.#handshakeHost, true), false),
      ),
    );
  }

  /** Replay held messages in their original order (called from stage 1 of the handshake). */
  async #replayHeld(): Promise<void> {
    for (const { message, resolve, reject } of this.#held.take()) {
      try {
        (await this.#stageOne(message, true)).done.then(resolve, reject);
      } catch (err) {
        reject(err);
      }
    }
  }

  // ---- replies and refusals ----------------------------------------------------------------------------

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

  /**
   * Tell the client a message was refused: to the connection's own (proven) user, also when the message
   * claimed another sender; never encrypted to an unproven claimed sender — except WRONG_STATION, whose
   * receipt goes to the claimed sender (only its owner can read it; it carries nothing but the refusal).
   */
  #sendRefusal(code: RejectCode, text: string, message: ReliableMessage | undefined, line?: string): void {
    const user = this.#state === 'bound' ? this.#user : undefined;
    const to =
      user !== undefined
        ? message !== undefined && message.sender.isSameAs(user)
          ? message.sender
          : user
        : code === 'WRONG_STATION'
          ? message?.sender
          : undefined;
    if (to === undefined) return;
    const receipt = buildRefusalReceipt(code, text, refusalOrigin(message, line), this.#deps.now() / 1000);
    this.#send(to, receipt, false);
  }

  #reject(message: ReliableMessage, rejection: Rejection): Settlement {
    this.#log.warn({ code: rejection.code, sender: message.sender.string }, 'message rejected');
    if (!rejection.settle) return settlement(Promise.reject(rejection));
    this.#sendRefusal(rejection.code, rejection.message, message);
    if (rejection.code === 'WRONG_STATION') this.#countProtocolError(rejection.code);
    return SETTLED;
  }

  #refuseLine(line: string, rejection: Rejection): Settlement {
    let message: ReliableMessage | undefined;
    try {
      message = parseReliableMessage(line, this.#messageLimits);
    } catch {
      message = undefined;
    }
    if (message) return this.#reject(message, rejection);
    this.#log.warn({ code: rejection.code }, 'message rejected');
    this.#sendRefusal(rejection.code, rejection.message, undefined, line);
    return SETTLED;
  }

  /**
   * A message that does not parse, fails envelope validation or a protocol check: refused (settled) with
   * a receipt to a logged-in client; counted, and past `maxProtocolErrors` the connection is closed.
   */
  #refuseInvalid(line: string | undefined, err: unknown, message?: ReliableMessage): Settlement {
    if (!isProtocolError(err)) throw err;
    this.#log.warn(
      {
        code: err.code,
        detail: err.message,
        sender: message?.sender.string,
        count: this.#protocolErrors + 1,
      },
      'message refused',
    );
    this.#sendRefusal(err.code, refusalText(err.code, err.message), message, line);
    this.#countProtocolError(err.code);
    return SETTLED;
  }

  #countProtocolError(code: string): void {
    this.#protocolErrors += 1;
    if (this.#protocolErrors > this.#deps.limits.maxProtocolErrors && this.#state !== 'closed') {
      this.#closeAfterFrame ??= {
        code: 'PROTOCOL_ERROR',
        reason: `too many invalid messages (last: ${code})`,
      };
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

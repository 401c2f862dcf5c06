/**
 * A tiny in-test DIM station built only from the protocol core and the MTP codec (no station code): a real
 * net.Server (MTP) or `ws` WebSocketServer on 127.0.0.1, port 0. It acks every MTP Message with `OK`
 * (switchable), answers `PING`, and answers the handshake as dimp-protocol.md §6.4.1 / §9 say: `DIM?` with a
 * fresh session key (encrypted to the client's visa key, the station's meta + visa attached when the
 * request went to station@anywhere or had group stations@everywhere), `DIM!` for a matching session. It
 * answers login / report with receipts, relays personal messages to the receiver's connection, and answers
 * messages from connections that have not handshaken with `DIM?` + `force: true`. Everything it receives is
 * recorded for assertions.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { createStationIdentity } from '../../../src/identity/station-identity.ts';
import type { StationIdentity } from '../../../src/identity/station-identity.ts';
import type { PublicKey } from '../../../src/protocol/crypto/asymmetric-key.ts';
import { attachedMeta, attachedVisa, senderVerifyKeys } from '../../../src/protocol/dkd/attachments.ts';
import type { Content } from '../../../src/protocol/dkd/content.ts';
import { buildHandshakeReply, parseHandshake } from '../../../src/protocol/dkd/handshake-command.ts';
import { openMessage, packMessage, verifyMessage } from '../../../src/protocol/dkd/message-packer.ts';
import type { ReceiverKey } from '../../../src/protocol/dkd/message-packer.ts';
import { buildReceipt } from '../../../src/protocol/dkd/receipt-command.ts';
import { parseReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import type { ReliableMessage } from '../../../src/protocol/dkd/reliable-message.ts';
import type { Document } from '../../../src/protocol/mkm/document.ts';
import type { ID } from '../../../src/protocol/mkm/identifier.ts';
import type { Meta } from '../../../src/protocol/mkm/meta.ts';
import { MtpDecoder } from '../../../src/transport/mtp-decoder.ts';
import type { MtpFrame } from '../../../src/transport/mtp-decoder.ts';
import {
  encodeFrame,
  generateSn,
  MTP_COMMAND,
  MTP_COMMAND_RESPONSE,
  MTP_MESSAGE,
  MTP_MESSAGE_RESPONSE,
} from '../../../src/transport/mtp-header.ts';

export interface FakeStationOptions {
  readonly transport: 'mtp' | 'ws';
  /** Ack MTP messages with `OK` (default true). */
  readonly ackMessages?: boolean;
  /** Answer handshakes (default true). */
  readonly answerHandshake?: boolean;
  /** Replace the station's visa in its DIM? reply (to test that clients verify it). */
  readonly tamperVisa?: (visa: Record<string, unknown>) => Record<string, unknown>;
  readonly now?: () => number;
}

/** What the station got from one client message. */
export interface ReceivedByStation {
  readonly conn: FakeConnection;
  readonly text: string;
  readonly message: ReliableMessage;
  /** The decrypted content when the message was for the station (or broadcast). */
  readonly content: Content | undefined;
}

export interface FakeConnection {
  readonly id: number;
  readonly remoteAddress: readonly [string, number];
  sessionKey: string;
  user: ID | undefined;
  /** MTP: sn (hex) of the client's `OK` Message Responses; WS: the `ACK:` frames. */
  readonly acks: string[];
  /** Decoded MTP frames / WS text frames from the client. */
  readonly frames: MtpFrame[];
  readonly texts: string[];
  /** Push a message text to the client (MTP: fresh sn, returned as hex). */
  push(text: string): string;
  /** Raw frame (MTP) / text (WS) writer. */
  write(data: Buffer | string): void;
  close(): void;
}

interface UserKeys {
  meta: Meta;
  visa: Document | undefined;
}

const stationIdentityCache: StationIdentity[] = [];

/** One station identity per test process (RSA key generation is the slow part). */
export function testStationIdentity(): StationIdentity {
  let identity = stationIdentityCache[0];
  if (identity === undefined) {
    identity = createStationIdentity({
      name: 'station',
      rsaBits: 1024,
      now: Date.now() / 1000,
      host: '127.0.0.1',
    });
    stationIdentityCache.push(identity);
  }
  return identity;
}

export class FakeStation {
  readonly identity: StationIdentity;
  readonly transportKind: 'mtp' | 'ws';
  readonly received: ReceivedByStation[] = [];
  /** Messages the station could not handle (bad signature, undecryptable…). */
  readonly errors: Error[] = [];
  readonly connections: FakeConnection[] = [];
  ackMessages: boolean;
  answerHandshake: boolean;
  readonly #options: FakeStationOptions;
  readonly #users = new Map<string, UserKeys>();
  readonly #now: () => number;
  #server: Server | undefined;
  #wss: WebSocketServer | undefined;
  #port = 0;
  #nextConn = 1;
  readonly #listeners = new Set<(r: ReceivedByStation) => void>();

  private constructor(options: FakeStationOptions) {
    this.identity = testStationIdentity();
    this.transportKind = options.transport;
    this.#options = options;
    this.ackMessages = options.ackMessages ?? true;
    this.answerHandshake = options.answerHandshake ?? true;
    this.#now = options.now ?? (() => Date.now() / 1000);
  }

  static async start(options: FakeStationOptions): Promise<FakeStation> {
    const station = new FakeStation(options);
    if (options.transport === 'mtp') {
      const server = createServer((socket) => station.#acceptMtp(socket));
      station.#server = server;
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      station.#port = (server.address() as AddressInfo).port;
    } else {
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      station.#wss = wss;
      await new Promise<void>((resolve) => wss.once('listening', resolve));
      wss.on('connection', (ws, request) => {
        station.#acceptWs(ws, [request.socket.remoteAddress ?? '', request.socket.remotePort ?? 0]);
      });
      station.#port = (wss.address() as AddressInfo).port;
    }
    return station;
  }

  get port(): number {
    return this.#port;
  }

  get id(): ID {
    return this.identity.id;
  }

  /** Resolves with the next received message matching `predicate` (or one already received). */
  next(predicate: (r: ReceivedByStation) => boolean, timeoutMs = 5000): Promise<ReceivedByStation> {
    const past = this.received.find(predicate);
    if (past !== undefined) return Promise.resolve(past);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        reject(new Error('fake station: no matching message'));
      }, timeoutMs);
      const listener = (r: ReceivedByStation): void => {
        if (!predicate(r)) return;
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve(r);
      };
      this.#listeners.add(listener);
    });
  }

  /** Pack a content from the station to `user` (encrypted to its visa key). */
  packFor(user: ID, content: Record<string, unknown>, attachIdentity = false): string {
    const keys = this.#users.get(user.naked().string);
    if (keys === undefined) throw new Error(`fake station: unknown user ${user.string}`);
    const receiverKeys: ReceiverKey[] = [];
    const visaKey = keys.visa?.visaKey;
    if (visaKey !== undefined) receiverKeys.push({ key: visaKey });
    else receiverKeys.push({ key: keys.meta.key });
    const message = packMessage({
      sender: this.identity.id,
      receiver: user,
      content,
      time: this.#now(),
      signer: this.identity.identityKey,
      receiverKeys,
      attachments: attachIdentity
        ? {
            meta: this.identity.meta.toJSON(),
            visa: (this.#options.tamperVisa ?? ((v) => v))(this.identity.visa.toJSON()),
          }
        : undefined,
    });
    return JSON.stringify(message.dict);
  }

  /** Send `DIM?` + `force: true` with a new session to a connection. */
  forceHandshake(conn: FakeConnection): void {
    if (conn.user === undefined) throw new Error('fake station: connection without user');
    conn.sessionKey = randomBytes(32).toString('hex');
    conn.user = undefined;
    const user = this.#lastSender(conn);
    conn.push(
      this.packFor(
        user,
        buildHandshakeReply('DIM?', this.#now(), {
          session: conn.sessionKey,
          remoteAddress: conn.remoteAddress,
          force: true,
        }),
      ),
    );
  }

  async close(): Promise<void> {
    for (const conn of this.connections) conn.close();
    if (this.#server !== undefined) {
      const server = this.#server;
      this.#server = undefined;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    if (this.#wss !== undefined) {
      const wss = this.#wss;
      this.#wss = undefined;
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  }

  #lastSender(conn: FakeConnection): ID {
    for (let i = this.received.length - 1; i >= 0; i--) {
      const r = this.received[i];
      if (r !== undefined && r.conn === conn) return r.message.sender;
    }
    throw new Error('fake station: nothing received on this connection');
  }

  #acceptMtp(socket: Socket): void {
    const decoder = new MtpDecoder();
    const conn: FakeConnection = {
      id: this.#nextConn++,
      remoteAddress: [socket.remoteAddress ?? '', socket.remotePort ?? 0],
      sessionKey: randomBytes(32).toString('hex'),
      user: undefined,
      acks: [],
      frames: [],
      texts: [],
      push: (text) => {
        const sn = generateSn();
        socket.write(encodeFrame({ type: MTP_MESSAGE, sn, body: text }));
        return sn.toString('hex');
      },
      write: (data) => {
        socket.write(data);
      },
      close: () => {
        socket.destroy();
      },
    };
    this.connections.push(conn);
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      for (const frame of decoder.push(chunk)) {
        conn.frames.push(frame);
        const body = frame.body.toString('utf8');
        if (frame.type === MTP_MESSAGE) {
          if (this.ackMessages) {
            socket.write(encodeFrame({ type: MTP_MESSAGE_RESPONSE, sn: frame.sn, body: 'OK' }));
          }
          this.#onText(conn, body);
        } else if (frame.type === MTP_COMMAND && body === 'PING') {
          socket.write(encodeFrame({ type: MTP_COMMAND_RESPONSE, sn: frame.sn, body: 'PONG' }));
        } else if (frame.type === MTP_MESSAGE_RESPONSE && body === 'OK') {
          conn.acks.push(frame.sn.toString('hex'));
        }
      }
    });
  }

  #acceptWs(ws: WebSocket, remoteAddress: readonly [string, number]): void {
    const conn: FakeConnection = {
      id: this.#nextConn++,
      remoteAddress,
      sessionKey: randomBytes(32).toString('hex'),
      user: undefined,
      acks: [],
      frames: [],
      texts: [],
      push: (text) => {
        ws.send(text);
        return '';
      },
      write: (data) => {
        ws.send(typeof data === 'string' ? data : data.toString('utf8'));
      },
      close: () => {
        ws.terminate();
      },
    };
    this.connections.push(conn);
    ws.on('error', () => {});
    ws.on('message', (data) => {
      const text = (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer)).toString('utf8');
      conn.texts.push(text);
      if (text === 'PING') ws.send('PONG');
      else if (text.startsWith('ACK:')) conn.acks.push(text);
      else if (text.startsWith('{')) this.#onText(conn, text);
    });
  }

  #verifyKeys(sender: ID): PublicKey[] {
    const keys = this.#users.get(sender.naked().string);
    if (keys === undefined) return [];
    return senderVerifyKeys(keys.meta, keys.visa === undefined ? [] : [keys.visa]);
  }

  #onText(conn: FakeConnection, text: string): void {
    try {
      this.#handleText(conn, text);
    } catch (err) {
      this.errors.push(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #handleText(conn: FakeConnection, text: string): void {
    const message = parseReliableMessage(text);
    const meta = attachedMeta(message);
    if (meta !== undefined) {
      const visa = attachedVisa(message, meta);
      this.#users.set(message.sender.naked().string, { meta, visa });
    }
    if (!verifyMessage(message, this.#verifyKeys(message.sender))) {
      throw new Error(`fake station: signature of ${message.sender.string} does not verify`);
    }
    const forStation =
      message.receiver.isSameAs(this.identity.id) ||
      message.receiver.string === 'station@anywhere' ||
      message.receiver.isBroadcast;
    const content = forStation
      ? openMessage(message, { privateKeys: this.identity.decryptKeys }).content
      : undefined;
    const record: ReceivedByStation = { conn, text, message, content };
    this.received.push(record);
    for (const listener of [...this.#listeners]) listener(record);
    if (content !== undefined) this.#process(conn, message, content);
    else this.#relay(conn, message, text);
  }

  #process(conn: FakeConnection, message: ReliableMessage, content: Content): void {
    const handshake = parseHandshake(content);
    if (handshake !== undefined) {
      if (!this.answerHandshake || handshake.title !== 'Hello world!') return;
      if (handshake.session === conn.sessionKey) {
        conn.user = message.sender;
        const reply = buildHandshakeReply('DIM!', this.#now(), {
          session: conn.sessionKey,
          remoteAddress: conn.remoteAddress,
        });
        conn.push(this.packFor(message.sender, reply));
      } else {
        const first =
          message.receiver.string === 'station@anywhere' || content.group?.string === 'stations@everywhere';
        const reply = buildHandshakeReply('DIM?', this.#now(), {
          session: conn.sessionKey,
          remoteAddress: conn.remoteAddress,
        });
        conn.push(this.packFor(message.sender, reply, first));
      }
      return;
    }
    if (conn.user === undefined) {
      this.#askHandshake(conn, message);
      return;
    }
    if (content.command === 'login') {
      conn.push(
        this.packFor(message.sender, buildReceipt('Login received.', message, this.#now(), { content })),
      );
    } else if (content.command === 'report' && content.dict['title'] === 'online') {
      conn.push(
        this.packFor(message.sender, buildReceipt('Online received.', message, this.#now(), { content })),
      );
    }
  }

  #askHandshake(conn: FakeConnection, message: ReliableMessage): void {
    const reply = buildHandshakeReply('DIM?', this.#now(), {
      session: conn.sessionKey,
      remoteAddress: conn.remoteAddress,
      force: true,
    });
    conn.push(this.packFor(message.sender, reply));
  }

  #relay(conn: FakeConnection, message: ReliableMessage, text: string): void {
    if (conn.user === undefined) {
      this.#askHandshake(conn, message);
      return;
    }
    const target = this.connections.find((c) => c.user !== undefined && c.user.isSameAs(message.receiver));
    target?.push(text);
    conn.push(this.packFor(message.sender, buildReceipt('Message received.', message, this.#now())));
  }
}

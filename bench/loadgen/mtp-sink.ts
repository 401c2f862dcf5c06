/**
 * A stand-in for a station, for the self-check: an MTP-over-TCP server on 127.0.0.1 that does the
 * least a station does for a relayed message, so that what is left is the generator's own cost.
 *
 * - every Message frame is answered with a Message Response `OK` (same sn);
 * - its JSON body's `sender` is remembered as reachable on this connection, and the body is forwarded
 *   unchanged, as a new Message frame, to the connection of its `receiver` (dropped if unknown);
 * - then the sender gets the receipt text registered for it (`setReceipt`), if any, as a Message frame:
 *   the same pre-packed receipt every time, so the generator decrypts (and verifies) one per message as
 *   it would with a real station, without the sink signing anything;
 * - Command `PING` → Command Response `PONG`; responses from clients are ignored.
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { MtpDecoder } from '../../src/transport/mtp-decoder.ts';
import {
  encodeFrame,
  generateSn,
  MTP_COMMAND,
  MTP_COMMAND_RESPONSE,
  MTP_MESSAGE,
  MTP_MESSAGE_RESPONSE,
} from '../../src/transport/mtp-header.ts';

export interface SinkStats {
  received: number;
  forwarded: number;
  dropped: number;
  receipts: number;
}

export class MtpSink {
  readonly stats: SinkStats = { received: 0, forwarded: 0, dropped: 0, receipts: 0 };
  readonly #server: Server;
  readonly #routes = new Map<string, Socket>();
  readonly #receipts = new Map<string, Buffer>();
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Listen on 127.0.0.1 (a free port). */
  static async start(): Promise<MtpSink> {
    const server = createServer();
    const sink = new MtpSink(server);
    server.on('connection', (socket) => sink.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return sink;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** The receipt (a reliable-message JSON text) sent to `senderId` after each of its messages. */
  setReceipt(senderId: string, text: string): void {
    this.#receipts.set(senderId, Buffer.from(text, 'utf8'));
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    const decoder = new MtpDecoder({ maxBodyLength: 16 * 1024 * 1024 });
    socket.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        if (frame.type === MTP_MESSAGE) {
          socket.write(encodeFrame({ type: MTP_MESSAGE_RESPONSE, sn: frame.sn, body: 'OK' }));
          this.#onMessage(socket, frame.body);
        } else if (frame.type === MTP_COMMAND) {
          const body = frame.body.toString('utf8');
          const answer = body === 'PING' ? 'PONG' : 'OK';
          socket.write(encodeFrame({ type: MTP_COMMAND_RESPONSE, sn: frame.sn, body: answer }));
        }
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#sockets.delete(socket);
      for (const [id, s] of this.#routes) if (s === socket) this.#routes.delete(id);
    });
  }

  #onMessage(socket: Socket, body: Buffer): void {
    this.stats.received += 1;
    let sender: unknown;
    let receiver: unknown;
    try {
      const dict = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      sender = dict['sender'];
      receiver = dict['receiver'];
    } catch {
      this.stats.dropped += 1;
      return;
    }
    if (typeof sender !== 'string' || typeof receiver !== 'string') {
      this.stats.dropped += 1;
      return;
    }
    this.#routes.set(sender, socket);
    const target = this.#routes.get(receiver);
    if (target === undefined || target.destroyed) {
      this.stats.dropped += 1;
    } else {
      target.write(encodeFrame({ type: MTP_MESSAGE, sn: generateSn(), body }));
      this.stats.forwarded += 1;
    }
    const receipt = this.#receipts.get(sender);
    if (receipt !== undefined) {
      socket.write(encodeFrame({ type: MTP_MESSAGE, sn: generateSn(), body: receipt }));
      this.stats.receipts += 1;
    }
  }
}

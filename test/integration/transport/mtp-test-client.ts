/**
 * A raw MTP client for the integration tests: a real TCP socket, an MtpDecoder over what it receives,
 * and helpers to send frames and wait for received ones.
 */
import { connect, type Socket } from 'node:net';
import { MtpDecoder, type MtpFrame } from '../../../src/transport/mtp-decoder.ts';
import {
  MTP_COMMAND,
  MTP_MESSAGE,
  MTP_MESSAGE_RESPONSE,
  encodeFrame,
  generateSn,
  type MtpFrameInput,
} from '../../../src/transport/mtp-header.ts';
import { until } from './wait.ts';

export class MtpTestClient {
  readonly socket: Socket;
  /** Every frame received, in order. */
  readonly frames: MtpFrame[] = [];
  readonly #decoder = new MtpDecoder({ maxBodyLength: 64 * 1024 * 1024 });
  #closed = false;
  #ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#decoder.push(chunk, this.frames));
    socket.on('end', () => (this.#ended = true));
    socket.on('close', () => (this.#closed = true));
    socket.on('error', () => {});
  }

  static connect(port: number, preamble?: Buffer): Promise<MtpTestClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.off('error', reject);
        if (preamble !== undefined) socket.write(preamble);
        resolve(new MtpTestClient(socket));
      });
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True once the server ended (or closed) the connection. */
  get ended(): boolean {
    return this.#ended || this.#closed;
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  send(frame: MtpFrameInput): void {
    this.socket.write(encodeFrame(frame));
  }

  /** Sends a Message frame; returns its sn. */
  message(body: string | Buffer, sn: Buffer = generateSn()): Buffer {
    this.send({ type: MTP_MESSAGE, sn, body });
    return sn;
  }

  command(body: string, sn: Buffer = generateSn()): Buffer {
    this.send({ type: MTP_COMMAND, sn, body });
    return sn;
  }

  /** Answers a received frame with a Message Response (default `OK`). */
  respond(frame: MtpFrame, body = 'OK'): void {
    this.send({ type: MTP_MESSAGE_RESPONSE, sn: frame.sn, body });
  }

  /** Frames of the given type (and body, if given). */
  framesOf(type: number, body?: string): MtpFrame[] {
    return this.frames.filter((f) => f.type === type && (body === undefined || f.body.toString() === body));
  }

  /** Waits for the `n`-th (1-based) frame matching `match`. */
  async waitFor(match: (frame: MtpFrame) => boolean, n = 1, timeout = 2000): Promise<MtpFrame> {
    await until(() => this.frames.filter(match).length >= n, timeout, 'MTP frame');
    return this.frames.filter(match)[n - 1] as MtpFrame;
  }

  async waitClosed(timeout = 2000): Promise<void> {
    await until(() => this.#closed, timeout, 'client socket close');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The `BYE <code> …` Command frames among `frames`. */
export function byeFrames(frames: readonly MtpFrame[]): MtpFrame[] {
  return frames.filter((f) => f.type === MTP_COMMAND && f.body.toString().startsWith('BYE '));
}

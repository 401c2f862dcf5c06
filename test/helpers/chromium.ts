/**
 * A real headless Chromium (Debian's `chromium`) driven over the DevTools protocol with the `ws` package:
 * open a page, evaluate expressions in it, take screenshots. Killed by close() and when the test process
 * exits.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class HeadlessChromium {
  readonly #child: ChildProcess;
  readonly #dir: string;
  readonly #ws: WebSocket;
  #seq = 0;
  readonly #calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(child: ChildProcess, dir: string, ws: WebSocket) {
    this.#child = child;
    this.#dir = dir;
    this.#ws = ws;
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString()) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
      };
      if (msg.id === undefined) return;
      const call = this.#calls.get(msg.id);
      if (!call) return;
      this.#calls.delete(msg.id);
      if (msg.error) call.reject(new Error(msg.error.message));
      else call.resolve(msg.result);
    });
  }

  /** Start Chromium on `url` (1280×1000) and attach to its page. */
  static async open(url: string, binary = 'chromium'): Promise<HeadlessChromium> {
    const dir = mkdtempSync(join(tmpdir(), 'dim-chromium-'));
    const child = spawn(
      binary,
      [
        '--headless=new',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--no-first-run',
        '--window-size=1280,1000',
        '--remote-debugging-address=127.0.0.1',
        '--remote-debugging-port=0',
        `--user-data-dir=${dir}`,
        url,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    live.add(child);
    child.once('exit', () => live.delete(child));
    let stderr = '';
    const endpoint = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`chromium did not start:\n${stderr}`)), 60_000);
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`chromium exited (${code}):\n${stderr}`));
      });
    });
    const http = endpoint.replace(/^ws:\/\/([^/]+)\/.*$/, 'http://$1');
    let pageWs: string | undefined;
    for (let i = 0; i < 100 && pageWs === undefined; i++) {
      const targets = (await (await fetch(`${http}/json/list`)).json()) as {
        type: string;
        webSocketDebuggerUrl: string;
      }[];
      pageWs = targets.find((t) => t.type === 'page')?.webSocketDebuggerUrl;
      if (pageWs === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    if (pageWs === undefined) throw new Error('chromium shows no page');
    const ws = new WebSocket(pageWs, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new HeadlessChromium(child, dir, ws);
  }

  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.#seq;
    return new Promise<T>((resolve, reject) => {
      this.#calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Evaluate a JavaScript expression in the page; its value (JSON-serialisable). */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send<{ result: { value?: T }; exceptionDetails?: { text: string } }>(
      'Runtime.evaluate',
      {
        expression,
        returnByValue: true,
      },
    );
    if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** PNG of the page. */
  async screenshot(): Promise<Buffer> {
    const r = await this.send<{ data: string }>('Page.captureScreenshot', {
      format: 'png',
      captureBeyondViewport: true,
    });
    return Buffer.from(r.data, 'base64');
  }

  async close(): Promise<void> {
    this.#ws.close();
    if (this.#child.exitCode === null) {
      this.#child.kill('SIGKILL');
      await new Promise((r) => this.#child.once('exit', r));
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

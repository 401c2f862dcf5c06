/**
 * A private redis-server for a test file: a free port on 127.0.0.1, a temporary directory, no snapshots, and
 * append-only persistence only when asked. `stop()` (SIGTERM, like a clean shutdown), `kill()` (SIGKILL, a
 * crash) and `restart()` (same port and directory) simulate outages. The process is also killed when the
 * test process exits, so a failing test never leaves one behind. Always call `stop()` in `after`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServerOptions {
  /** Enable the append-only file (data, streams and groups survive a restart). Default false. */
  readonly appendonly?: boolean;
  /** Extra `redis-server` arguments. */
  readonly args?: readonly string[];
  /** Extra arguments of each launch attempt (e.g. a cluster bus port chosen with the port). */
  readonly argsFor?: (port: number) => readonly string[] | Promise<readonly string[]>;
  /** `appendfsync` (default always). */
  readonly appendfsync?: 'always' | 'everysec' | 'no';
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Whether the process is running. */
  readonly running: boolean;
  /** SIGTERM and wait for the exit (idempotent); the directory is kept for restart(). */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit (idempotent). */
  kill(): Promise<void>;
  /** Stop (if running) and start again on the same port and directory. */
  restart(): Promise<void>;
  /** Start again after stop()/kill(). */
  start(): Promise<void>;
  /** Stop and delete the directory. Idempotent. */
  dispose(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'dim-redis-'));
  let port = 0;
  let extraArgs: readonly string[] = [];
  let child: ChildProcess | undefined;
  let output = '';

  async function launch(): Promise<void> {
    output = '';
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        options.appendonly ? 'yes' : 'no',
        '--appendfsync',
        options.appendfsync ?? 'always',
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
        ...(options.args ?? []),
        ...extraArgs,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-4000);
    };
    proc.stdout?.on('data', collect);
    proc.stderr?.on('data', collect);
    child = proc;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) break;
      if (await ping(port)) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    proc.kill('SIGKILL');
    await waitExit(proc);
    throw new Error(`redis-server did not start on port ${port}:\n${output}`);
  }

  async function halt(signal: NodeJS.Signals): Promise<void> {
    const proc = child;
    child = undefined;
    if (!proc) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await waitExit(proc);
    clearTimeout(timer);
  }

  // The port is free when probed but could be taken before redis binds it: retry with another.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    extraArgs = options.argsFor ? await options.argsFor(port) : [];
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt >= 3) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  let disposed = false;
  return {
    get port() {
      return port;
    },
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    dir,
    get running() {
      return child !== undefined;
    },
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    async restart() {
      await halt('SIGTERM');
      await launch();
    },
    async start() {
      if (!child) await launch();
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await halt('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The generator's worker processes (`--procs N`), seen from the coordinator: `child_process.fork` of
 * worker.ts, one request/response channel each over Node's IPC (`call(method, ...args)`).
 *
 * Processes rather than worker threads: each has its own event loop, heap and garbage collector, its CPU
 * time is its own (`process.cpuUsage`, so the report shows which process was busy), its sockets and
 * file descriptors are its own, and it can be killed whatever it is doing.
 *
 * No orphans: a worker exits when its IPC channel closes (the coordinator died, even by SIGKILL); the
 * coordinator kills its workers when it exits, on SIGINT/SIGTERM, and when a run fails. A worker that
 * dies fails every call (pending and later) with a message naming it.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WORKER_ENTRY = fileURLToPath(new URL('./worker.ts', import.meta.url));
/** How long a worker gets to close its connections before it is killed. */
const CLOSE_TIMEOUT_MS = 5000;

export interface WorkerRequest {
  readonly id: number;
  readonly method: string;
  readonly args: readonly unknown[];
}

export type WorkerResponse =
  { readonly id: number; readonly result: unknown } | { readonly id: number; readonly error: string };

const live = new Set<ChildProcess>();
let handlersInstalled = false;

function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

/** Kill the workers whenever the coordinator goes (normal exit, Ctrl-C, kill). */
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAll);
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.on(signal, () => {
      process.stderr.write(`dim-loadgen: ${signal}, stopping ${live.size} generator process(es)\n`);
      killAll();
      process.exit(code);
    });
  }
}

/** Wait for `promise`, at most `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

export class RemoteWorker {
  /** 0-based, and the number of workers. */
  readonly index: number;
  readonly count: number;
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 0;
  /** Set once the process is gone: every call fails with it. */
  #gone: Error | undefined;
  #closing = false;
  readonly #exited: Promise<void>;

  constructor(index: number, count: number) {
    this.index = index;
    this.count = count;
    // stdout is the JSON report's: workers write nothing there; their stderr (crashes) is ours
    this.#child = fork(WORKER_ENTRY, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    live.add(this.#child);
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.on('message', (message: WorkerResponse) => {
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return;
      this.#pending.delete(message.id);
      if ('error' in message) pending.reject(new Error(`${this.name}: ${message.error}`));
      else pending.resolve(message.result);
    });
    this.#child.on('error', (err) => this.#fail(new Error(`${this.name}: ${err.message}`)));
    this.#child.on('exit', (code, signal) => {
      live.delete(this.#child);
      const how = signal === null ? `exit code ${code}` : `signal ${signal}`;
      this.#fail(new Error(`${this.name} ended unexpectedly (${how})`));
    });
  }

  get name(): string {
    return `generator process ${this.index + 1}/${this.count} (pid ${this.#child.pid ?? '?'})`;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  #fail(err: Error): void {
    this.#gone ??= err;
    for (const pending of this.#pending.values()) pending.reject(this.#gone);
    this.#pending.clear();
  }

  call<T>(method: string, ...args: unknown[]): Promise<T> {
    if (this.#gone !== undefined) return Promise.reject(this.#gone);
    return new Promise<T>((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const request: WorkerRequest = { id, method, args };
      this.#child.send(request, (err) => {
        if (err !== null && err !== undefined) this.#fail(new Error(`${this.name}: ${err.message}`));
      });
    });
  }

  /** Ask the worker to close its connections, then make sure it is gone (and reaped). */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#gone === undefined)
      await within(
        this.call('close').catch(() => {}),
        CLOSE_TIMEOUT_MS,
      );
    this.kill();
    await within(this.#exited, CLOSE_TIMEOUT_MS);
  }

  kill(): void {
    // unexpected from now on: do not report the exit as a failure
    this.#gone ??= new Error(`${this.name} was stopped`);
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
    live.delete(this.#child);
  }
}

/** Start `count` worker processes. */
export function startWorkers(count: number): RemoteWorker[] {
  installExitHandlers();
  return Array.from({ length: count }, (_, i) => new RemoteWorker(i, count));
}

/** Close every worker (in parallel); never throws. */
export async function closeWorkers(workers: readonly RemoteWorker[]): Promise<void> {
  await Promise.all(workers.map((w) => w.close().catch(() => w.kill())));
}

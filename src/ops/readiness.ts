/**
 * Readiness of one station process: ready while its roles run, it is not draining, and its Redis answers
 * (a PING within `timeoutMs`, asked at most every `cacheMs`). `watch()` re-checks periodically and calls
 * `onChange` on every flip — a gateway stops accepting connections while not ready and resumes after.
 */
import type { StationMetrics } from './metrics.ts';

export interface ReadinessReport {
  readonly ready: boolean;
  readonly draining: boolean;
  readonly checks: Readonly<Record<string, { readonly ok: boolean; readonly detail?: string }>>;
}

export interface ReadinessOptions {
  /** PING the station's Redis (resolves on PONG); undefined for the embedded engine. */
  readonly ping?: () => Promise<unknown>;
  readonly metrics: StationMetrics;
  readonly timeoutMs?: number;
  readonly cacheMs?: number;
}

export class Readiness {
  readonly #o: ReadinessOptions;
  #started = false;
  #draining = false;
  #last: { at: number; report: Promise<ReadinessReport> } | undefined;
  #watch: NodeJS.Timeout | undefined;
  #ready: boolean | undefined;

  constructor(options: ReadinessOptions) {
    this.#o = options;
  }

  /** The roles run. */
  started(): void {
    this.#started = true;
    this.#last = undefined;
  }

  /** Draining: not ready from now on. */
  drain(): void {
    this.#draining = true;
    this.#last = undefined;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** The last known answer (false before the first check). */
  get ready(): boolean {
    return this.#ready ?? false;
  }

  check(): Promise<ReadinessReport> {
    const now = Date.now();
    if (this.#last && now - this.#last.at < (this.#o.cacheMs ?? 500)) return this.#last.report;
    const report = this.#check();
    this.#last = { at: now, report };
    return report;
  }

  async #check(): Promise<ReadinessReport> {
    const checks: Record<string, { ok: boolean; detail?: string }> = {
      roles: this.#started ? { ok: true } : { ok: false, detail: 'starting' },
      draining: this.#draining ? { ok: false, detail: 'draining' } : { ok: true },
    };
    if (this.#o.ping) checks['redis'] = await this.#pingRedis(this.#o.ping);
    const ready = Object.values(checks).every((c) => c.ok);
    this.#ready = ready;
    return { ready, draining: this.#draining, checks };
  }

  async #pingRedis(ping: () => Promise<unknown>): Promise<{ ok: boolean; detail?: string }> {
    const timeoutMs = this.#o.timeoutMs ?? 1000;
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      const seconds = (performance.now() - start) / 1000;
      this.#o.metrics.redisCommand('ping', seconds, 'ok');
      return { ok: true, detail: `${(seconds * 1000).toFixed(1)} ms` };
    } catch (err) {
      this.#o.metrics.redisCommand('ping', (performance.now() - start) / 1000, 'failed');
      return { ok: false, detail: `redis: ${err instanceof Error ? err.message : String(err)}` };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Re-check every `intervalMs`; `onChange(ready)` on every change (and once at the first check). */
  watch(intervalMs: number, onChange: (report: ReadinessReport) => void): void {
    let previous: boolean | undefined;
    let running = false;
    const run = async (): Promise<void> => {
      if (running) return;
      running = true;
      try {
        this.#last = undefined;
        const report = await this.check();
        if (report.ready !== previous) {
          previous = report.ready;
          onChange(report);
        }
      } finally {
        running = false;
      }
    };
    void run();
    this.#watch = setInterval(() => void run(), intervalMs);
    this.#watch.unref();
  }

  close(): void {
    clearInterval(this.#watch);
  }
}

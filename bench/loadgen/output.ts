/**
 * Output helpers: stderr notes and the once-a-second progress line (both silenced by `--quiet`), and the
 * formatting shared by the human summaries.
 */
import type { LatencySummary } from './histogram.ts';

export interface Log {
  /** A line on stderr (unless quiet). */
  note(message: string): void;
  readonly quiet: boolean;
}

export function createLog(quiet: boolean): Log {
  return {
    quiet,
    note: (message: string) => {
      if (!quiet) process.stderr.write(`${message}\n`);
    },
  };
}

/** Print `line()` to stderr every `intervalMs` until the returned stop function is called. */
export function startProgress(log: Log, line: () => string, intervalMs = 1000): () => void {
  if (log.quiet) return () => {};
  const timer = setInterval(() => log.note(line()), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Like `startProgress`, for lines that need an asynchronous poll (worker processes' counts): a line whose
 * poll fails is skipped, and none is printed after the returned stop function ran.
 */
export function startPolledProgress(log: Log, line: () => Promise<string>, intervalMs = 1000): () => void {
  if (log.quiet) return () => {};
  let stopped = false;
  const timer = setInterval(() => {
    line().then(
      (text) => {
        if (!stopped) log.note(text);
      },
      () => {},
    );
  }, intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

export function fmtNum(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

export function fmtMs(ms: number): string {
  if (ms >= 100) return Math.round(ms).toLocaleString('en-US');
  if (ms >= 10) return ms.toFixed(1);
  return ms.toFixed(2);
}

export function fmtBytes(bytes: number): string {
  if (Math.abs(bytes) >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  if (Math.abs(bytes) >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${Math.round(bytes)} B`;
}

export function latencyLine(name: string, s: LatencySummary): string {
  if (s.count === 0) return `${name}: no samples`;
  return (
    `${name} ms: p50 ${fmtMs(s.p50)}  p90 ${fmtMs(s.p90)}  p99 ${fmtMs(s.p99)}  p99.9 ${fmtMs(s.p999)}` +
    `  max ${fmtMs(s.max)}  (n=${s.count.toLocaleString('en-US')}, mean ${fmtMs(s.mean)})`
  );
}

export function countsText(map: Readonly<Record<string, number>>): string {
  const entries = Object.entries(map);
  if (entries.length === 0) return 'none';
  return entries
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${JSON.stringify(k)} ×${v.toLocaleString('en-US')}`)
    .join(', ');
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

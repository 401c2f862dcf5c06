/**
 * Process measurements: the generator's own CPU, event-loop delay and memory over a phase (is the
 * generator the bottleneck?), and another process's memory from /proc/<pid>/status (a station gateway).
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fmtBytes, fmtNum } from './output.ts';

export interface GeneratorStats {
  /** CPU time (user + system) over wall time, in % of one core. */
  readonly cpuPercent: number;
  /** Event-loop delay of the generator (ms): high values mean sends and receives were late. */
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopDelayMaxMs: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
}

/** One generator process's stats (with --procs N: one entry per worker process). */
export interface ProcessGeneratorStats extends GeneratorStats {
  readonly pid: number;
}

/** Stats of several generator processes: CPU and memory add up, delays are the worst. */
export interface MergedGeneratorStats extends GeneratorStats {
  readonly processes?: readonly ProcessGeneratorStats[];
}

/**
 * The generator as a whole. One process: its stats as they are (no `processes`); several: CPU % summed
 * (so 180 means 1.8 cores), RSS and heap summed, event-loop delays the maximum, and each process's stats.
 */
export function mergeGeneratorStats(parts: readonly ProcessGeneratorStats[]): MergedGeneratorStats {
  if (parts.length === 1) {
    const { pid: _pid, ...only } = parts[0]!;
    return only;
  }
  const sum = (pick: (s: GeneratorStats) => number): number => parts.reduce((a, s) => a + pick(s), 0);
  const max = (pick: (s: GeneratorStats) => number): number => Math.max(0, ...parts.map(pick));
  return {
    cpuPercent: Math.round(sum((s) => s.cpuPercent) * 10) / 10,
    eventLoopDelayP99Ms: max((s) => s.eventLoopDelayP99Ms),
    eventLoopDelayMaxMs: max((s) => s.eventLoopDelayMaxMs),
    rssBytes: sum((s) => s.rssBytes),
    heapUsedBytes: sum((s) => s.heapUsedBytes),
    processes: parts,
  };
}

/**
 * "CPU 97% of a core, event-loop delay p99 1.2 ms, RSS 80 MiB"; for several processes the total and
 * each process's CPU ("CPU 182% over 2 processes (92%, 90%), …").
 */
export function generatorText(g: MergedGeneratorStats): string {
  return `${cpuText(g)}, event-loop delay p99 ${g.eventLoopDelayP99Ms} ms, RSS ${fmtBytes(g.rssBytes)}`;
}

/** "CPU 97% of a core", or "CPU 182% over 2 processes (92%, 90%)". */
export function cpuText(g: MergedGeneratorStats): string {
  if (g.processes === undefined) return `CPU ${fmtNum(g.cpuPercent)}% of a core`;
  const each = g.processes.map((p) => `${fmtNum(p.cpuPercent)}%`).join(', ');
  return `CPU ${fmtNum(g.cpuPercent)}% over ${g.processes.length} processes (${each})`;
}

/** Sampling interval of the event-loop delay monitor; its readings include it, so it is subtracted. */
const LOOP_RESOLUTION_MS = 5;

export class GeneratorMeter {
  readonly #cpu = process.cpuUsage();
  readonly #wall = performance.now();
  readonly #loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });

  constructor() {
    this.#loop.enable();
  }

  /** CPU % so far (for progress lines). */
  cpuPercentNow(): number {
    const cpu = process.cpuUsage(this.#cpu);
    const wallUs = (performance.now() - this.#wall) * 1000;
    return wallUs <= 0 ? 0 : Math.round(((cpu.user + cpu.system) / wallUs) * 1000) / 10;
  }

  stop(): GeneratorStats {
    this.#loop.disable();
    const memory = process.memoryUsage();
    const delay = (ns: number): number => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
    const p99 = this.#loop.count > 0 ? delay(this.#loop.percentile(99)) : 0;
    const max = this.#loop.count > 0 ? delay(this.#loop.max) : 0;
    return {
      cpuPercent: this.cpuPercentNow(),
      eventLoopDelayP99Ms: Math.round(p99 * 10) / 10,
      eventLoopDelayMaxMs: Math.round(max * 10) / 10,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
    };
  }
}

export interface ProcessMemory {
  readonly pid: number;
  /** VmRSS and VmHWM (peak) in bytes. */
  readonly rssBytes: number;
  readonly peakRssBytes: number;
}

/** VmRSS / VmHWM of a process (Linux /proc), or undefined when unreadable. */
export function readProcessMemory(pid: number): ProcessMemory | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string): number | undefined => {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    return m === null ? undefined : Number(m[1]) * 1024;
  };
  const rss = kb('VmRSS');
  if (rss === undefined) return undefined;
  return { pid, rssBytes: rss, peakRssBytes: kb('VmHWM') ?? rss };
}

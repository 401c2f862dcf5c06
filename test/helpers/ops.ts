/**
 * Helpers of the operations tests: running dimctl as a real process against a test cluster, and reading
 * Prometheus text from a process's ops server.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Cluster } from './cluster.ts';
import { OPS_TOKEN } from './cluster.ts';
import { repoDir } from './vectors.ts';

export interface DimctlRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const DIMCTL = join(repoDir, 'workers', 'dimctl.ts');

/** `node workers/dimctl.ts …args` with the cluster's settings (or `env` alone when no cluster is given). */
export function dimctl(
  cluster: Cluster | undefined,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<DimctlRun> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('DIM_') && k !== 'NODE_TEST_CONTEXT') base[k] = v;
  const clusterEnv = cluster
    ? {
        DIM_REDIS_URL: cluster.env['DIM_REDIS_URL']!,
        DIM_REDIS_PREFIX: cluster.env['DIM_REDIS_PREFIX']!,
        DIM_SHARDS: cluster.env['DIM_SHARDS']!,
        DIM_OPS_TOKEN: OPS_TOKEN,
      }
    : {};
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [DIMCTL, ...args],
      { env: { ...base, ...clusterEnv, ...env }, cwd: cluster?.dir ?? repoDir, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** dimctl --json …: the parsed output (throws with the output when it is not JSON). */
export async function dimctlJson<T>(
  cluster: Cluster | undefined,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number; value: T; stderr: string }> {
  const run = await dimctl(cluster, ['--json', ...args], env);
  try {
    return { code: run.code, value: JSON.parse(run.stdout) as T, stderr: run.stderr };
  } catch {
    throw new Error(
      `dimctl ${args.join(' ')} (exit ${run.code}) printed no JSON:\n${run.stdout}\n${run.stderr}`,
    );
  }
}

/** The value of one series in Prometheus text (sum over series matching `labels`), 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const set = new Map<string, string>();
    for (const pair of (m[2] ?? '').slice(1, -1).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      set.set(pair[1]!, pair[2]!);
    if (Object.entries(labels).every(([k, v]) => set.get(k) === v)) total += Number(m[3]);
  }
  return total;
}

export async function getText(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, text: await res.text() };
}

/** Plain-text tables and durations for dimctl's human output. Pure. */

export type Cell = string | number | boolean | undefined | null;

function text(cell: Cell): string {
  if (cell === undefined || cell === null || cell === '') return '-';
  if (typeof cell === 'boolean') return cell ? 'yes' : 'no';
  return String(cell);
}

/** Columns padded to their widest cell; numbers right-aligned. */
export function renderTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const cells = rows.map((r) => headers.map((_, i) => text(r[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const numeric = headers.map(
    (_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || r[i] == null),
  );
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...cells.map(line)].join('\n') + '\n';
}

/** 950 → `950ms`, 12_300 → `12.3s`, 4_000_000 → `1h6m`. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
  return `${Math.floor(ms / 3_600_000)}h${Math.round((ms % 3_600_000) / 60_000)}m`;
}

export function formatTime(ms: number | undefined): string {
  return ms === undefined || ms === 0 ? '-' : new Date(ms).toISOString().replace('.000Z', 'Z');
}

/**
 * `report` (dimples server/cpu/report.py): `online` / `offline`, plus device-token reports (`apns`,
 * `c2dm`) meant for the push bot. Legacy forms: commands named `online` / `offline` / `broadcast`, and
 * `state: foreground|background`.
 */
import type { Content } from './content.ts';

const LEGACY_NAMES = new Set(['online', 'offline', 'broadcast']);

export interface ReportCommand {
  readonly title: string;
}

export function parseReport(content: Content): ReportCommand | undefined {
  const name = content.command;
  if (name === undefined || (name !== 'report' && !LEGACY_NAMES.has(name))) return undefined;
  const title = content.dict['title'];
  if (typeof title === 'string' && title.length > 0) return { title };
  const state = content.dict['state'];
  if (state === 'foreground') return { title: 'online' };
  if (state === 'background') return { title: 'offline' };
  return { title: name === 'report' ? '' : name };
}

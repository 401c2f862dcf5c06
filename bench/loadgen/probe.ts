/**
 * The text of every load message, encrypted end to end like any text: a JSON object
 * `{"lg":RUN,"seq":N,"sentAt":MS,"pad":"…"}` where RUN identifies the run (and step), N numbers the
 * message within it (0-based) and MS is its *scheduled* send time in milliseconds since the run's start,
 * so that receivers in the same process measure latency from the schedule (coordinated omission: a send
 * that went out late still counts its delay). `pad` brings the text to the requested size.
 */

export interface Probe {
  readonly run: string;
  readonly seq: number;
  readonly sentAt: number;
}

const PREFIX = '{"lg":';

export function probeText(run: string, seq: number, sentAtMs: number, size: number): string {
  const head = `{"lg":${JSON.stringify(run)},"seq":${seq},"sentAt":${sentAtMs.toFixed(3)},"pad":"`;
  const pad = Math.max(0, size - head.length - 2);
  return `${head}${'x'.repeat(pad)}"}`;
}

/** The probe in a text, or undefined when the text is not one. */
export function parseProbe(text: unknown): Probe | undefined {
  if (typeof text !== 'string' || !text.startsWith(PREFIX)) return undefined;
  try {
    const value = JSON.parse(text) as Record<string, unknown>;
    const { lg, seq, sentAt } = value;
    if (typeof lg !== 'string' || typeof seq !== 'number' || typeof sentAt !== 'number') return undefined;
    if (!Number.isInteger(seq) || seq < 0) return undefined;
    return { run: lg, seq, sentAt };
  } catch {
    return undefined;
  }
}

/** A fresh run ID: time-based, unique enough to tell runs (and steps) apart. */
export function newRunId(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

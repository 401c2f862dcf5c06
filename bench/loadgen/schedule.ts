/**
 * Constant-rate open-loop scheduling: message n is due at `startPerf + n × intervalMs`, whatever happened
 * to the previous ones (a slow station does not slow the generator down, so its slowness shows up as
 * latency measured from the due time). Timers fire late by up to a millisecond or more; every message
 * already due is fired at once. After ~5 ms of sending in one go the loop yields so that receptions are
 * processed too.
 *
 * With several generator processes each runs a share of the same schedule: process w of N fires messages
 * w, w + N, w + 2N… at their global due times (interleaved: together they are the one constant-rate schedule).
 */
import { setImmediate as immediate } from 'node:timers/promises';

export interface ScheduleHandle {
  readonly done: Promise<void>;
  /** Messages fired so far. */
  readonly fired: () => number;
  /** Stop early (the `done` promise resolves). */
  stop(): void;
}

/** This process's share of a schedule: messages `index`, `index + count`, … (default: all of them). */
export interface ScheduleShare {
  readonly index: number;
  readonly count: number;
}

export const WHOLE_SCHEDULE: ScheduleShare = { index: 0, count: 1 };

/** How many of messages 0 … total − 1 fall to `share`. */
export function shareSize(total: number, share: ScheduleShare): number {
  return Math.max(0, Math.ceil((total - share.index) / share.count));
}

/**
 * Fire this share's messages of the schedule `startPerf + n × intervalMs` (n < total); `fire` gets the
 * global message number n. `fired()` counts this share's messages.
 */
export function runSchedule(
  total: number,
  intervalMs: number,
  startPerf: number,
  fire: (n: number, scheduledPerf: number) => void,
  share: ScheduleShare = WHOLE_SCHEDULE,
): ScheduleHandle {
  const stride = share.count;
  let n = share.index;
  let fired = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const tick = (): void => {
    timer = undefined;
    if (stopped) return;
    const begin = performance.now();
    while (n < total) {
      const due = startPerf + n * intervalMs;
      if (due > performance.now()) break;
      fire(n, due);
      n += stride;
      fired += 1;
      if (performance.now() - begin > 5) break;
    }
    if (n >= total) {
      stopped = true;
      finish();
      return;
    }
    const wait = startPerf + n * intervalMs - performance.now();
    if (wait <= 0) void immediate().then(tick);
    else timer = setTimeout(tick, wait);
  };
  const wait = startPerf - performance.now();
  if (n >= total) {
    stopped = true;
    finish();
  } else if (wait > 0) timer = setTimeout(tick, wait);
  else tick();
  return {
    done,
    fired: () => fired,
    stop: () => {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      finish();
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

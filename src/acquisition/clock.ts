/**
 * Time as the acquisition code sees it. The real clock is the process's monotonic clock; the
 * simulator substitutes a virtual one so that a 10-second stream runs in milliseconds and every
 * timing fault is reproducible.
 */
export interface Clock {
  /** Milliseconds on a monotonic scale (fractional). */
  now(): number;
  /** Blocks the calling thread for `ms` (start-up waits only; never on the frame path). */
  sleep(ms: number): void;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

export const monotonicClock: Clock = {
  now: () => performance.now(),
  sleep: (ms: number): void => {
    if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
  },
};

/**
 * CLOCK_MONOTONIC in ms minus performance.now(): converts kernel event timestamps (GPIO character
 * device events are CLOCK_MONOTONIC by default) onto performance.now()'s scale. Both come from the
 * same clock, so one reading at start-up holds for the life of the thread.
 */
export function monotonicOffsetMs(): number {
  const a = performance.now();
  const mono = Number(process.hrtime.bigint()) / 1e6;
  const b = performance.now();
  return mono - (a + b) / 2;
}

/** A clock the simulator moves; sleeping advances it. */
export class VirtualClock implements Clock {
  private t: number;

  constructor(startMs = 0) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  sleep(ms: number): void {
    if (ms > 0) this.t += ms;
  }

  /** Moves time forward to `ms` (never backwards). */
  advanceTo(ms: number): void {
    if (ms > this.t) this.t = ms;
  }

  advanceBy(ms: number): void {
    if (ms > 0) this.t += ms;
  }
}

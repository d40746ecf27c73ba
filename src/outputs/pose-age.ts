import { RollingWindow } from '../common/statistics.js';
import type { PoseEvent } from '../domain/pose.js';

/**
 * Milliseconds from the arrival of the pose's newest input sample to `nowMs` (performance.now()),
 * on the monotonic clock so that a wall-clock step (NTP) never makes it negative or huge; NaN
 * when the arrival is not known (exact mode's block poses, a step across a gap).
 */
export function poseAgeMs(e: PoseEvent, nowMs: number): number {
  return nowMs - e.inputArrivedAt;
}

/**
 * The published age: ms to 0.01, 0 for the few µs below zero that stamps from the acquisition
 * thread's clock can give, null when unknown.
 */
export function publishedAge(ageMs: number): number | null {
  if (!Number.isFinite(ageMs)) return null;
  return ageMs <= 0 ? 0 : Math.round(ageMs * 100) / 100;
}

/**
 * t_capture: the capture instant on the publisher's wall clock, `ts` (Unix ms at publish) minus
 * the monotonic age, to 0.1 ms — so t_capture ≤ ts even when the wall clock was stepped mid-run.
 */
export function captureTime(ts: number, age: number | null): number | null {
  return age === null ? null : Math.floor((ts - age) * 10) / 10;
}

/** How many recent ages the percentiles cover: 60 s at 50 Hz. */
export const AGE_WINDOW = 3000;

export interface PoseAgeSummary {
  /** Poses with a known age over the run. */
  count: number;
  /** Poses whose input arrival was unknown (age not measured). */
  unknown: number;
  window_poses: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
}

/**
 * Pose age at publish: exact percentiles over the last AGE_WINDOW poses (what health should show:
 * now, not the whole run) and the run's maximum. record() writes into preallocated arrays only.
 */
export class PoseAgeStats {
  private readonly recent = new RollingWindow(AGE_WINDOW);
  private count = 0;
  private unknown = 0;
  private max = -Infinity;

  record(ageMs: number): void {
    if (!Number.isFinite(ageMs)) {
      this.unknown++;
      return;
    }
    this.recent.push(ageMs);
    this.count++;
    if (ageMs > this.max) this.max = ageMs;
  }

  summary(): PoseAgeSummary {
    const n = this.recent.filled;
    const [p50, p95, p99] = this.recent.percentiles([50, 95, 99]).map((x) => (n === 0 ? null : round2(x)));
    return {
      count: this.count,
      unknown: this.unknown,
      window_poses: n,
      p50_ms: p50 ?? null,
      p95_ms: p95 ?? null,
      p99_ms: p99 ?? null,
      max_ms: n === 0 ? null : round2(this.max),
    };
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

import { round3 } from '../common/round.js';

/**
 * The watchdog's decisions, apart from any bus or clock: each class takes figures (unit times,
 * memory readings, block comparisons) with the time they belong to and answers with verdicts.
 * WatchdogPlugin feeds them from the bus and carries the verdicts out. Judged are trends and
 * sustained excess, never single spikes; time the thread spent preempted is told apart from
 * time the model needed by comparing wall time with the thread's CPU time.
 */
export type WatchdogAction = 'exact' | 'reset' | 'record';

export type VerdictCause =
  | 'latency_excess'
  | 'latency_trend'
  | 'contention'
  | 'contention_over'
  | 'latency_starved'
  | 'memory_leak'
  | 'alignment'
  | 'numerical_drift'
  | 'offset'
  | 'non_finite';

export interface Verdict {
  /** alarm: something regressed; contention: the machine, not the model. */
  kind: 'alarm' | 'contention';
  cause: VerdictCause;
  action: WatchdogAction;
  detail: string;
  data: Record<string, string | number | boolean | null>;
}

/** What the system sampler last saw (systeminformation); null fields where the platform does not say. */
export interface SystemState {
  loadPct: number | null;
  stealPct: number | null;
  loadAvg: number | null;
  tempC: number | null;
  /** Current clock speed / maximum (below 1: throttled or scaled down). */
  speedRatio: number | null;
  memUsedPct: number | null;
  /** At or above the configured load or steal. */
  busy: boolean;
}

export const UNKNOWN_SYSTEM: SystemState = {
  loadPct: null,
  stealPct: null,
  loadAvg: null,
  tempC: null,
  speedRatio: null,
  memUsedPct: null,
  busy: false,
};

export function systemData(s: SystemState): Record<string, number | boolean | null> {
  return {
    load_pct: s.loadPct === null ? null : r1(s.loadPct),
    steal_pct: s.stealPct === null ? null : r1(s.stealPct),
    load_avg: s.loadAvg === null ? null : round3(s.loadAvg),
    temp_c: s.tempC,
    speed_ratio: s.speedRatio === null ? null : round3(s.speedRatio),
    system_busy: s.busy,
  };
}

// Rounding for verdict details and data: figures read by people and by JSON consumers.

export function f2(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : 'n/a';
}
export function r1(x: number): number {
  return Math.round(x * 10) / 10;
}
export function r6(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : NaN;
}

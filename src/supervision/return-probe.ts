import type { SystemState } from './verdict.js';

export interface ReturnSettings {
  enabled: boolean;
  quietS: number;
  quietUnits: number;
  preemptedMax: number;
  backoff: number;
  maxReturns: number;
}

/**
 * Decides when exact mode may hand back to streaming. Exact mode has no streaming units to
 * time, so the probe works from what it has: each exact block's wall and CPU time. A block
 * whose wall time is mostly CPU time ran unpreempted; `quietUnits` of those in a row, after at
 * least the current quiet period of stream time in exact, mean the contention is over. Each
 * return lengthens the next quiet period by `backoff`, and after `maxReturns` returns exact
 * stays (a regression that keeps coming back is not flapped on for ever).
 */
export class ReturnProbe {
  private since = NaN;
  private quietRun = 0;
  holdS: number;
  returns = 0;
  cause = '';
  lastPreempted = NaN;
  exhausted = false;

  constructor(readonly s: ReturnSettings) {
    this.holdS = s.quietS;
    this.quietShare = s.preemptedMax;
  }

  get waiting(): boolean {
    return !Number.isNaN(this.since);
  }

  /** The preempted share an exact block may have and count as quiet, for the current fallback. */
  quietShare: number;

  /**
   * Streaming fell back to exact at stream time `t` (s) for `cause`. `healthyShare`: the
   * preempted share of streaming's healthy windows before; quiet means back near that (plus
   * 0.1), or under preempted_max, whichever is higher.
   */
  fellBack(t: number, cause: string, healthyShare = NaN, returnable = true): void {
    // Only what the probe can see go away is returned from: latency and contention. A failed
    // alignment or drift says nothing an unpreempted exact block could disprove.
    this.since = returnable ? t : NaN;
    this.quietRun = 0;
    this.cause = cause;
    this.quietShare = Number.isFinite(healthyShare)
      ? Math.min(0.95, Math.max(this.s.preemptedMax, healthyShare + 0.1))
      : this.s.preemptedMax;
  }

  /** One exact unit ending at stream time t. Returns the reason to return, or null. */
  exactUnit(t: number, wallMs: number, cpuMs: number, system: SystemState): string | null {
    if (!this.waiting || !this.s.enabled) return null;
    const preempted = Number.isFinite(cpuMs) && wallMs > 0 ? Math.max(0, 1 - cpuMs / wallMs) : system.busy ? 1 : 0;
    this.lastPreempted = preempted;
    this.quietRun = preempted <= this.quietShare ? this.quietRun + 1 : 0;
    if (this.returns >= this.s.maxReturns) {
      this.exhausted = true;
      return null;
    }
    const held = t - this.since;
    if (held < this.holdS || this.quietRun < this.s.quietUnits) return null;
    this.since = NaN;
    this.returns++;
    const why = `back to streaming after ${held.toFixed(1)} s in exact (${this.cause}): ${this.quietRun} exact blocks in a row ran with ≤ ${Math.round(this.quietShare * 100)} % of their time preempted (last ${Math.round(preempted * 100)} %); return ${this.returns} of at most ${this.s.maxReturns}, next quiet period ${(this.holdS * this.s.backoff).toFixed(0)} s`;
    this.holdS *= this.s.backoff;
    this.quietRun = 0;
    return why;
  }
}

import { percentileOf, TheilSen, type Trend } from '../common/statistics.js';
import { round3 } from '../common/round.js';
import { f2, systemData, type WatchdogAction, type Verdict, type SystemState } from './verdict.js';

export interface LatencyDriftSettings {
  /** The bounds on T_compute (eval.streaming_latency). */
  p50Ms: number;
  p95Ms: number;
  windowUnits: number;
  /** Units after each (re)start that are not judged. */
  warmupUnits: number;
  persistenceWindows: number;
  trendWindows: number;
  trendMsPerMin: number;
  trendMinRiseMs: number;
  trendConfidence: number;
  baselineWindows: number;
  starvationUnits: number;
  /** Stream seconds one unit covers (a streaming step: 0.02). */
  unitSeconds: number;
  onRegression: WatchdogAction;
  onContention: WatchdogAction;
}

export interface WindowFigures {
  index: number;
  wallP50: number;
  wallP95: number;
  /** NaN where thread CPU time is not available. */
  cpuP50: number;
  cpuP95: number;
  verdict: 'ok' | 'excess' | 'contention';
}

/**
 * Streaming unit times in consecutive windows. A window is `excess` when the model's own time
 * (CPU) is over a bound, `contention` when wall time is over a bound while CPU time is within
 * it (the thread was preempted: a busy machine, not a slower model). Where CPU time is not
 * available, the system's load decides which of the two an over-bound window is. Verdicts need
 * `persistenceWindows` such windows in a row; a trend alarm needs a confident Theil–Sen rise of
 * the window P95s. The window is kept across restarts (only warm-up units are skipped), so a
 * storm of resets cannot silence the check: if it keeps every unit in warm-up for
 * `starvationUnits` units, that is an alarm and warm-up units are judged from then on.
 */
export class LatencyDrift {
  private readonly wall: Float64Array;
  private readonly cpu: Float64Array;
  private readonly scratch: Float64Array;
  private n = 0;
  private cpuN = 0;
  private wallSum = 0;
  private cpuSum = 0;
  /** Share of wall time off the CPU in the last healthy (ok) windows: what preemption normally is here. */
  private readonly okShares = new Float64Array(5);
  private okSharesN = 0;
  private readonly p95Hist: Float64Array;
  private readonly xHist: Float64Array;
  private readonly xs: Float64Array;
  private readonly ys: Float64Array;
  private histN = 0;
  private readonly fitter = new TheilSen(0.95);
  private baselineSamples: number[] = [];
  baseline: { p95Ms: number; basis: 'cpu' | 'wall' } | null = null;
  private excessRun = 0;
  private contentionRun = 0;
  private inContention = false;
  private excessArmed = true;
  private trendArmed = true;
  private lastSince = -1;
  private unjudgedRun = 0;
  starved = false;
  lastWindow: WindowFigures | null = null;
  lastTrend: Trend | null = null;
  readonly counts = {
    units: 0,
    judged: 0,
    warmup_skipped: 0,
    restarts: 0,
    windows: 0,
    excess_windows: 0,
    contention_windows: 0,
    starved_episodes: 0,
    alarms: 0,
  };

  constructor(readonly s: LatencyDriftSettings) {
    this.wall = new Float64Array(s.windowUnits);
    this.cpu = new Float64Array(s.windowUnits);
    this.scratch = new Float64Array(s.windowUnits);
    this.p95Hist = new Float64Array(s.trendWindows);
    this.xHist = new Float64Array(s.trendWindows);
    this.xs = new Float64Array(s.trendWindows);
    this.ys = new Float64Array(s.trendWindows);
  }

  /**
   * Median share of wall time the thread spent preempted in the last healthy windows (NaN
   * before any): on a shared machine some preemption is normal, and streaming met its bounds
   * with it.
   */
  healthyPreemptedShare(): number {
    const k = Math.min(this.okSharesN, this.okShares.length);
    if (k === 0) return NaN;
    const a = Array.from(this.okShares.subarray(0, k)).sort((x, y) => x - y);
    return a[Math.floor(k / 2)]!;
  }

  /** Back to streaming after exact mode: a fresh window and trend (the baseline stays). */
  resume(): void {
    this.n = 0;
    this.cpuN = 0;
    this.wallSum = 0;
    this.cpuSum = 0;
    this.histN = 0;
    this.excessRun = 0;
    this.contentionRun = 0;
    this.inContention = false;
    this.excessArmed = true;
    this.trendArmed = true;
    this.lastSince = -1;
    this.unjudgedRun = 0;
  }

  /** One streaming unit. Allocates nothing unless a window completes with a verdict. */
  push(wallMs: number, cpuMs: number, sinceRestart: number, system: SystemState): Verdict[] | null {
    const c = this.counts;
    c.units++;
    if (sinceRestart < this.lastSince) c.restarts++;
    this.lastSince = sinceRestart;
    const warm = this.starved ? sinceRestart < 1 : sinceRestart < this.s.warmupUnits;
    if (warm) {
      c.warmup_skipped++;
      if (++this.unjudgedRun >= this.s.starvationUnits && !this.starved) {
        this.starved = true;
        c.starved_episodes++;
        c.alarms++;
        return [
          {
            kind: 'alarm',
            cause: 'latency_starved',
            action: 'record',
            detail: `latency check starved: ${this.unjudgedRun} units in a row were warm-up after ${c.restarts} restarts; judging warm-up units from now on`,
            data: { unjudged_units: this.unjudgedRun, restarts: c.restarts },
          },
        ];
      }
      return null;
    }
    this.unjudgedRun = 0;
    c.judged++;
    this.wall[this.n] = wallMs;
    if (Number.isFinite(cpuMs)) {
      this.cpu[this.cpuN++] = cpuMs;
      this.wallSum += wallMs;
      this.cpuSum += cpuMs;
    }
    if (++this.n < this.s.windowUnits) return null;
    return this.closeWindow(system);
  }

  private closeWindow(system: SystemState): Verdict[] | null {
    const s = this.s;
    const c = this.counts;
    const n = this.n;
    const hasCpu = this.cpuN >= n / 2;
    const w: WindowFigures = {
      index: c.windows++,
      wallP50: percentileOf(this.wall, n, 50, this.scratch),
      wallP95: percentileOf(this.wall, n, 95, this.scratch),
      cpuP50: hasCpu ? percentileOf(this.cpu, this.cpuN, 50, this.scratch) : NaN,
      cpuP95: hasCpu ? percentileOf(this.cpu, this.cpuN, 95, this.scratch) : NaN,
      verdict: 'ok',
    };
    const share = this.wallSum > 0 ? Math.max(0, 1 - this.cpuSum / this.wallSum) : NaN;
    this.n = 0;
    this.cpuN = 0;
    this.wallSum = 0;
    this.cpuSum = 0;
    const wallOver = w.wallP95 > s.p95Ms || w.wallP50 > s.p50Ms;
    const cpuOver = hasCpu ? w.cpuP95 > s.p95Ms || w.cpuP50 > s.p50Ms : wallOver && !system.busy;
    w.verdict = cpuOver ? 'excess' : wallOver ? 'contention' : 'ok';
    this.lastWindow = w;
    if (w.verdict === 'ok' && Number.isFinite(share)) this.okShares[this.okSharesN++ % this.okShares.length] = share;
    const out: Verdict[] = [];
    const figures = {
      window: w.index,
      wall_p50_ms: round3(w.wallP50),
      wall_p95_ms: round3(w.wallP95),
      cpu_p50_ms: round3(w.cpuP50),
      cpu_p95_ms: round3(w.cpuP95),
      basis: hasCpu ? 'cpu' : 'system load',
      ...systemData(system),
    };
    const what = `over ${s.windowUnits} units: wall P50 ${f2(w.wallP50)} / P95 ${f2(w.wallP95)} ms, CPU P50 ${f2(w.cpuP50)} / P95 ${f2(w.cpuP95)} ms (bounds ${s.p50Ms} / ${s.p95Ms} ms)`;

    if (w.verdict === 'excess') {
      c.excess_windows++;
      this.excessRun++;
    } else {
      this.excessRun = 0;
      this.excessArmed = true;
    }
    if (w.verdict === 'contention') {
      c.contention_windows++;
      this.contentionRun++;
    } else {
      this.contentionRun = 0;
    }
    if (this.excessRun >= s.persistenceWindows && this.excessArmed) {
      this.excessArmed = false;
      c.alarms++;
      out.push({
        kind: 'alarm',
        cause: 'latency_excess',
        action: s.onRegression,
        detail: `T_compute over its bound in ${this.excessRun} windows in a row, ${hasCpu ? "by the model's own CPU time" : 'wall time with the machine not busy (no thread CPU time)'}: ${what}`,
        data: figures,
      });
    }
    if (this.contentionRun >= s.persistenceWindows && !this.inContention) {
      this.inContention = true;
      out.push({
        kind: 'contention',
        cause: 'contention',
        action: s.onContention,
        detail: `CPU contention: wall time over its bound in ${this.contentionRun} windows in a row while CPU time is within it: ${what}`,
        data: figures,
      });
    } else if (this.inContention && w.verdict === 'ok') {
      this.inContention = false;
      out.push({
        kind: 'contention',
        cause: 'contention_over',
        action: 'record',
        detail: `contention over: ${what}`,
        data: figures,
      });
    }

    // Baseline and trend on the model's own time where known.
    const y = hasCpu ? w.cpuP95 : w.wallP95;
    if (!this.baseline) {
      this.baselineSamples.push(y);
      if (this.baselineSamples.length >= s.baselineWindows) {
        const b = [...this.baselineSamples].sort((a, z) => a - z);
        this.baseline = { p95Ms: b[Math.floor(b.length / 2)]!, basis: hasCpu ? 'cpu' : 'wall' };
        this.baselineSamples = [];
      }
    }
    const k = this.histN % s.trendWindows;
    this.p95Hist[k] = y;
    this.xHist[k] = (w.index * s.windowUnits * s.unitSeconds) / 60;
    this.histN++;
    if (this.histN >= s.trendWindows && this.baseline) {
      for (let i = 0; i < s.trendWindows; i++) {
        const j = (this.histN + i) % s.trendWindows;
        this.xs[i] = this.xHist[j]!;
        this.ys[i] = this.p95Hist[j]!;
      }
      const t = this.fitter.fit(this.xs, this.ys, s.trendWindows);
      this.lastTrend = t;
      const rising =
        t !== null &&
        t.slope > s.trendMsPerMin &&
        t.lo > 0 &&
        t.rising >= s.trendConfidence &&
        y - this.baseline.p95Ms >= s.trendMinRiseMs;
      if (rising && this.trendArmed) {
        this.trendArmed = false;
        c.alarms++;
        out.push({
          kind: 'alarm',
          cause: 'latency_trend',
          action: s.onRegression,
          detail: `T_compute P95 rising ${f2(t.slope)} ms/min (95 % interval ${f2(t.lo)}–${f2(t.hi)}, confidence ${f2(t.rising)}) over ${s.trendWindows} windows; now ${f2(y)} ms against a baseline of ${f2(this.baseline.p95Ms)} ms`,
          data: {
            ...figures,
            slope_ms_per_min: round3(t.slope),
            slope_lo: round3(t.lo),
            slope_hi: round3(t.hi),
            confidence: round3(t.rising),
            baseline_p95_ms: round3(this.baseline.p95Ms),
          },
        });
      } else if (!rising) {
        this.trendArmed = true;
      }
    }
    return out.length ? out : null;
  }
}

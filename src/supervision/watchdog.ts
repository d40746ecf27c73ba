import type { BlockFigures } from '../domain/events.js';
import { within, type Tolerance } from '../domain/error-figures.js';
import { percentileOf, TheilSen, type Trend } from './drift.js';

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

export const UNKNOWN_SYSTEM: SystemState = { loadPct: null, stealPct: null, loadAvg: null, tempC: null, speedRatio: null, memUsedPct: null, busy: false };

// ---------------------------------------------------------------------------------------------
// Latency

export interface LatencySettings {
  /** The plan's bounds on T_compute. */
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
  readonly counts = { units: 0, judged: 0, warmup_skipped: 0, restarts: 0, windows: 0, excess_windows: 0, contention_windows: 0, starved_episodes: 0, alarms: 0 };

  constructor(readonly s: LatencySettings) {
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
        return [{
          kind: 'alarm',
          cause: 'latency_starved',
          action: 'record',
          detail: `latency check starved: ${this.unjudgedRun} units in a row were warm-up after ${c.restarts} restarts; judging warm-up units from now on`,
          data: { unjudged_units: this.unjudgedRun, restarts: c.restarts },
        }];
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
    const figures = { window: w.index, wall_p50_ms: r3(w.wallP50), wall_p95_ms: r3(w.wallP95), cpu_p50_ms: r3(w.cpuP50), cpu_p95_ms: r3(w.cpuP95), basis: hasCpu ? 'cpu' : 'system load', ...systemData(system) };
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
      out.push({ kind: 'alarm', cause: 'latency_excess', action: s.onRegression, detail: `T_compute over its bound in ${this.excessRun} windows in a row, ${hasCpu ? "by the model's own CPU time" : 'wall time with the machine not busy (no thread CPU time)'}: ${what}`, data: figures });
    }
    if (this.contentionRun >= s.persistenceWindows && !this.inContention) {
      this.inContention = true;
      out.push({ kind: 'contention', cause: 'contention', action: s.onContention, detail: `CPU contention: wall time over its bound in ${this.contentionRun} windows in a row while CPU time is within it: ${what}`, data: figures });
    } else if (this.inContention && w.verdict === 'ok') {
      this.inContention = false;
      out.push({ kind: 'contention', cause: 'contention_over', action: 'record', detail: `contention over: ${what}`, data: figures });
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
      const rising = t !== null && t.slope > s.trendMsPerMin && t.lo > 0 && t.rising >= s.trendConfidence && y - this.baseline.p95Ms >= s.trendMinRiseMs;
      if (rising && this.trendArmed) {
        this.trendArmed = false;
        c.alarms++;
        out.push({
          kind: 'alarm',
          cause: 'latency_trend',
          action: s.onRegression,
          detail: `T_compute P95 rising ${f2(t.slope)} ms/min (95 % interval ${f2(t.lo)}–${f2(t.hi)}, confidence ${f2(t.rising)}) over ${s.trendWindows} windows; now ${f2(y)} ms against a baseline of ${f2(this.baseline.p95Ms)} ms`,
          data: { ...figures, slope_ms_per_min: r3(t.slope), slope_lo: r3(t.lo), slope_hi: r3(t.hi), confidence: r3(t.rising), baseline_p95_ms: r3(this.baseline.p95Ms) },
        });
      } else if (!rising) {
        this.trendArmed = true;
      }
    }
    return out.length ? out : null;
  }
}

// ---------------------------------------------------------------------------------------------
// Return from exact

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
    this.quietShare = Number.isFinite(healthyShare) ? Math.min(0.95, Math.max(this.s.preemptedMax, healthyShare + 0.1)) : this.s.preemptedMax;
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

// ---------------------------------------------------------------------------------------------
// Memory

export interface MemoryReading {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export interface MemorySettings {
  warmupS: number;
  minSpanS: number;
  rssMbPerHour: number;
  heapMbPerHour: number;
  externalMbPerHour: number;
  minGrowthMb: number;
  confidence: number;
  onLeak: WatchdogAction;
}

export interface MemoryTrend {
  mb_per_hour: number;
  lo_mb_per_hour: number;
  hi_mb_per_hour: number;
  confidence: number;
  samples: number;
}

const SERIES = ['rss', 'heap_used', 'external'] as const;
type Series = (typeof SERIES)[number];
const MAX_MEM = 240;

/**
 * Memory drift in bounded space: samples (time in seconds, MB) halved whenever the series is
 * full, so hours keep an even-spaced record. After warm-up each series gets a Theil–Sen slope;
 * a leak alarm needs the slope over its bound, its 95 % interval above zero, a Mann–Kendall
 * confidence of `confidence`, a span of `minSpanS` and `minGrowthMb` actually grown.
 */
export class MemoryDrift {
  readonly t = new Float64Array(MAX_MEM);
  private readonly y: Record<Series, Float64Array> = { rss: new Float64Array(MAX_MEM), heap_used: new Float64Array(MAX_MEM), external: new Float64Array(MAX_MEM) };
  n = 0;
  private every = 1;
  private offered = 0;
  private readonly fitter = new TheilSen(0.95);
  private readonly armed: Record<Series, boolean> = { rss: true, heap_used: true, external: true };
  readonly trends: Record<Series, MemoryTrend | null> = { rss: null, heap_used: null, external: null };
  alarms = 0;
  last: MemoryReading | null = null;

  constructor(readonly s: MemorySettings) {}

  sample(tS: number, m: MemoryReading): Verdict[] | null {
    this.last = m;
    if (this.offered++ % this.every !== 0) return null;
    const mb = 1 / 1048576;
    this.t[this.n] = tS;
    this.y.rss[this.n] = m.rss * mb;
    this.y.heap_used[this.n] = m.heapUsed * mb;
    // external already includes arrayBuffers (typed arrays, Buffers).
    this.y.external[this.n] = m.external * mb;
    this.n++;
    if (this.n >= MAX_MEM) {
      for (const arr of [this.t, ...Object.values(this.y)]) for (let i = 1, j = 2; j < this.n; i++, j += 2) arr[i] = arr[j]!;
      this.n = Math.ceil(this.n / 2);
      this.every *= 2;
    }
    return this.judge(tS);
  }

  private judge(now: number): Verdict[] | null {
    const s = this.s;
    let first = 0;
    while (first < this.n && this.t[first]! < s.warmupS) first++;
    const k = this.n - first;
    if (k < 3) return null;
    const span = now - this.t[first]!;
    const out: Verdict[] = [];
    const bound: Record<Series, number> = { rss: s.rssMbPerHour, heap_used: s.heapMbPerHour, external: s.externalMbPerHour };
    for (const name of SERIES) {
      const y = this.y[name].subarray(first, this.n);
      const fit = this.fitter.fit(this.t.subarray(first, this.n), y, k);
      if (!fit) continue;
      const tr: MemoryTrend = { mb_per_hour: r3(fit.slope * 3600), lo_mb_per_hour: r3(fit.lo * 3600), hi_mb_per_hour: r3(fit.hi * 3600), confidence: r3(fit.rising), samples: fit.n };
      this.trends[name] = tr;
      const grown = y[y.length - 1]! - y[0]!;
      const leak = span >= s.minSpanS && tr.mb_per_hour > bound[name] && fit.lo > 0 && fit.rising >= s.confidence && grown >= s.minGrowthMb;
      if (leak && this.armed[name]) {
        this.armed[name] = false;
        this.alarms++;
        out.push({
          kind: 'alarm',
          cause: 'memory_leak',
          action: s.onLeak,
          detail: `${name} growing ${tr.mb_per_hour.toFixed(1)} MB/h (95 % interval ${tr.lo_mb_per_hour.toFixed(1)}–${tr.hi_mb_per_hour.toFixed(1)}, confidence ${tr.confidence.toFixed(3)}) over ${(span / 60).toFixed(1)} min after warm-up, +${grown.toFixed(1)} MB; bound ${bound[name]} MB/h`,
          data: { series: name, mb_per_hour: tr.mb_per_hour, lo_mb_per_hour: tr.lo_mb_per_hour, hi_mb_per_hour: tr.hi_mb_per_hour, confidence: tr.confidence, span_s: Math.round(span), grown_mb: r3(grown), bound_mb_per_hour: bound[name] },
        });
      } else if (!leak) {
        this.armed[name] = true;
      }
    }
    return out.length ? out : null;
  }

  /** The kept series, for summary.json. */
  series(): { t_s: number; rss_mb: number; heap_used_mb: number; external_mb: number }[] {
    const out = [];
    for (let i = 0; i < this.n; i++) out.push({ t_s: r1(this.t[i]!), rss_mb: r1(this.y.rss[i]!), heap_used_mb: r1(this.y.heap_used[i]!), external_mb: r1(this.y.external[i]!) });
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Numerical drift

export interface NumericalSettings {
  tolerance: Tolerance;
  alignmentCheck: boolean;
  driftMse: number;
  driftMaxDiff: number;
  persistenceBlocks: number;
  offsetBlocks: number;
  offsetLimit: number;
  onAlignmentFail: WatchdogAction;
  onDrift: WatchdogAction;
  onNonFinite: WatchdogAction;
}

/**
 * Every shadow-checked block: a session's first (aligned) block against the plan's tolerance,
 * later blocks against the drift bounds, and the low-frequency offset (mean signed difference
 * streaming − exact) averaged over the last `offsetBlocks` blocks. Non-finite poses are counted
 * from the pose stream itself.
 */
export class NumericalDrift {
  private readonly offsets: Float64Array;
  private offN = 0;
  private driftRun = 0;
  private driftArmed = true;
  private offsetArmed = true;
  private nonFiniteArmed = true;
  readonly counts = { blocks: 0, aligned_blocks: 0, aligned_failed: 0, drift_blocks: 0, non_finite_poses: 0, alarms: 0 };
  lastBlock: { block: number; aligned: boolean; mse: number; max_diff: number; mean_offset: number } | null = null;
  meanOffset = NaN;

  constructor(readonly s: NumericalSettings) {
    this.offsets = new Float64Array(s.offsetBlocks);
  }

  /** A new session (reset, gap, return to streaming): its first block is an alignment block again. */
  restart(): void {
    this.offN = 0;
    this.driftRun = 0;
    this.meanOffset = NaN;
    this.nonFiniteArmed = true;
  }

  block(b: BlockFigures): Verdict[] | null {
    const s = this.s;
    const c = this.counts;
    c.blocks++;
    this.lastBlock = { block: b.block, aligned: b.aligned, mse: b.main.mse, max_diff: b.main.max_diff, mean_offset: b.meanOffset };
    const out: Verdict[] = [];
    const figs = { block: b.block, start_sample: b.startSample, aligned: b.aligned, mse: b.main.mse, max_diff: b.main.max_diff, mean_offset: b.meanOffset };
    const finite = Number.isFinite(b.main.mse) && Number.isFinite(b.main.max_diff) && Number.isFinite(b.meanOffset);
    if (!finite && b.main.steps > 0) {
      c.alarms++;
      out.push({ kind: 'alarm', cause: 'non_finite', action: s.onNonFinite, detail: `block ${b.block} at sample ${b.startSample}: non-finite difference to exact (MSE ${b.main.mse}, max|diff| ${b.main.max_diff})`, data: { ...figs, mse: null, max_diff: null, mean_offset: null } });
      return out;
    }
    if (b.aligned) {
      c.aligned_blocks++;
      const ok = within(b.main, s.tolerance) && (b.boundary.steps === 0 || within(b.boundary, s.tolerance, 2));
      if (!ok && s.alignmentCheck) {
        c.aligned_failed++;
        c.alarms++;
        out.push({
          kind: 'alarm',
          cause: 'alignment',
          action: s.onAlignmentFail,
          detail: `alignment with exact failed: block ${b.block} at sample ${b.startSample}: MSE ${b.main.mse.toExponential(2)} (bound ${s.tolerance.mse}), max|diff| ${b.main.max_diff.toExponential(2)} (bound ${s.tolerance.max_diff}); first output MSE ${b.boundary.mse.toExponential(2)}, max|diff| ${b.boundary.max_diff.toExponential(2)} (2× bounds)`,
          data: figs,
        });
      }
    } else {
      const drifting = b.main.mse > s.driftMse || b.main.max_diff > s.driftMaxDiff;
      if (drifting) {
        c.drift_blocks++;
        this.driftRun++;
      } else {
        this.driftRun = 0;
        this.driftArmed = true;
      }
      if (this.driftRun >= s.persistenceBlocks && this.driftArmed) {
        this.driftArmed = false;
        c.alarms++;
        out.push({ kind: 'alarm', cause: 'numerical_drift', action: s.onDrift, detail: `streaming drifted from exact in ${this.driftRun} blocks in a row: block ${b.block} MSE ${b.main.mse.toExponential(2)} (bound ${s.driftMse}), max|diff| ${b.main.max_diff.toExponential(2)} (bound ${s.driftMaxDiff})`, data: figs });
      }
    }
    this.offsets[this.offN % s.offsetBlocks] = b.meanOffset;
    this.offN++;
    const k = Math.min(this.offN, s.offsetBlocks);
    let sum = 0;
    for (let i = 0; i < k; i++) sum += this.offsets[i]!;
    this.meanOffset = sum / k;
    const offsetOver = k >= s.offsetBlocks && Math.abs(this.meanOffset) > s.offsetLimit;
    if (offsetOver && this.offsetArmed) {
      this.offsetArmed = false;
      c.alarms++;
      out.push({ kind: 'alarm', cause: 'offset', action: s.onDrift, detail: `low-frequency offset streaming − exact ${this.meanOffset.toExponential(2)} rad averaged over the last ${k} blocks (limit ${s.offsetLimit})`, data: { ...figs, mean_offset_blocks: r6(this.meanOffset) } });
    } else if (!offsetOver) {
      this.offsetArmed = true;
    }
    return out.length ? out : null;
  }

  /** One pose's angles; allocates nothing. The first non-finite pose of a session is a verdict, the rest are counted. */
  pose(angles: Float32Array, step: number): Verdict | null {
    for (let i = 0; i < angles.length; i++) {
      const a = angles[i]!;
      if (a - a !== 0) {
        this.counts.non_finite_poses++;
        if (!this.nonFiniteArmed) return null;
        this.nonFiniteArmed = false;
        this.counts.alarms++;
        return { kind: 'alarm', cause: 'non_finite', action: this.s.onNonFinite, detail: `pose ${step} has a non-finite joint angle (${a}) at index ${i}`, data: { step, index: i } };
      }
    }
    return null;
  }
}

// ---------------------------------------------------------------------------------------------

export function systemData(s: SystemState): Record<string, number | boolean | null> {
  return { load_pct: s.loadPct === null ? null : r1(s.loadPct), steal_pct: s.stealPct === null ? null : r1(s.stealPct), load_avg: s.loadAvg === null ? null : r3(s.loadAvg), temp_c: s.tempC, speed_ratio: s.speedRatio === null ? null : r3(s.speedRatio), system_busy: s.busy };
}

function f2(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : 'n/a';
}
function r1(x: number): number {
  return Math.round(x * 10) / 10;
}
function r3(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : NaN;
}
function r6(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : NaN;
}

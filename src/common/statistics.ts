/**
 * Statistics of the runtime's figures: the nearest-rank percentile, and robust trend statistics
 * for the watchdog and the soak report: Theil–Sen slope (the median of
 * every pairwise slope, unmoved by a minority of outliers such as one preempted window) with
 * Sen's confidence interval, and the Mann–Kendall confidence that the series truly rises. The
 * series here are short (window P95s, memory samples: at most a few hundred points), so the
 * O(n²) pairwise work is cheap; the scratch space is kept between calls.
 */
export interface Trend {
  /** Points the trend was fitted to. */
  n: number;
  /** Median pairwise slope, y units per x unit. */
  slope: number;
  /** Sen's confidence interval of the slope at `level`. */
  lo: number;
  hi: number;
  /** Mann–Kendall: probability-like confidence (0–1) that y increases with x. */
  rising: number;
  intercept: number;
}

export class TheilSen {
  private slopes = new Float64Array(0);
  private ys = new Float64Array(0);

  constructor(private readonly level = 0.95) {}

  /** Fits y[i] against x[i] for i in [0, n). NaN points are skipped. Null with fewer than 3 points. */
  fit(x: ArrayLike<number>, y: ArrayLike<number>, n = x.length): Trend | null {
    const pairs = (n * (n - 1)) / 2;
    if (this.slopes.length < pairs) this.slopes = new Float64Array(pairs);
    if (this.ys.length < n) this.ys = new Float64Array(n);
    let m = 0;
    let s = 0;
    let pts = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      const yi = y[i]!;
      if (!Number.isFinite(xi) || !Number.isFinite(yi)) continue;
      pts++;
      for (let j = i + 1; j < n; j++) {
        const xj = x[j]!;
        const yj = y[j]!;
        if (!Number.isFinite(xj) || !Number.isFinite(yj)) continue;
        const dy = yj - yi;
        s += Math.sign(dy) * Math.sign(xj - xi);
        if (xj !== xi) this.slopes[m++] = dy / (xj - xi);
      }
    }
    if (pts < 3 || m === 0) return null;
    const sl = this.slopes.subarray(0, m);
    sl.sort();
    const slope = median(sl);
    // Sen's interval from the normal approximation of Kendall's S (no tie correction).
    const varS = (pts * (pts - 1) * (2 * pts + 5)) / 18;
    const z = normalQuantile(0.5 + this.level / 2);
    const c = z * Math.sqrt(varS);
    const lower = Math.max(0, Math.min(m - 1, Math.floor((m - c) / 2)));
    const upper = Math.max(0, Math.min(m - 1, Math.ceil((m + c) / 2)));
    const zS = s === 0 ? 0 : (s - Math.sign(s)) / Math.sqrt(varS);
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(x[i]!) || !Number.isFinite(y[i]!)) continue;
      this.ys[k++] = y[i]! - slope * x[i]!;
    }
    const r = this.ys.subarray(0, k);
    r.sort();
    return { n: pts, slope, lo: sl[lower]!, hi: sl[upper]!, rising: normalCdf(zS), intercept: median(r) };
  }
}

function median(sorted: Float64Array): number {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

/** Φ(x) by the Abramowitz–Stegun 7.1.26 erf approximation (|error| < 1.5e-7). */
export function normalCdf(x: number): number {
  const t = 1 / (1 + (0.3275911 * Math.abs(x)) / Math.SQRT2);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(x * x) / 2);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** Inverse of Φ by bisection: called once per fit with a fixed level, precision to spare. */
export function normalQuantile(p: number): number {
  let lo = -10;
  let hi = 10;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** The nearest-rank percentile p (0–100) of n sorted values: the one definition every figure here uses. */
export function nearestRank(sorted: ArrayLike<number>, n: number, p: number): number {
  return sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!;
}

/** Exact percentile of the first n values of `v`, sorting a copy in `scratch` (no allocation). */
export function percentileOf(v: Float64Array, n: number, p: number, scratch: Float64Array): number {
  if (n === 0) return NaN;
  const s = scratch.subarray(0, n);
  s.set(v.subarray(0, n));
  s.sort();
  return nearestRank(s, n, p);
}

/** The last `size` values, with exact percentiles computed in a preallocated scratch array. */
export class RollingWindow {
  private readonly values: Float64Array;
  private readonly scratch: Float64Array;
  private next = 0;
  filled = 0;

  constructor(readonly size: number) {
    this.values = new Float64Array(size);
    this.scratch = new Float64Array(size);
  }

  push(v: number): void {
    this.values[this.next] = v;
    this.next = (this.next + 1) % this.size;
    if (this.filled < this.size) this.filled++;
  }

  percentile(p: number): number {
    const n = this.sortedInScratch();
    return n === 0 ? NaN : nearestRank(this.scratch, n, p);
  }

  /** Several percentiles from one sort (NaN each when empty). */
  percentiles(ps: readonly number[]): number[] {
    const n = this.sortedInScratch();
    return ps.map((p) => (n === 0 ? NaN : nearestRank(this.scratch, n, p)));
  }

  /** Copies the held values to the front of the scratch array and sorts them there; their count. */
  private sortedInScratch(): number {
    const n = this.filled;
    const s = this.scratch.subarray(0, n);
    s.set(this.values.subarray(0, n));
    s.sort();
    return n;
  }

  /** Mean of the older and newer halves: a growth signal for long runs. */
  halves(): { older: number; newer: number } {
    const n = this.filled;
    let a = 0;
    let b = 0;
    const half = Math.floor(n / 2);
    for (let k = 0; k < n; k++) {
      const idx = (this.next - n + k + this.size) % this.size;
      if (k < half) a += this.values[idx]!;
      else b += this.values[idx]!;
    }
    return { older: half ? a / half : NaN, newer: n - half ? b / (n - half) : NaN };
  }

  clear(): void {
    this.next = 0;
    this.filled = 0;
  }
}

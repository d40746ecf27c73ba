import { nearestRank } from '../common/statistics.js';

/**
 * Series shrunk for drawing. A 30-minute run has 90,000 steps; a chart a few hundred pixels
 * wide cannot show more than a point per pixel anyway, but averaging would hide the spikes a
 * latency chart is read for. So each bucket of consecutive points becomes two rows: at the
 * bucket's first x every series' minimum, at its last x every series' maximum. The envelope
 * keeps every extreme; a run short enough to fit is passed through as it is.
 */
export interface Decimated {
  x: number[];
  /** One array per input series, aligned with x; null where the series had no value. */
  ys: (number | null)[][];
  /** Points before decimation. */
  sourcePoints: number;
  decimated: boolean;
}

export function decimateMinMax(x: ArrayLike<number>, ys: readonly ArrayLike<number>[], maxPoints: number): Decimated {
  const n = x.length;
  if (n <= maxPoints) {
    return { x: Array.from(x), ys: ys.map((y) => Array.from(y, nullIfNaN)), sourcePoints: n, decimated: false };
  }
  const buckets = Math.max(1, Math.floor(maxPoints / 2));
  const outX: number[] = [];
  const outYs: (number | null)[][] = ys.map(() => []);
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * n) / buckets);
    const hi = Math.floor(((b + 1) * n) / buckets);
    if (hi <= lo) continue;
    outX.push(x[lo]!);
    if (hi - 1 > lo) outX.push(x[hi - 1]!);
    for (let s = 0; s < ys.length; s++) {
      const y = ys[s]!;
      let mn = Infinity;
      let mx = -Infinity;
      for (let i = lo; i < hi; i++) {
        const v = y[i]!;
        if (Number.isNaN(v)) continue;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
      const has = mn <= mx;
      outYs[s]!.push(has ? mn : null);
      if (hi - 1 > lo) outYs[s]!.push(has ? mx : null);
    }
  }
  return { x: outX, ys: outYs, sourcePoints: n, decimated: true };
}

function nullIfNaN(v: number): number | null {
  return Number.isNaN(v) ? null : v;
}

export interface Histogram {
  /** Left edge of each bin; the last bin also holds everything above its right edge. */
  edges: number[];
  counts: number[];
  width: number;
  /** Values at or beyond the last edge + width (folded into the last bin). */
  overflow: number;
}

/** Equal-width bins from 0 to a little past P99.9, so one 300 ms stall does not flatten the rest. */
export function histogram(values: ArrayLike<number>, bins = 60): Histogram | null {
  const v = Array.from(values)
    .filter((x) => Number.isFinite(x))
    .sort((a, b) => a - b);
  if (v.length === 0) return null;
  const top = v[Math.min(v.length - 1, Math.floor(v.length * 0.999))]! * 1.1;
  const width = top > 0 ? top / bins : 1;
  const counts = new Array<number>(bins).fill(0);
  let overflow = 0;
  for (const x of v) {
    let i = Math.floor(x / width);
    if (i >= bins) {
      overflow++;
      i = bins - 1;
    }
    counts[Math.max(0, i)]!++;
  }
  return { edges: counts.map((_, i) => i * width), counts, width, overflow };
}

/** Nearest-rank percentile of sorted values. */
export function percentileSorted(sorted: readonly number[], p: number): number | null {
  return sorted.length === 0 ? null : nearestRank(sorted, sorted.length, p);
}

import { TheilSen } from '../common/statistics.js';
import { round3 } from '../common/round.js';
import { type WatchdogAction, type Verdict } from './verdict.js';

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
  private readonly y: Record<Series, Float64Array> = {
    rss: new Float64Array(MAX_MEM),
    heap_used: new Float64Array(MAX_MEM),
    external: new Float64Array(MAX_MEM),
  };
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
      for (const arr of [this.t, ...Object.values(this.y)])
        for (let i = 1, j = 2; j < this.n; i++, j += 2) arr[i] = arr[j]!;
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
    const bound: Record<Series, number> = {
      rss: s.rssMbPerHour,
      heap_used: s.heapMbPerHour,
      external: s.externalMbPerHour,
    };
    for (const name of SERIES) {
      const y = this.y[name].subarray(first, this.n);
      const fit = this.fitter.fit(this.t.subarray(first, this.n), y, k);
      if (!fit) continue;
      const tr: MemoryTrend = {
        mb_per_hour: round3(fit.slope * 3600),
        lo_mb_per_hour: round3(fit.lo * 3600),
        hi_mb_per_hour: round3(fit.hi * 3600),
        confidence: round3(fit.rising),
        samples: fit.n,
      };
      this.trends[name] = tr;
      const grown = y[y.length - 1]! - y[0]!;
      const leak =
        span >= s.minSpanS &&
        tr.mb_per_hour > bound[name] &&
        fit.lo > 0 &&
        fit.rising >= s.confidence &&
        grown >= s.minGrowthMb;
      if (leak && this.armed[name]) {
        this.armed[name] = false;
        this.alarms++;
        out.push({
          kind: 'alarm',
          cause: 'memory_leak',
          action: s.onLeak,
          detail: `${name} growing ${tr.mb_per_hour.toFixed(1)} MB/h (95 % interval ${tr.lo_mb_per_hour.toFixed(1)}–${tr.hi_mb_per_hour.toFixed(1)}, confidence ${tr.confidence.toFixed(3)}) over ${(span / 60).toFixed(1)} min after warm-up, +${grown.toFixed(1)} MB; bound ${bound[name]} MB/h`,
          data: {
            series: name,
            mb_per_hour: tr.mb_per_hour,
            lo_mb_per_hour: tr.lo_mb_per_hour,
            hi_mb_per_hour: tr.hi_mb_per_hour,
            confidence: tr.confidence,
            span_s: Math.round(span),
            grown_mb: round3(grown),
            bound_mb_per_hour: bound[name],
          },
        });
      } else if (!leak) {
        this.armed[name] = true;
      }
    }
    return out.length ? out : null;
  }
}

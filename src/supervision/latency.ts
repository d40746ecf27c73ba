import { round3 } from '../common/round.js';
/**
 * Latency statistics without per-sample allocation: a log-bucket histogram for whole-run
 * percentiles (bounded memory over hours, ≤ 0.5 % relative error) and a fixed window of the
 * most recent values for the watchdog's rolling checks.
 */

const MIN_MS = 1e-3;
const GROWTH = 1.005;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = Math.ceil(Math.log(1e5 / MIN_MS) / LOG_GROWTH) + 2; // 1 µs … 100 s

export interface LatencySummary {
  count: number;
  mean_ms: number;
  min_ms: number;
  max_ms: number;
  /** Keyed "p50", "p95", … from the configured percentiles. */
  percentiles_ms: Record<string, number>;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  private sum = 0;
  min = Infinity;
  max = -Infinity;

  record(ms: number): void {
    const b = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(ms / MIN_MS) / LOG_GROWTH));
    this.counts[b]!++;
    this.count++;
    this.sum += ms;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
  }

  /** Value at percentile p (0–100): the bucket's geometric middle, clamped to the seen range. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.counts[b]!;
      if (seen >= rank) {
        const v = b === 0 ? MIN_MS : MIN_MS * Math.pow(GROWTH, b - 0.5);
        return Math.min(this.max, Math.max(this.min, v));
      }
    }
    return this.max;
  }

  summary(percentiles: readonly number[]): LatencySummary {
    const pct: Record<string, number> = {};
    for (const p of percentiles) pct[`p${p}`] = round3(this.percentile(p));
    return {
      count: this.count,
      mean_ms: this.count ? round3(this.sum / this.count) : NaN,
      min_ms: this.count ? round3(this.min) : NaN,
      max_ms: this.count ? round3(this.max) : NaN,
      percentiles_ms: pct,
    };
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = -Infinity;
  }
}

/**
 * A Prometheus histogram whose observations touch only a preallocated Float64Array: prom-client's
 * own histogram builds a label object and a hash string on every observe(), which the 50 Hz
 * step must not do. The registry reads it through get(), the shape prom-client's metrics give.
 */
export interface HistogramSeries {
  /** Records one value in base units (seconds); allocation-free. */
  observe(v: number): void;
}

interface SeriesState extends HistogramSeries {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

export class FixedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, SeriesState>();

  constructor(
    readonly name: string,
    readonly help: string,
    /** Upper bounds in increasing order; +Inf is added. Fixed, so that nodes' histograms add up. */
    readonly buckets: readonly number[],
    private readonly label: string,
  ) {}

  /** The series of one label value, made once (at stream start). */
  child(labelValue: string): HistogramSeries {
    let s = this.series.get(labelValue);
    if (s) return s;
    const bounds = this.buckets;
    const counts = new Float64Array(bounds.length + 1);
    const state: SeriesState = {
      counts,
      sum: 0,
      count: 0,
      observe(v: number): void {
        if (!Number.isFinite(v)) return;
        let b = 0;
        while (b < bounds.length && v > bounds[b]!) b++;
        counts[b]!++;
        state.sum += v;
        state.count++;
      },
    };
    s = state;
    this.series.set(labelValue, s);
    return s;
  }

  remove(labelValue: string): void {
    this.series.delete(labelValue);
  }

  get(): { name: string; help: string; type: 'histogram'; values: MetricValue[]; aggregator: string } {
    const values: MetricValue[] = [];
    for (const [lv, s] of this.series) {
      let acc = 0;
      for (let b = 0; b <= this.buckets.length; b++) {
        acc += s.counts[b]!;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { [this.label]: lv, le: b < this.buckets.length ? this.buckets[b]! : '+Inf' },
          value: acc,
        });
      }
      values.push({ metricName: `${this.name}_sum`, labels: { [this.label]: lv }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { [this.label]: lv }, value: s.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: this.aggregator };
  }
}

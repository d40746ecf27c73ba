/**
 * Memory over a long run, in bounded space: one sample per status tick, halved (every other
 * sample dropped) whenever the series is full, so hours of running keep an even-spaced record.
 * The growth rate is the least-squares slope over the samples after the first minute (start-up
 * allocations — models, arenas — are not a leak).
 */
export interface MemorySample {
  t_s: number;
  rss_mb: number;
  heap_used_mb: number;
  /** Memory outside the V8 heap, typed arrays and Buffers included. */
  external_mb: number;
}

const MAX_SAMPLES = 240;
const SETTLE_S = 60;

export class MemoryTrack {
  readonly samples: MemorySample[] = [];
  private every = 1;
  private ticks = 0;

  constructor(private readonly t0 = performance.now()) {}

  sample(): void {
    if (this.ticks++ % this.every !== 0) return;
    const m = process.memoryUsage();
    this.samples.push({
      t_s: Math.round((performance.now() - this.t0) / 100) / 10,
      rss_mb: Math.round((m.rss / 1048576) * 10) / 10,
      heap_used_mb: Math.round((m.heapUsed / 1048576) * 10) / 10,
      external_mb: Math.round((m.external / 1048576) * 10) / 10,
    });
    if (this.samples.length >= MAX_SAMPLES) {
      for (let i = 1, j = 2; j < this.samples.length; i++, j += 2) this.samples[i] = this.samples[j]!;
      this.samples.length = Math.ceil(this.samples.length / 2);
      this.every *= 2;
    }
  }

  /** MB per hour of RSS and of used heap after the first minute; null with fewer than 3 samples. */
  growth(): { rss_mb_per_hour: number; heap_used_mb_per_hour: number } | null {
    const s = this.samples.filter((x) => x.t_s >= SETTLE_S);
    if (s.length < 3) return null;
    return {
      rss_mb_per_hour: round1(slope(s, (x) => x.rss_mb) * 3600),
      heap_used_mb_per_hour: round1(slope(s, (x) => x.heap_used_mb) * 3600),
    };
  }
}

function slope(s: MemorySample[], y: (x: MemorySample) => number): number {
  const n = s.length;
  const mx = s.reduce((a, x) => a + x.t_s, 0) / n;
  const my = s.reduce((a, x) => a + y(x), 0) / n;
  let num = 0;
  let den = 0;
  for (const x of s) {
    num += (x.t_s - mx) * (y(x) - my);
    den += (x.t_s - mx) ** 2;
  }
  return den > 0 ? num / den : 0;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

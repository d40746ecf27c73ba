import { cpus, hostname } from 'node:os';
import type { CoreConfig } from '../config/schema.js';
import type { LatencyHistogram, LatencySummary } from './latency.js';

/** What latency_stats.json is computed from: the configured percentiles and bounds. */
export interface LatencySettings {
  percentiles: readonly number[];
  warmup_steps: number;
  p50_ms: number;
  p95_ms: number;
  check: boolean;
}

/** The two slices latency is judged and reported by. */
export interface LatencySlices {
  /** eval.streaming_latency: the bounds and the warm-up. */
  bounds: CoreConfig['eval']['streaming_latency'];
  /** logging.latency: whether latency is recorded, and its percentiles. */
  log: CoreConfig['logging']['latency'];
}

export function latencySettings({ bounds: l, log }: LatencySlices): LatencySettings {
  return {
    percentiles: log.percentiles,
    warmup_steps: l.warmup_steps,
    p50_ms: l.p50_ms,
    p95_ms: l.p95_ms,
    check: l.check,
  };
}

export interface LatencyReport {
  percentiles: number[];
  warmup_steps_excluded: number;
  t_compute_ms: LatencySummary;
  end_to_end_ms: LatencySummary | null;
  execution_providers: Record<string, string>;
  bounds: { p50_ms: number; p95_ms: number; checked: boolean };
  passed: boolean | null;
  machine: { host: string; cpus: number; cpu_model: string };
}

export function latencyReport(
  l: LatencySettings,
  tCompute: LatencyHistogram,
  e2e: LatencyHistogram,
  providers: Record<string, string>,
): LatencyReport {
  const pct = l.percentiles;
  const t = tCompute.summary(pct);
  const p50 = tCompute.percentile(50);
  const p95 = tCompute.percentile(95);
  return {
    percentiles: [...pct],
    warmup_steps_excluded: l.warmup_steps,
    t_compute_ms: t,
    end_to_end_ms: e2e.count > 0 ? e2e.summary(pct) : null,
    execution_providers: providers,
    bounds: { p50_ms: l.p50_ms, p95_ms: l.p95_ms, checked: l.check },
    passed: tCompute.count > 0 ? p50 <= l.p50_ms && p95 <= l.p95_ms : null,
    machine: machine(),
  };
}

export function machine(): { host: string; cpus: number; cpu_model: string } {
  const c = cpus();
  return { host: hostname(), cpus: c.length, cpu_model: c[0]?.model ?? 'unknown' };
}

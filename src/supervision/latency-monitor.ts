import type { PublishedPose, StepRecord, UnitEvent } from '../domain/events.js';
import { endToEndMs } from '../domain/step-record.js';
import type { Plugin, PluginContext, PluginReport } from '../domain/plugin.js';
import { LATENCY_SECTION, section } from '../domain/report-merge.js';
import { LatencyHistogram } from './latency.js';
import { PoseAgeStats } from '../outputs/pose-age.js';
import { latencyReport, latencySettings, type LatencySettings, type LatencySlices } from './latency-report.js';

export interface LatencyMonitorSettings extends LatencySettings {
  /** logging.latency.enabled and the run being a streaming one: otherwise nothing is judged. */
  judged: boolean;
  providers: Record<string, string>;
  /** latency_stats.json's name in the run folder. */
  file: string;
}

/** The latency monitor's slice of the configuration; judged only in a run that streams. */
export function latencyMonitorSettings(
  slices: LatencySlices,
  streams: boolean,
  providers: Record<string, string>,
  file: string,
): LatencyMonitorSettings {
  return { ...latencySettings(slices), judged: streams && slices.log.enabled && slices.bounds.check, providers, file };
}

/**
 * T_compute of every streaming step after warm-up and the end-to-end latency (endToEndMs: input
 * arrival to every output having the pose) of every step whose input arrival is known, as
 * histograms over the whole run, and the age at publish of every pose an output published (the
 * bus's `published`): latency_stats.json, the summary's `latency` and `pose_age_ms`, and its
 * latency acceptance.
 */
export class LatencyMonitor implements Plugin {
  readonly name = 'latency';
  readonly tCompute = new LatencyHistogram();
  readonly e2e = new LatencyHistogram();
  readonly ages = new PoseAgeStats();

  constructor(private readonly s: LatencyMonitorSettings) {}

  start(ctx: PluginContext): void {
    ctx.bus.on(this, 'unit', this.onUnit);
    ctx.bus.on(this, 'step', this.onStep);
    ctx.bus.on(this, 'published', this.onPublished);
    ctx.bus.on(this, 'tick', () =>
      ctx.artifacts.writeJson(this.s.file, { ...this.stats(), pose_age_ms: this.ages.summary() }),
    );
  }

  stop(): void {}

  stats(): ReturnType<typeof latencyReport> {
    return latencyReport(this.s, this.tCompute, this.e2e, this.s.providers);
  }

  report(): PluginReport {
    const lat = this.stats();
    return {
      sections: {
        ...section(LATENCY_SECTION, {
          t_compute_p95_ms: lat.t_compute_ms.percentiles_ms['p95'] ?? null,
          t_compute_p50_ms: lat.t_compute_ms.percentiles_ms['p50'] ?? null,
          end_to_end_p95_ms: lat.end_to_end_ms?.percentiles_ms['p95'] ?? null,
        }),
        pose_age_ms: this.ages.summary(),
      },
      acceptance: {
        latency: {
          enabled: this.s.judged,
          evaluated: lat.passed !== null,
          passed: this.s.judged ? lat.passed === true : null,
        },
      },
      counts: { steps_timed: this.tCompute.count },
    };
  }

  private readonly onUnit = (u: UnitEvent): void => {
    if (u.mode === 'streaming' && u.sinceRestart > this.s.warmup_steps) this.tCompute.record(u.computeMs);
  };

  private readonly onPublished = (p: PublishedPose): void => {
    this.ages.record(p.ageMs);
  };

  private readonly onStep = (r: StepRecord): void => {
    // Warm-up steps are left out here as they are from T_compute.
    if (r.sessionStep < this.s.warmup_steps) return;
    const ms = endToEndMs(r);
    if (!Number.isNaN(ms)) this.e2e.record(ms);
  };
}

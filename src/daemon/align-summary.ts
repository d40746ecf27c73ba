import { sourceSummary, type EmgSource } from '../acquisition/source.js';
import type { Config } from './config.js';
import { SAMPLE_RATE } from '../domain/geometry.js';
import type { PluginReport } from '../domain/plugin.js';
import { mergeReports } from '../domain/report-merge.js';
import type { LoadedModels } from '../inference/models.js';
import { summaryOf } from '../outputs/artifacts-writer.js';
import type { AlignmentReport } from '../supervision/alignment-report.js';
import { round3 } from '../supervision/latency.js';

export interface AlignOutcome {
  cfg: Config;
  source: EmgSource;
  models: LoadedModels;
  report: AlignmentReport;
  samples: number;
  poses: number;
  overwritten: number;
  wallS: number;
}

/**
 * summary.json of `myostream align`, made the way a run's is: its own report (what ran, the
 * alignment acceptance, its counts) merged with the plug-ins' reports it ran with (memory,
 * latency) through the same merge and the artifacts writer's summary.
 */
export function alignSummary(o: AlignOutcome, plugins: readonly PluginReport[], dir: string): Record<string, unknown> {
  const { cfg, source, models } = o;
  const overall = o.report.overall();
  const own: PluginReport = {
    sections: {
      command: 'align',
      mode_configured: cfg.model.mode,
      mode_final: cfg.model.mode,
      feature_policy: cfg.runtime.streaming.feature_policy,
      encoder: cfg.runtime.streaming.encoder,
      mode_switches: [],
      source: { ...sourceSummary(source.info), stats: source.stats?.() ?? null },
      durations: { wall_s: round3(o.wallS), signal_s: round3(o.samples / SAMPLE_RATE), model_load_ms: models.loadMs },
      execution_providers: models.providers,
    },
    acceptance: {
      alignment: { enabled: true, evaluated: overall.passed !== null, passed: overall.passed === true, aligned_blocks: o.report.alignedBlocks },
      no_fallback: { enabled: false, evaluated: false, passed: null },
    },
    counts: { samples: o.samples, poses: o.poses, gaps: 0, overruns: 0, overwritten_samples: o.overwritten, events: 0 },
  };
  return summaryOf(mergeReports([own, ...plugins]), true, cfg.watchdog.status_interval_s, dir);
}

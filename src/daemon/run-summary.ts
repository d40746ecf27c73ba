import { sourceSummary, type EmgSource } from '../acquisition/source.js';
import { round3 } from '../common/round.js';
import type { Config } from './config.js';
import type { ArtifactStore, MergedReport, Mode, ModeSwitch, PluginReport } from '../domain/plugin.js';
import type { LoadedModels } from '../inference/models.js';
import { SUMMARY_WRITER, writeSummary } from '../outputs/artifacts-writer.js';
import { judgeOwnEnd, summaryRefusals, type RunVerdict } from '../runs/judge.js';

/**
 * summary.json of `run` and of `align` is made one way: each plug-in's report and the
 * command's own (whatRan: what ran and how long; its counts) merged, then written by the
 * artifacts writer's summaryOf. schemas/summary.schema.json is the contract for both.
 */
export interface RunFacts {
  cfg: Config;
  models: LoadedModels;
  source: EmgSource;
  /** The mode the run ended in (align: the configured one). */
  modeFinal: Mode;
  switches: readonly ModeSwitch[];
  wallS: number;
  signalS: number;
  /** `run` only: ms from process start to the first pose (null before it). */
  firstPoseMs?: number | null;
  /** Whether no_fallback is judged: a streaming run; `align` switches no mode, so never. */
  judgeFallback: boolean;
}

/** The command's own part of summary.json: what ran, how long, and the no-fallback criterion. */
export function whatRan(f: RunFacts): Required<Pick<PluginReport, 'sections' | 'acceptance'>> {
  const { cfg, models, source } = f;
  return {
    sections: {
      mode_configured: cfg.model.mode,
      mode_final: f.modeFinal,
      feature_policy: cfg.runtime.streaming.feature_policy,
      encoder: cfg.runtime.streaming.encoder,
      // Weights of the streaming step (exact and the shadow are fp32 either way).
      precision: cfg.model.precision,
      mode_switches: f.switches,
      source: { ...sourceSummary(source.info), stats: source.stats?.() ?? null },
      durations: {
        wall_s: round3(f.wallS),
        signal_s: round3(f.signalS),
        model_load_ms: models.loadMs,
        ...(f.firstPoseMs !== undefined ? { time_to_first_pose_ms: f.firstPoseMs } : {}),
      },
      provider_mismatch: models.providerMismatch ?? null,
      execution_providers: models.providers,
    },
    acceptance: {
      no_fallback: f.judgeFallback
        ? { enabled: true, evaluated: true, passed: f.switches.every((s) => s.to !== 'exact') }
        : { enabled: false, evaluated: false, passed: null },
    },
  };
}

/**
 * summary.json is the run's heartbeat and record: when the plug-in that writes it is not
 * running (its start failed on a full disk, or it was disabled later), the command writes it
 * itself, so the run stays visible and is judged NOT PASSED with that plug-in named.
 */
export function writeSummaryIfNoWriter(
  running: (plugin: string) => boolean,
  artifacts: ArtifactStore,
  report: () => MergedReport,
  final: boolean,
  heartbeatS: number,
): void {
  if (!running(SUMMARY_WRITER)) writeSummary(artifacts, report(), final, heartbeatS);
}

/**
 * The final tick, then the run judged on the report the final summary was made of, as `status`
 * will judge it: when the disk refused that final summary, as ended unrecorded.
 */
export function finalTickJudged(
  finalTick: () => void,
  report: () => MergedReport,
  artifacts: ArtifactStore,
  heartbeatS: number,
): RunVerdict {
  const refusedBefore = summaryRefusals(artifacts);
  finalTick();
  return judgeOwnEnd(report(), artifacts, heartbeatS, summaryRefusals(artifacts) > refusedBefore);
}

import { RingBuffer } from '../acquisition/ring-buffer.js';
import { createSource } from '../acquisition/sources.js';
import type { EmgSource, SampleSink } from '../acquisition/source.js';
import { UserError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { configToYaml } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { LEFT_CONTEXT, NUM_CHANNELS, POSE_DIM, SAMPLE_RATE } from '../domain/geometry.js';
import { ARTIFACT_FILES, RunArtifacts } from '../outputs/artifacts.js';
import { LatencyHistogram, round3 } from '../supervision/latency.js';
import { parse as parseYaml } from 'yaml';
import { runModelInfo, sourceSummary } from './report.js';
import { latencyReport, latencySettings } from '../supervision/latency-report.js';
import { memoryMb } from '../supervision/memory-monitor.js';
import { alignmentRegression } from './alignment-run.js';
import { configFromCli, openModels, type CommonCliOptions } from './bootstrap.js';

export interface AlignCliOptions extends CommonCliOptions {
  quiet?: boolean;
}

/** Default signal length for sources without an end (synthetic, hardware): 6 blocks. */
const DEFAULT_ALIGN_SECONDS = 30;

/**
 * The plan's alignment regression: exact and streaming over the same samples, streaming reset
 * at each exact block's start, compared at the 250 aligned moments of every block. The first
 * output of each block is the boundary figure (2× bounds).
 */
export async function alignCommand(o: AlignCliOptions): Promise<number> {
  const cfg = configFromCli(o);
  const log = createLogger(cfg.logging.level, cfg.logging.format);
  // The regression reads its signal as fast as the source gives it; pacing would only wait.
  const source = await createSource({ ...cfg, input: { ...cfg.input, speed: 0 } });
  const samples = await collect(source, cfg, log);
  const models = await openModels(cfg, log, true);
  const artifacts = RunArtifacts.create(cfg.outputs.artifacts_root, o.artifacts);
  artifacts.writeYaml(ARTIFACT_FILES.config, parseYaml(configToYaml(cfg)));
  artifacts.writeJson(ARTIFACT_FILES.modelInfo, runModelInfo(models, cfg.runtime.streaming.encoder));
  const t0 = performance.now();
  const r = await alignmentRegression(cfg, models, samples.ring, samples.truth, artifacts, log);
  const tol = cfg.eval.streaming_tolerance;
  const overall = r.report.overall();
  artifacts.writeJson(ARTIFACT_FILES.alignment, r.report.toJSON());
  const lat = latencyReport(latencySettings(cfg), r.tCompute, new LatencyHistogram(), models.providers);
  artifacts.writeJson(ARTIFACT_FILES.latency, lat);
  const passed = overall.passed === true;
  artifacts.writeJson(ARTIFACT_FILES.summary, {
    passed,
    finished: true,
    exit: 'completed',
    command: 'align',
    mode_configured: cfg.model.mode,
    mode_final: cfg.model.mode,
    feature_policy: cfg.runtime.streaming.feature_policy,
    encoder: cfg.runtime.streaming.encoder,
    acceptance: {
      alignment: { enabled: true, evaluated: overall.passed !== null, passed, aligned_blocks: r.report.alignedBlocks },
      latency: { enabled: false, evaluated: lat.passed !== null, passed: null, violations: 0 },
      no_fallback: { enabled: false, passed: null },
    },
    mode_switches: [],
    source: sourceSummary(source.info),
    counts: { samples: samples.ring.written, poses: r.steps, steps_timed: r.tCompute.count, gaps: 0, overruns: 0, overwritten_samples: 0, events: 0 },
    durations: { wall_s: round3((performance.now() - t0) / 1000), signal_s: round3(samples.ring.written / SAMPLE_RATE), model_load_ms: models.loadMs },
    latency: { t_compute_p95_ms: lat.t_compute_ms.percentiles_ms['p95'] ?? null, t_compute_p50_ms: lat.t_compute_ms.percentiles_ms['p50'] ?? null },
    memory: { start: memoryMb(), now: memoryMb(), rss_peak_mb: Math.round((process.memoryUsage.rss() / 1048576) * 10) / 10 },
    execution_providers: models.providers,
    artifacts_dir: artifacts.dir,
  });
  const fmt = (x: number): string => x.toExponential(2);
  const line = `alignment (${cfg.runtime.streaming.feature_policy}, ${r.report.alignedBlocks} blocks): MSE ${fmt(overall.main.mse)} (≤ ${tol.mse}) max|diff| ${fmt(overall.main.max_diff)} (≤ ${tol.max_diff}); ` +
    `first output MSE ${fmt(overall.boundary.mse)} max|diff| ${fmt(overall.boundary.max_diff)} (≤ 2×) → ${passed ? 'PASSED' : 'FAILED'}`;
  process.stdout.write(`${line}\nartifacts: ${artifacts.dir}\n`);
  // A failed regression is a finding, not a malfunction: the artifacts say so and exit is 0.
  return 0;
}

interface Collected {
  ring: RingBuffer;
  truth: RingBuffer | undefined;
}

/** Reads the whole signal to align into memory (recordings: all of it; live sources: a while). */
async function collect(source: EmgSource, cfg: Config, log: Logger): Promise<Collected> {
  const seconds = cfg.input.duration_s > 0 ? cfg.input.duration_s : source.info.totalSamples ? source.info.totalSamples / SAMPLE_RATE : DEFAULT_ALIGN_SECONDS;
  const want = Math.round(seconds * SAMPLE_RATE);
  const blockWindow = LEFT_CONTEXT + cfg.runtime.exact.block_samples;
  if (want < blockWindow) throw new UserError(`align needs at least one exact block (${blockWindow} samples = ${blockWindow / SAMPLE_RATE} s); the source gives ${want}`);
  const ring = RingBuffer.create(want + 4096, NUM_CHANNELS);
  const truth = source.info.hasJointAngles ? RingBuffer.create(want + 4096, POSE_DIM) : undefined;
  const abort = new AbortController();
  const sink: SampleSink = {
    emg: ring,
    note: () => undefined,
    ...(truth ? { truth } : {}),
    gap: (g) => {
      throw new UserError(`align: the source lost ${g.lostSamples} samples at sample ${g.atSample} (${g.reason}); alignment needs a continuous signal`);
    },
    waitForSpace: async () => {
      if (ring.written >= want) abort.abort();
    },
  };
  log.info({ source: source.info.description, seconds: round3(want / SAMPLE_RATE) }, 'reading signal for the alignment regression');
  await source.run(sink, abort.signal);
  if (ring.written < blockWindow) throw new UserError(`align: the source ended after ${ring.written} samples; one exact block needs ${blockWindow}`);
  return { ring, truth };
}

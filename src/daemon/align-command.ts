import { createSource } from '../acquisition/sources.js';
import { createLogger } from '../common/logger.js';
import { configToYaml } from './config.js';
import { alignmentTolerance } from '../config/schema.js';
import { ARTIFACT_FILES, RunArtifacts } from '../outputs/artifacts.js';
import { LatencyMonitor, latencyMonitorSettings } from '../supervision/latency-monitor.js';
import { MemoryMonitor } from '../supervision/memory-monitor.js';
import { parse as parseYaml } from 'yaml';
import { readAlignSignal } from './align-signal.js';
import { alignmentRegression } from './alignment-run.js';
import { configFromCli, openModels, type CommonCliOptions } from './bootstrap.js';
import { runModelInfo } from './report.js';
import { alignSummary } from './align-summary.js';

export interface AlignCliOptions extends CommonCliOptions {
  quiet?: boolean;
}

/**
 * The alignment regression: exact and streaming over the same samples, streaming reset at each
 * exact block's start, compared at the 250 aligned moments of every block. The first output of
 * each block is the boundary figure (2× bounds). summary.json is made the way a run's is: the
 * memory and latency plug-ins' reports and the regression's own, merged, written by the
 * artifacts writer's summary.
 */
export async function alignCommand(o: AlignCliOptions): Promise<number> {
  const cfg = configFromCli(o);
  const log = createLogger(cfg.logging.level, cfg.logging.format);
  const t0 = performance.now();
  // Memory at start is taken before the signal and the models are in memory.
  const memory = new MemoryMonitor();
  // The regression reads its signal as fast as the source gives it; pacing would only wait.
  const source = await createSource({ ...cfg, input: { ...cfg.input, speed: 0 } });
  const samples = await readAlignSignal(source, cfg, log);
  const models = await openModels(cfg, log, true);
  const artifacts = RunArtifacts.create(cfg.outputs.artifacts_root, o.artifacts);
  artifacts.writeYaml(ARTIFACT_FILES.config, parseYaml(configToYaml(cfg)));
  artifacts.writeJson(ARTIFACT_FILES.modelInfo, runModelInfo(models, cfg.runtime.streaming.encoder));
  // The regression's T_compute is not judged: its steps restart at every block.
  const latency = new LatencyMonitor(latencyMonitorSettings({ bounds: cfg.eval.streaming_latency, log: cfg.logging.latency }, false, models.providers, ARTIFACT_FILES.latency));
  const r = await alignmentRegression(cfg, models, samples.ring, samples.truth, artifacts, log, latency.tCompute);
  const overall = r.report.overall();
  const passed = overall.passed === true;
  artifacts.writeJson(ARTIFACT_FILES.alignment, r.report.toJSON());
  artifacts.writeJson(ARTIFACT_FILES.latency, latency.stats());
  const summary = alignSummary({ cfg, source, models, report: r.report, samples: samples.ring.written, poses: r.steps, overwritten: samples.ring.overwritten, wallS: (performance.now() - t0) / 1000 }, [latency.report(), memory.report()], artifacts.dir);
  artifacts.writeJson(ARTIFACT_FILES.summary, summary);
  const tol = alignmentTolerance(cfg);
  const fmt = (x: number): string => x.toExponential(2);
  const line = `alignment (${cfg.runtime.streaming.feature_policy}, ${r.report.alignedBlocks} blocks): MSE ${fmt(overall.main.mse)} (≤ ${tol.mse}) max|diff| ${fmt(overall.main.max_diff)} (≤ ${tol.max_diff}); ` +
    `first output MSE ${fmt(overall.boundary.mse)} max|diff| ${fmt(overall.boundary.max_diff)} (≤ 2×) → ${passed ? 'PASSED' : 'FAILED'}`;
  process.stdout.write(`${line}\nartifacts: ${artifacts.dir}\n`);
  // A failed regression is a finding, not a malfunction: the artifacts say so and exit is 0.
  return 0;
}

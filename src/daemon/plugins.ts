import { parse as parseYaml } from 'yaml';
import { configToYaml } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Plugin } from '../domain/plugin.js';
import type { LoadedModels } from '../inference/models.js';
import { ARTIFACT_FILES } from '../outputs/artifacts.js';
import { ArtifactsWriter } from '../outputs/artifacts-writer.js';
import { MqttOutput } from '../outputs/mqtt-output.js';
import { modelSummary } from '../outputs/mqtt-sink.js';
import { PosesOutput } from '../outputs/poses-output.js';
import { StatusLine } from '../outputs/status-line.js';
import { AlignmentMonitor } from '../supervision/alignment-monitor.js';
import { LatencyMonitor } from '../supervision/latency-monitor.js';
import { latencySettings } from '../supervision/latency-report.js';
import { MemoryMonitor } from '../supervision/memory-monitor.js';
import { StateGuard } from '../supervision/state-guard.js';
import { WatchdogPlugin } from '../supervision/watchdog-plugin.js';
import { runModelInfo } from './report.js';
import type { PluginEnv } from './stream-session.js';

export interface RegistryOptions {
  cfg: Config;
  models: LoadedModels;
  /** No status line (tests, scripts). */
  quiet: boolean;
}

/**
 * The one place that names the concrete plug-ins: which run for a stream, built from its
 * configuration, in start order. Supervisors come before outputs so that an output's first
 * report already has their sections; the artifacts writer is first, so that it records what
 * happens to every other plug-in, and stops last. Adding an output is a file
 * and a line here.
 */
export function streamPlugins(o: RegistryOptions, env: PluginEnv): Plugin[] {
  const { cfg, models } = o;
  const streaming = env.predictors.streaming !== undefined;
  // First to start and last to stop: it records what happens to every other plug-in.
  const artifacts = new ArtifactsWriter({
    // The effective configuration, re-read through YAML so the snapshot is exactly what loads.
    configSnapshot: parseYaml(configToYaml(cfg)),
    modelInfo: runModelInfo(models, cfg.runtime.streaming.encoder),
    heartbeatIntervalS: cfg.watchdog.status_interval_s,
    stepMetrics: streaming,
  });
  const plugins: Plugin[] = [
    artifacts,
    new LatencyMonitor({ ...latencySettings(cfg), judged: streaming && cfg.logging.latency.enabled && cfg.eval.streaming_latency.check, providers: models.providers, file: ARTIFACT_FILES.latency }),
    new MemoryMonitor(),
  ];
  if (streaming) {
    plugins.push(new AlignmentMonitor({
      tolerance: cfg.eval.streaming_tolerance,
      enabled: cfg.eval.streaming_alignment_check,
      meta: {
        kind: 'live',
        feature_policy: cfg.runtime.streaming.feature_policy,
        encoder: cfg.runtime.streaming.encoder,
        note: 'live run: the first block of each session is the alignment check (streaming reset at its start); later blocks measure drift',
      },
      file: ARTIFACT_FILES.alignment,
    }));
    plugins.push(new WatchdogPlugin(cfg));
    plugins.push(new StateGuard(cfg.watchdog.state_abs_limit, () => env.predictors.stateMaxAbs()));
  }
  if (cfg.outputs.poses_out) plugins.push(new PosesOutput(cfg.outputs.poses_out));
  if (cfg.outputs.mqtt.enabled) {
    plugins.push(new MqttOutput(cfg.outputs.mqtt, { mode: cfg.model.mode, model: modelSummary(models.info, models.providers, { feature_policy: cfg.runtime.streaming.feature_policy }) }));
  }
  if (!o.quiet) plugins.push(new StatusLine());
  return plugins;
}

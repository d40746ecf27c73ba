import { parse as parseYaml } from 'yaml';
import { configToYaml } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Plugin } from '../domain/plugin.js';
import type { LoadedModels } from '../inference/models.js';
import { ARTIFACT_FILES } from '../outputs/artifacts.js';
import { outputPlugins } from '../outputs/registry.js';
import { supervisorPlugins } from '../supervision/registry.js';
import { runModelInfo } from './report.js';
import type { PluginEnv } from './stream-session.js';
import type { LiveViewServer } from '../outputs/live-view-server.js';
import type { NotifyHub } from '../supervision/notify-hub.js';

export interface RegistryOptions {
  cfg: Config;
  models: LoadedModels;
  /** No status line (tests, scripts). */
  quiet: boolean;
  liveView?: LiveViewServer;
  notify?: NotifyHub;
}

/**
 * A stream's plug-ins in start order: the artifacts writer first (it records what happens to
 * every other plug-in, and stops last), then the supervisors, so that an output's first report
 * already has their sections, then the outputs.
 */
export function streamPlugins(o: RegistryOptions, env: PluginEnv): Plugin[] {
  const { cfg, models } = o;
  const streaming = env.predictors.streaming !== undefined;
  const outputs = outputPlugins(cfg, {
    model: models,
    quiet: o.quiet,
    ...(o.liveView ? { liveView: o.liveView } : {}),
    artifacts: {
      // The effective configuration, re-read through YAML so the snapshot is exactly what loads.
      configSnapshot: parseYaml(configToYaml(cfg)),
      modelInfo: runModelInfo(models, cfg.runtime.streaming.encoder),
      heartbeatIntervalS: cfg.watchdog.status_interval_s,
      stepMetrics: streaming,
    },
  });
  const supervisors = supervisorPlugins(cfg, {
    streaming,
    providers: models.providers,
    stateMaxAbs: () => env.predictors.stateMaxAbs(),
    files: { latency: ARTIFACT_FILES.latency, alignment: ARTIFACT_FILES.alignment },
    ...(o.notify ? { notify: o.notify } : {}),
    ...(env.source?.quality ? { signalQuality: () => env.source!.quality!() } : {}),
  });
  return [...outputs.first, ...supervisors, ...outputs.rest];
}

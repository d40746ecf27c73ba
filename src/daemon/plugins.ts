import { parse as parseYaml } from 'yaml';
import { configToYaml, type Config } from './config.js';
import type { Plugin } from '../domain/plugin.js';
import { buildPlugins } from '../domain/registry.js';
import type { LoadedModels } from '../inference/models.js';
import { ARTIFACT_FILES } from '../outputs/artifacts.js';
import type { OutputsEnv } from '../outputs/registry.js';
import type { SupervisionEnv } from '../supervision/supervision-env.js';
import { runModelInfo } from './report.js';
import type { PluginEnv } from './stream-session.js';
import { PLUGIN_TABLE } from './plugin-table.js';
import { smoothingOf } from '../outputs/smoothing-settings.js';

export interface RegistryOptions {
  cfg: Config;
  models: LoadedModels;
  /** No status line (tests, scripts). */
  quiet: boolean;
  liveView?: OutputsEnv['liveView'];
  notify?: SupervisionEnv['notify'];
}

/** A stream's plug-ins, from the table. */
export function streamPlugins(o: RegistryOptions, env: PluginEnv): Plugin[] {
  const { cfg, models } = o;
  const streaming = env.predictors.streaming;
  return buildPlugins(PLUGIN_TABLE, cfg, {
    model: models,
    // The effective configuration, re-read through YAML so the snapshot is exactly what loads.
    configSnapshot: parseYaml(configToYaml(cfg)),
    modelInfo: runModelInfo(models, cfg.runtime.streaming.encoder),
    streams: streaming !== undefined,
    quiet: o.quiet,
    heartbeatIntervalS: cfg.watchdog.status_interval_s,
    smoothing: smoothingOf(cfg.outputs.smoothing),
    liveView: o.liveView,
    truth: env.truth,
    providers: models.providers,
    stateMaxAbs: () => env.predictors.stateMaxAbs(),
    files: { latency: ARTIFACT_FILES.latency, alignment: ARTIFACT_FILES.alignment },
    notify: o.notify,
    signalQuality: env.source?.quality ? () => env.source!.quality!() : undefined,
  });
}

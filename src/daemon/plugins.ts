import { parse as parseYaml } from 'yaml';
import { configToYaml } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Plugin } from '../domain/plugin.js';
import { buildPlugins, type TableRow } from '../domain/registry.js';
import type { LoadedModels } from '../inference/models.js';
import { ARTIFACT_FILES } from '../outputs/artifacts.js';
import { ARTIFACTS_ROW, OUTPUTS, type OutputsEnv } from '../outputs/registry.js';
import { SUPERVISORS } from '../supervision/registry.js';
import type { SupervisionEnv } from '../supervision/supervision-env.js';
import { runModelInfo } from './report.js';
import type { PluginEnv } from './stream-session.js';

export interface RegistryOptions {
  cfg: Config;
  models: LoadedModels;
  /** No status line (tests, scripts). */
  quiet: boolean;
  liveView?: OutputsEnv['liveView'];
  notify?: SupervisionEnv['notify'];
}

/** What every row of the table may use besides its settings slice. */
export type StreamEnv = OutputsEnv & SupervisionEnv;

/**
 * The one plug-in table, in start order: the artifacts writer first (it records what happens
 * to every other plug-in, and stops last), then the supervisors, so that an output's first
 * report already has their sections, then the outputs. Adding a plug-in is its file and its
 * row in supervision/registry.ts or outputs/registry.ts.
 */
export const PLUGIN_TABLE: readonly TableRow<Config, StreamEnv>[] = [ARTIFACTS_ROW, ...SUPERVISORS, ...OUTPUTS];

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
    liveView: o.liveView,
    truth: env.truth,
    providers: models.providers,
    stateMaxAbs: () => env.predictors.stateMaxAbs(),
    files: { latency: ARTIFACT_FILES.latency, alignment: ARTIFACT_FILES.alignment },
    notify: o.notify,
    signalQuality: env.source?.quality ? () => env.source!.quality!() : undefined,
  });
}

import type { Config } from '../config/schema.js';
import { pluginRow, type TableRow } from '../domain/registry.js';
import { ArtifactsWriter } from './artifacts-writer.js';
import { MqttOutput } from './mqtt-output.js';
import { modelSummary } from './mqtt-sink.js';
import { PosesOutput } from './poses-output.js';
import { StatusLine } from './status-line.js';
import { LiveViewPlugin } from './live-view.js';
import type { LiveViewServer } from './live-view-server.js';
import { MetricsPlugin } from './metrics.js';
import type { OneEuroSettings } from './one-euro.js';
import { PoseSmoothingPlugin } from './pose-smoothing.js';

/** What a stream offers its outputs besides their settings. */
export interface OutputsEnv {
  /** The models' record and the providers they got, for the MQTT meta message. */
  model: { info: { readonly models: Readonly<Record<string, { readonly sha256: string }>> }; providers: Readonly<Record<string, string>> };
  /** The effective configuration as config_snapshot.yaml holds it, and model_info.json. */
  configSnapshot: unknown;
  modelInfo: Record<string, unknown>;
  /** The run streams: streaming_metrics.jsonl is written. */
  streams: boolean;
  /** No status line (tests, scripts). */
  quiet: boolean;
  /** The process's one live-view server, shared by its streams. */
  liveView?: LiveViewServer | undefined;
}

type Row = TableRow<Config, OutputsEnv>;

/** The stream's smoothed companion (outputs.smoothing), when on: computed by one row, shown by others. */
function smoothing(cfg: Config): OneEuroSettings | undefined {
  const { enabled, min_cutoff, beta, d_cutoff } = cfg.outputs.smoothing;
  return enabled ? { min_cutoff, beta, d_cutoff } : undefined;
}

/**
 * The artifacts writer: it starts first (it records what happens to every other plug-in) and
 * stops last, so it is the table's first row.
 */
export const ARTIFACTS_ROW: Row = pluginRow({
  name: 'artifacts',
  settings: (cfg: Config, env: OutputsEnv) => ({
    configSnapshot: env.configSnapshot,
    modelInfo: env.modelInfo,
    heartbeatIntervalS: cfg.watchdog.status_interval_s,
    stepMetrics: env.streams,
  }),
  create: (s) => new ArtifactsWriter(s),
});

/**
 * The outputs the configuration can turn on, one row each, in start order. Smoothing is first:
 * its `smoothed` poses reach MQTT and the live view before their raw ones.
 */
export const OUTPUTS: readonly Row[] = [
  pluginRow({ name: 'smoothing', settings: smoothing, create: (s) => new PoseSmoothingPlugin(s) }),
  pluginRow({ name: 'poses', settings: (cfg: Config) => cfg.outputs.poses_out || undefined, create: (path) => new PosesOutput(path) }),
  pluginRow({
    name: 'mqtt',
    settings: (cfg: Config, env: OutputsEnv) => cfg.outputs.mqtt.enabled
      ? {
        mqtt: cfg.outputs.mqtt,
        meta: {
          mode: cfg.model.mode,
          model: modelSummary(env.model.info, env.model.providers, { feature_policy: cfg.runtime.streaming.feature_policy }),
          hand: cfg.input.hand,
          bandId: cfg.input.band_id,
          ...(smoothing(cfg) ? { smoothing: smoothing(cfg) } : {}),
        },
      }
      : undefined,
    create: (s) => new MqttOutput(s.mqtt, s.meta),
  }),
  pluginRow({
    name: 'live_view',
    settings: (cfg: Config) => (cfg.outputs.live_view.enabled ? { view: cfg.outputs.live_view, smoothed: smoothing(cfg) !== undefined } : undefined),
    create: (s, env) => new LiveViewPlugin(s.view, env.liveView, s.smoothed),
  }),
  pluginRow({
    name: 'metrics',
    settings: (cfg: Config) => (cfg.outputs.metrics.enabled ? { metrics: cfg.outputs.metrics, input: { speed: cfg.input.speed, hand: cfg.input.hand, band_id: cfg.input.band_id } } : undefined),
    create: (s, env) => new MetricsPlugin(s.metrics, env.model.providers, s.input),
  }),
  pluginRow({ name: 'status_line', settings: (_cfg: Config, env: OutputsEnv) => (env.quiet ? undefined : {}), create: () => new StatusLine() }),
];

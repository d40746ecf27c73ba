import type { CoreConfig } from '../config/schema.js';
import { configSection, pluginRow, type TableRow } from '../domain/registry.js';
import { ArtifactsWriter } from './artifacts-writer.js';
import { MqttOutput, mqttSchema } from './mqtt-output.js';
import { modelSummary } from './mqtt-sink.js';
import { PosesOutput, posesOutSchema } from './poses-output.js';
import { StatusLine } from './status-line.js';
import { LiveViewPlugin, liveViewSchema } from './live-view.js';
import type { LiveViewServer } from './live-view-server.js';
import { MetricsPlugin, metricsSchema } from './metrics.js';
import type { OneEuroSettings } from './one-euro.js';
import { PoseSmoothingPlugin, smoothingOf, smoothingSchema } from './pose-smoothing.js';

// A registry imports every plug-in of its floor (each plug-in module re-exports its settings'
// schema): it is the one place they meet, so its fan-in grows with the plug-ins. Past 12 project
// imports (the limit the layout check counts), split the table in two rather than raise it.

/** What a stream offers its outputs besides their settings. */
export interface OutputsEnv {
  /** The models' record and the providers they got, for the MQTT meta message. */
  model: {
    info: { readonly models: Readonly<Record<string, { readonly sha256: string }>> };
    providers: Readonly<Record<string, string>>;
  };
  /** The effective configuration as config_snapshot.yaml holds it, and model_info.json. */
  configSnapshot: unknown;
  modelInfo: Record<string, unknown>;
  /** The run streams: streaming_metrics.jsonl is written. */
  streams: boolean;
  /** No status line (tests, scripts). */
  quiet: boolean;
  /** Seconds between the run's heartbeats (watchdog.status_interval_s): summary.json's refresh. */
  heartbeatIntervalS: number;
  /**
   * The settings of the stream's one smoothed pose stream (outputs.smoothing, when on): the
   * smoothing row computes it, MQTT names them in its meta message, the live view offers the
   * smoothed hand. The stream context carries them so no row reads another's section.
   */
  smoothing: OneEuroSettings | undefined;
  /** The process's one live-view server, shared by its streams. */
  liveView?: LiveViewServer | undefined;
}

type Row = TableRow<CoreConfig, OutputsEnv>;

/**
 * The artifacts writer: it starts first (it records what happens to every other plug-in) and
 * stops last, so it is the table's first row.
 */
export const ARTIFACTS_ROW: Row = pluginRow({
  name: 'artifacts',
  settings: (_own: undefined, _cfg: CoreConfig, env: OutputsEnv) => ({
    configSnapshot: env.configSnapshot,
    modelInfo: env.modelInfo,
    heartbeatIntervalS: env.heartbeatIntervalS,
    stepMetrics: env.streams,
  }),
  create: (s) => new ArtifactsWriter(s),
});

/**
 * The outputs the configuration can turn on, one row each, in start order, with the section each
 * owns. Smoothing is first: its `smoothed` poses reach MQTT and the live view before their raw ones.
 */
export const OUTPUTS: readonly Row[] = [
  pluginRow({
    name: 'smoothing',
    section: configSection('outputs.smoothing', smoothingSchema),
    settings: smoothingOf,
    create: (s) => new PoseSmoothingPlugin(s),
  }),
  pluginRow({
    name: 'poses',
    section: configSection('outputs.poses_out', posesOutSchema),
    settings: (path: string) => path || undefined,
    create: (path) => new PosesOutput(path),
  }),
  pluginRow({
    name: 'mqtt',
    section: configSection('outputs.mqtt', mqttSchema),
    settings: (mqtt, cfg: CoreConfig, env: OutputsEnv) =>
      mqtt.enabled
        ? {
            mqtt,
            meta: {
              mode: cfg.model.mode,
              model: modelSummary(env.model.info, env.model.providers, {
                feature_policy: cfg.runtime.streaming.feature_policy,
              }),
              hand: cfg.input.hand,
              bandId: cfg.input.band_id,
              ...(env.smoothing ? { smoothing: env.smoothing } : {}),
            },
          }
        : undefined,
    create: (s) => new MqttOutput(s.mqtt, s.meta),
  }),
  pluginRow({
    name: 'live_view',
    section: configSection('outputs.live_view', liveViewSchema),
    settings: (view, _cfg: CoreConfig, env: OutputsEnv) =>
      view.enabled ? { view, smoothed: env.smoothing !== undefined } : undefined,
    create: (s, env) => new LiveViewPlugin(s.view, env.liveView, s.smoothed),
  }),
  pluginRow({
    name: 'metrics',
    section: configSection('outputs.metrics', metricsSchema),
    settings: (metrics, cfg: CoreConfig) =>
      metrics.enabled
        ? { metrics, input: { speed: cfg.input.speed, hand: cfg.input.hand, band_id: cfg.input.band_id } }
        : undefined,
    create: (s, env) => new MetricsPlugin(s.metrics, env.model.providers, s.input),
  }),
  pluginRow({
    name: 'status_line',
    settings: (_own: undefined, _cfg: CoreConfig, env: OutputsEnv) => (env.quiet ? undefined : {}),
    create: () => new StatusLine(),
  }),
];

import type { Config } from '../config/schema.js';
import type { Plugin } from '../domain/plugin.js';
import { ArtifactsWriter, type ArtifactsWriterSettings } from './artifacts-writer.js';
import { MqttOutput } from './mqtt-output.js';
import { modelSummary } from './mqtt-sink.js';
import { PosesOutput } from './poses-output.js';
import { StatusLine } from './status-line.js';
import { LiveViewPlugin } from './live-view.js';
import type { LiveViewServer } from './live-view-server.js';
import { MetricsPlugin } from './metrics.js';

export interface OutputsEnv {
  /** The models' record and the providers they got, for the MQTT meta message. */
  model: { info: { readonly models: Readonly<Record<string, { readonly sha256: string }>> }; providers: Readonly<Record<string, string>> };
  artifacts: ArtifactsWriterSettings;
  /** No status line (tests, scripts). */
  quiet: boolean;
  /** The process's one live-view server, shared by its streams. */
  liveView?: LiveViewServer;
}

/**
 * The artifacts writer, which starts first (it records what happens to every other plug-in)
 * and stops last, and the outputs the configuration turns on. Adding an output is its file and
 * a line here.
 */
export function outputPlugins(cfg: Config, env: OutputsEnv): { first: Plugin[]; rest: Plugin[] } {
  const rest: Plugin[] = [];
  if (cfg.outputs.poses_out) rest.push(new PosesOutput(cfg.outputs.poses_out));
  if (cfg.outputs.mqtt.enabled) {
    rest.push(new MqttOutput(cfg.outputs.mqtt, { mode: cfg.model.mode, model: modelSummary(env.model.info, env.model.providers, { feature_policy: cfg.runtime.streaming.feature_policy }), hand: cfg.input.hand, bandId: cfg.input.band_id }));
  }
  if (cfg.outputs.live_view.enabled) rest.push(new LiveViewPlugin(cfg.outputs.live_view, env.liveView));
  if (cfg.outputs.metrics.enabled) rest.push(new MetricsPlugin(cfg.outputs.metrics, env.model.providers));
  if (!env.quiet) rest.push(new StatusLine());
  return { first: [new ArtifactsWriter(env.artifacts)], rest };
}

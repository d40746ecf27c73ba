import { join } from 'node:path';
import { createSource } from '../acquisition/sources.js';
import type { EmgSource } from '../acquisition/source.js';
import { UserError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { validateConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { checkSharedSettings, resolveStreams, type ResolvedStream } from '../config/streams.js';
import type { StreamInfo } from '../domain/plugin.js';
import type { LoadedModels } from '../inference/models.js';
import { RunArtifacts } from '../outputs/artifacts.js';
import { EmbeddedBroker } from '../outputs/embedded-broker.js';
import { defaultNodeId } from '../outputs/mqtt-sink.js';
import { openModels } from './bootstrap.js';
import { streamPlugins } from './plugins.js';
import { StreamSession } from './stream-session.js';

export interface DaemonOptions {
  quiet: boolean;
  /** --artifacts: the run folder (streams get sub-folders when there are several). */
  artifactsDir?: string;
  signal?: AbortSignal;
}

/**
 * What a stream is, from its source and its model's record, checked against each other: a
 * band with another channel count or rate than the model was exported for is refused here,
 * before anything runs.
 */
export function streamInfo(id: string, multi: boolean, source: EmgSource, models: LoadedModels): StreamInfo {
  const g = models.info.geometry;
  const num = (k: string): number => {
    const v = g[k];
    if (typeof v !== 'number') throw new UserError(`${models.dir}/model_info.json: geometry.${k} missing`);
    return v;
  };
  const channels = num('num_channels');
  const rate = num('sample_rate');
  const where = multi ? `stream ${id}: ` : '';
  if (source.info.channels !== channels) throw new UserError(`${where}the source (${source.info.description}) gives ${source.info.channels} channels; the model in ${models.dir} takes ${channels}`);
  if (source.info.sampleRate !== rate) throw new UserError(`${where}the source (${source.info.description}) runs at ${source.info.sampleRate} Hz; the model in ${models.dir} takes ${rate} Hz`);
  const names = Array.isArray(g['joint_names']) ? (g['joint_names'] as unknown[]).map(String) : [];
  return {
    id, multi, channels, sampleRate: rate,
    poseDim: num('pose_dim'),
    jointNames: names,
    stepSamples: rate / num('rollout_freq'),
    sourceDescription: source.info.description,
    hasJointAngles: source.info.hasJointAngles,
  };
}

/**
 * Several streams in one process share what a process has once: the embedded broker (each
 * stream connects to it as its own client, with its own will) and the run folder (a sub-folder
 * each). Their topics gain the stream id as a level.
 */
function perStreamMqtt(s: ResolvedStream, brokerUrl: string | undefined): Config {
  const m = s.cfg.outputs.mqtt;
  if (!m.enabled) return s.cfg;
  const mqtt = {
    ...m,
    topic_prefix: `${m.topic_prefix}/${s.id}`,
    // One client id per connection: a broker drops the older of two clients that share one.
    client_id: `${m.client_id || `myostream-${m.node_id || defaultNodeId()}-${process.pid}`}-${s.id}`,
    ...(m.broker === 'embedded' && brokerUrl ? { broker: brokerUrl, protocol_version: 4 as const } : {}),
  };
  return { ...s.cfg, outputs: { ...s.cfg.outputs, mqtt } };
}

/**
 * `myostream run`: every configured stream from start to finish. One stream's fault or
 * fallback never touches another: each has its own source, predictors, plug-ins and state; a
 * stream that fails ends alone and the process exits 1 once the others have finished.
 */
export async function runDaemon(cfg: Config, log: Logger, o: DaemonOptions): Promise<number> {
  const streams = resolveStreams(cfg, validateConfig);
  checkSharedSettings(streams);
  const multi = streams.length > 1;
  // Sources first: a missing device node ends the run before the models load.
  const sources: EmgSource[] = [];
  for (const s of streams) sources.push(await createSource(s.cfg, log.child(multi ? { stream: s.id } : {})));
  const models: LoadedModels[] = [];
  for (const s of streams) models.push(await openModels(s.cfg, log));
  const infos = streams.map((s, i) => streamInfo(s.id, multi, sources[i]!, models[i]!));
  let broker: EmbeddedBroker | undefined;
  const wantsBroker = multi && streams.some((s) => s.cfg.outputs.mqtt.enabled && s.cfg.outputs.mqtt.broker === 'embedded');
  if (wantsBroker) {
    const m = streams.find((s) => s.cfg.outputs.mqtt.broker === 'embedded')!.cfg.outputs.mqtt;
    broker = await EmbeddedBroker.start({ port: m.embedded_port, host: m.embedded_host, log });
  }
  const root = RunArtifacts.create(cfg.outputs.artifacts_root, o.artifactsDir);
  try {
    const sessions = streams.map((s, i) => {
      const scfg = multi ? perStreamMqtt(s, broker?.url) : s.cfg;
      const slog = multi ? log.child({ stream: s.id }) : log;
      return new StreamSession({
        cfg: scfg, log: slog, models: models[i]!, source: sources[i]!, info: infos[i]!,
        artifacts: multi ? RunArtifacts.create('', join(root.dir, s.id)) : root,
        plugins: (env) => streamPlugins({ cfg: scfg, models: models[i]!, quiet: o.quiet }, env),
      });
    });
    if (multi) root.writeJson('streams.json', { streams: streams.map((s, i) => ({ stream_id: s.id, source: infos[i]!.sourceDescription, artifacts: join(root.dir, s.id) })) });
    const results = await Promise.allSettled(sessions.map((s) => s.run(o.signal)));
    let code = 0;
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') {
        code = Math.max(code, r.value);
      } else {
        code = Math.max(code, 1);
        if (!multi) throw r.reason;
        log.error({ stream: streams[i]!.id }, `stream ${streams[i]!.id} failed: ${errorMessage(r.reason)}`);
      }
    });
    return code;
  } finally {
    await broker?.close();
  }
}

import { createSource } from '../acquisition/sources.js';
import type { EmgSource } from '../acquisition/source.js';
import { UserError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { ResolvedStream as AnyResolvedStream } from '../config/streams.js';
import type { Config } from './config.js';
import type { StreamInfo } from '../domain/plugin.js';
import type { LoadedModels } from '../inference/models.js';
import { startDaemonBroker, type DaemonBroker } from '../outputs/embedded-broker.js';
import { openModels } from './bootstrap.js';

type ResolvedStream = AnyResolvedStream<Config>;

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
  if (source.info.channels !== channels)
    throw new UserError(
      `${where}the source (${source.info.description}) gives ${source.info.channels} channels; the model in ${models.dir} takes ${channels}`,
    );
  if (source.info.sampleRate !== rate)
    throw new UserError(
      `${where}the source (${source.info.description}) runs at ${source.info.sampleRate} Hz; the model in ${models.dir} takes ${rate} Hz`,
    );
  const names = Array.isArray(g['joint_names']) ? (g['joint_names'] as unknown[]).map(String) : [];
  return {
    id,
    multi,
    channels,
    sampleRate: rate,
    poseDim: num('pose_dim'),
    jointNames: names,
    stepSamples: rate / num('rollout_freq'),
    sourceDescription: source.info.description,
    hasJointAngles: source.info.hasJointAngles,
    sourceKind: source.info.kind,
    ...(source.info.hand ? { sourceHand: source.info.hand } : {}),
    chipIds: source.info.chipIds ?? [],
    ...(source.info.identified ? { identified: source.info.identified } : {}),
  };
}

/**
 * Several streams in one process share what a process has once: the embedded broker (each
 * stream connects to it as its own client, with its own will) and the run folder (a sub-folder
 * each). The MQTT plug-in adds the stream id to its topics and client id itself.
 */
export function perStreamMqtt(s: ResolvedStream, brokerUrl: string | undefined): Config {
  const m = s.cfg.outputs.mqtt;
  if (!m.enabled) return s.cfg;
  const mqtt = {
    ...m,
    ...(m.broker === 'embedded' && brokerUrl ? { broker: brokerUrl, protocol_version: 4 as const } : {}),
  };
  return { ...s.cfg, outputs: { ...s.cfg.outputs, mqtt } };
}

/** The one embedded broker of a process that runs several streams, when any of them wants it. */
export async function sharedBroker(streams: readonly ResolvedStream[], log: Logger): Promise<DaemonBroker | undefined> {
  const m = streams.find((s) => s.cfg.outputs.mqtt.enabled && s.cfg.outputs.mqtt.broker === 'embedded')?.cfg.outputs
    .mqtt;
  return m && streams.length > 1 ? startDaemonBroker(m, log) : undefined;
}

/**
 * Every stream's source, then every stream's models, then what each stream is: sources first,
 * so that a missing device node ends the run before the models load.
 */
export async function openStreams(
  streams: readonly ResolvedStream[],
  log: Logger,
): Promise<{ sources: EmgSource[]; models: LoadedModels[]; infos: StreamInfo[] }> {
  const multi = streams.length > 1;
  const sources: EmgSource[] = [];
  for (const s of streams) sources.push(await createSource(s.cfg, log.child(multi ? { stream: s.id } : {})));
  const models: LoadedModels[] = [];
  for (const s of streams) models.push(await openModels(s.cfg, log));
  return { sources, models, infos: streams.map((s, i) => streamInfo(s.id, multi, sources[i]!, models[i]!)) };
}

/** Settings that cannot differ between the streams of one process. */
export function checkSharedSettings(streams: readonly ResolvedStream[]): void {
  const first = streams[0];
  if (!first) return;
  for (const s of streams.slice(1)) {
    const a = first.cfg.outputs.mqtt;
    const b = s.cfg.outputs.mqtt;
    if (
      a.enabled &&
      b.enabled &&
      a.broker === 'embedded' &&
      b.broker === 'embedded' &&
      a.embedded_port !== b.embedded_port
    ) {
      throw new UserError(
        `streams: ${first.id} and ${s.id} ask for embedded brokers on ports ${a.embedded_port} and ${b.embedded_port}; one process runs one embedded broker`,
      );
    }
  }
}

import { hostname } from 'node:os';
import type { ModelSummary, MqttTopics } from './mqtt-types.js';

/** The topic prefix of one stream: `{node_id}` and `{stream_id}` replaced; with several streams and no `{stream_id}`, the stream id is appended. */
export function streamPrefix(topicPrefix: string, nodeId: string, streamId: string, multi: boolean): string {
  const withNode = topicPrefix.split('{node_id}').join(nodeId);
  if (withNode.includes('{stream_id}')) return withNode.split('{stream_id}').join(streamId);
  // A prefix that already ends in the stream's level (a caller that added it) gets it once.
  return multi && !withNode.endsWith(`/${streamId}`) ? `${withNode}/${streamId}` : withNode;
}

export function topicsUnder(prefix: string): MqttTopics {
  return {
    pose: `${prefix}/pose`,
    pose_smoothed: `${prefix}/pose/smoothed`,
    status: `${prefix}/status`,
    meta: `${prefix}/meta`,
    event: `${prefix}/event`,
    health: `${prefix}/health`,
    request: `${prefix}/request/+`,
    response: `${prefix}/response`,
  };
}

/**
 * One client per stream: each has its own Last Will, and two with one id would kick each other
 * off. A configured id gets the stream's suffix with several streams.
 */
export function streamClientId(
  configured: string,
  nodeId: string,
  streamId: string,
  multi: boolean,
  pid: number = process.pid,
): string {
  if (configured) return multi && !configured.endsWith(`-${streamId}`) ? `${configured}-${streamId}` : configured;
  return `myostream-${nodeId}${multi ? '-' + streamId : ''}-${pid}`;
}

/**
 * The status message's `model`: per graph the first 12 hex digits of its sha256 and the execution
 * provider it really got, plus whatever the caller adds (feature policy, …). Kept flat and short:
 * the full record is model_info.json in the run folder.
 */
export function modelSummary(
  info: { readonly models: Readonly<Record<string, { readonly sha256: string }>> },
  providers: Readonly<Record<string, string>>,
  extra: ModelSummary = {},
): ModelSummary {
  const out: Record<string, string | number | boolean | null> = {};
  for (const [k, m] of Object.entries(info.models)) out[`${k}_sha256`] = m.sha256.slice(0, 12);
  for (const [k, p] of Object.entries(providers)) out[`${k}_provider`] = p;
  return { ...out, ...extra };
}

export function defaultNodeId(host: string = hostname()): string {
  return host.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64) || 'node';
}

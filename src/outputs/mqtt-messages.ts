import type { IPublishPacket } from 'mqtt';
import { JOINT_NAMES, POSE_DIM, ROLLOUT_FREQ } from '../domain/geometry.js';
import type { Mode, PoseEvent } from '../domain/pose.js';
import { captureTime, publishedAge } from './pose-age.js';
import type { MqttEventInput, MqttRequest, MqttTopics, StreamIdentity } from './mqtt-types.js';

/** `hand`, `hand_from` and `band` as meta, the birth and health carry them. */
export function identityFields(id: StreamIdentity | undefined): Record<string, unknown> {
  if (id === undefined) return {};
  return {
    hand: id.hand,
    hand_from: id.hand_from,
    band: { band_id: id.band_id, source: id.source, chip_ids: id.chip_ids },
  };
}

/** What the retained <prefix>/meta describes: the stream's shape and how it is published. */
export interface MetaFields {
  nodeId: string;
  streamId: string;
  version: string;
  topics: MqttTopics;
  qos: 0 | 1;
  messageExpiryS: number | null;
  control: boolean;
  identity?: StreamIdentity;
  /** With smoothing on, its settings (null when off). */
  smoothing: Readonly<Record<string, number>> | null;
}

export function metaMessage(m: MetaFields): string {
  return JSON.stringify({
    node_id: m.nodeId,
    stream_id: m.streamId,
    version: m.version,
    schema: 'myostream.mqtt_pose/1',
    joints: JOINT_NAMES,
    units: 'rad',
    angles: POSE_DIM,
    rate_hz: ROLLOUT_FREQ,
    topics: m.topics,
    qos: m.qos,
    message_expiry_s: m.messageExpiryS,
    control: m.control,
    smoothing: m.smoothing,
    ...identityFields(m.identity),
  });
}

/** One <prefix>/event message: the event's own fields plus who sent it and in which mode. */
export function eventMessage(
  seq: number,
  e: MqttEventInput,
  from: { nodeId: string; streamId: string; mode: Mode },
): string {
  const body: Record<string, unknown> = {
    seq,
    kind: e.kind,
    time: e.time ?? new Date().toISOString(),
    ts: Date.now(),
    node_id: from.nodeId,
    stream_id: from.streamId,
    mode: from.mode,
  };
  if (e.detail !== undefined) body['detail'] = e.detail;
  if (e.atSample !== undefined) body['at_sample'] = e.atSample;
  if (e.atStep !== undefined) body['at_step'] = e.atStep;
  if (e.from !== undefined) body['from'] = e.from;
  if (e.to !== undefined) body['to'] = e.to;
  if (e.reason !== undefined) body['reason'] = e.reason;
  if (e.data !== undefined) body['data'] = e.data;
  return JSON.stringify(body);
}

/** The request a message on <prefix>/request/<name> carries; undefined for any other topic. */
export function requestFromMessage(
  requestFilter: string,
  topic: string,
  payload: Buffer,
  packet: IPublishPacket,
): MqttRequest | undefined {
  const base = requestFilter.slice(0, -1);
  if (!topic.startsWith(base)) return undefined;
  const req: MqttRequest = { name: topic.slice(base.length), payload };
  const p = packet.properties;
  if (p?.responseTopic !== undefined) req.responseTopic = p.responseTopic;
  if (p?.correlationData !== undefined) req.correlationData = p.correlationData;
  return req;
}

/** What the retained online status (the birth message) says about the run. */
export interface BirthFields {
  base: Readonly<Record<string, unknown>>;
  startedAt: string;
  version: string;
  mode: Mode;
  model: Readonly<Record<string, unknown>>;
  protocol: 4 | 5;
  nextSeq: number;
  identity?: StreamIdentity;
}

export function birthMessage(b: BirthFields): string {
  return JSON.stringify({
    ...b.base,
    ts: Date.now(),
    started_at: b.startedAt,
    version: b.version,
    mode: b.mode,
    model: b.model,
    protocol_version: b.protocol,
    next_seq: b.nextSeq,
    ...identityFields(b.identity),
  });
}

/**
 * The pose as JSON text, built directly: no intermediate object or array, the string is the
 * only thing a publish allocates here. Angles use the poses file's float32 text (9 significant
 * digits round-trip a float32); JSON has no NaN, so a non-finite angle is null.
 *
 * `ts` is the wall clock at publish (Unix ms) and `ageMs` the monotonic time since the newest
 * input sample arrived: `t_capture` is ts − age, the capture instant on the publisher's wall
 * clock, so t_capture ≤ ts holds even when the wall clock was stepped during the run. Both are
 * null when the arrival is unknown. `quality` is the source's bad-channel bitmask (bit i: channel
 * i), 0 when every channel is clean or the source does not measure it.
 */
export function encodePose(seq: number, e: PoseEvent, ts: number, ageMs: number): string {
  const age = publishedAge(ageMs);
  let s =
    '{"seq":' + seq + ',"t":' + Number(e.t.toFixed(6)) + ',"step":' + e.step + ',"mode":"' + e.mode + '","ts":' + ts;
  s += ',"t_capture":' + captureTime(ts, age) + ',"age_ms":' + age + ',"quality":' + (e.quality ?? 0) + ',"angles":[';
  const a = e.angles;
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (i > 0) s += ',';
    s += Number.isFinite(v) ? Number(v.toPrecision(9)) : 'null';
  }
  return s + ']}';
}

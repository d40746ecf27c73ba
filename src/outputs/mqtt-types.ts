import type { Logger } from '../common/logger.js';
import type { Mode } from '../domain/pose.js';
import type { OneEuroSettings } from './one-euro.js';

/** Who this stream's hand is: in meta, the status birth and health. */
export interface StreamIdentity {
  hand: 'left' | 'right' | null;
  /** Where `hand` came from: config (input.hand), the recording, or unknown. */
  hand_from: string;
  band_id: string;
  /** The source's own description (device, file, generator). */
  source: string;
  /** ADS1299 ID register of each chip read at start; empty for other sources. */
  chip_ids: readonly (string | null)[];
}

/** A flat, JSON-safe description of the loaded model for the status message. */
export type ModelSummary = Readonly<Record<string, string | number | boolean | null>>;

export interface MqttSinkOptions {
  log?: Logger;
  /** The mode the run starts in (the status message's `mode` until poses or events change it). */
  mode: Mode;
  model?: ModelSummary;
  /** Overrides os.hostname() for the default node id (tests). */
  hostname?: string;
  /** Overrides process.env for password_env (tests). */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * The daemon's shared embedded broker (startDaemonBroker): with broker "embedded" the sink
   * dials this URL instead of starting a broker of its own.
   */
  brokerUrl?: string;
  /** The stream this sink publishes; with `multi` its id becomes a topic level. */
  streamId?: string;
  multi?: boolean;
  /** Software version for status and meta (package.json's). */
  version?: string;
  /** With outputs.smoothing on, its One Euro settings: meta says <prefix>/pose/smoothed is published. */
  smoothing?: OneEuroSettings;
  /** The hand and band, asked at every meta and birth (chip IDs arrive once the ADC is read). */
  identity?: () => StreamIdentity;
  /** Resolves once identity() is final (the ADC's chip IDs read): meta and the first birth wait for it, within bounds. */
  identified?: Promise<void>;
}

/** A request that arrived on <prefix>/request/<name>, handed over as received. */
export interface MqttRequest {
  name: string;
  payload: Buffer;
  /** MQTT 5 only: where the requester wants the answer, and what to echo with it. */
  responseTopic?: string;
  correlationData?: Buffer;
}

/** Anything the session reports on <prefix>/event; PipelineEvent fits as it is. */
export interface MqttEventInput {
  kind: string;
  /** Wall-clock ISO time; now when absent. */
  time?: string;
  detail?: string;
  atSample?: number;
  atStep?: number;
  /** For mode switches: the modes left and entered. */
  from?: string;
  to?: string;
  reason?: string;
  /** The event's machine-readable extras (RunEvent.data). */
  data?: Readonly<Record<string, string | number | boolean | null>>;
}

/** Counters for summary.json (`outputs.mqtt`). */
export interface MqttStats {
  broker: string;
  embedded_port: number | null;
  protocol_version: 4 | 5;
  node_id: string;
  topic_prefix: string;
  connected: boolean;
  /** Pose messages handed to the connection (= the next pose's seq). */
  published: number;
  /** Poses not sent: dropped_disconnected + dropped_backpressure. */
  dropped: number;
  dropped_disconnected: number;
  dropped_backpressure: number;
  /** Times the connection came back after being lost. */
  reconnects: number;
  reconnect_attempts: number;
  events_published: number;
  events_dropped: number;
  health_published: number;
  /** Health messages not sent because the connection was down. */
  health_skipped: number;
  responses_published: number;
  /** Control plane: subscribed to <prefix>/request/+ (false while off, refused or disconnected). */
  control_subscribed: boolean;
  last_error: string | null;
}

export interface MqttTopics {
  pose: string;
  /** Published only with smoothing on. */
  pose_smoothed: string;
  status: string;
  meta: string;
  event: string;
  health: string;
  /** <prefix>/request/+ : what the control plane subscribes to. */
  request: string;
  /** Answers go to <prefix>/response/<name> unless the request names an MQTT 5 response topic. */
  response: string;
}

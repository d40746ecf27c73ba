import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { connect, type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import { UserError, errorMessage } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import type { MqttConfig } from '../config/mqtt-schema.js';
import { JOINT_NAMES, POSE_DIM, ROLLOUT_FREQ } from '../domain/geometry.js';
import { EmbeddedBroker } from './embedded-broker.js';
import type { Mode, PoseEvent, PoseSink } from '../domain/pose.js';

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
  last_error: string | null;
}

export interface MqttTopics {
  pose: string;
  status: string;
  meta: string;
  event: string;
}

/**
 * QoS 1 messages wait in MQTT.js's memory store until acknowledged, also while disconnected.
 * These caps keep that store small: ~2 s of QoS 1 poses, and a burst of events.
 */
const MAX_POSES_IN_FLIGHT = 100;
const MAX_EVENTS_PENDING = 100;
/** close() waits this long for the broker to acknowledge the offline status. */
const CLOSE_FLUSH_MS = 2000;
/** start() never holds the run back longer than this for an external broker that is down. */
const START_WAIT_MAX_MS = 3000;

/** MQTT 3.1.1 CONNACK 1 and MQTT 5 reason 132: the broker does not speak the version asked. */
const UNSUPPORTED_PROTOCOL = new Set([1, 132]);
/** Refusals that retrying will not cure: bad credentials, not authorised, banned, bad client id. */
const AUTH_REFUSED = new Set([2, 4, 5, 133, 134, 135, 138, 140]);

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

/**
 * Publishes every pose to <prefix>/pose, keeps a retained <prefix>/status (online with a birth
 * message; offline by close() or by the broker's Last Will when the link dies) and a retained
 * <prefix>/meta, and publishes session events to <prefix>/event. docs/mqtt.md gives the
 * payloads and the reasons for QoS, retain and expiry.
 *
 * write() is synchronous and never waits for the network: while the broker is unreachable or the
 * socket backs up, poses are dropped and counted, so the 50 Hz loop neither blocks nor grows
 * memory. With an embedded broker the sink owns it and closes it after the client.
 */
export class MqttSink implements PoseSink {
  readonly nodeId: string;
  readonly topics: MqttTopics;
  readonly clientId: string;
  /** Random per process start; ties a status message (birth or will) to one run. */
  readonly instance = randomBytes(4).toString('hex');

  private readonly log: Logger;
  private readonly model: ModelSummary;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly startedAt = new Date().toISOString();
  private mode: Mode;
  private client: MqttClient | undefined;
  private broker: EmbeddedBroker | undefined;
  private url = '';
  private protocol: 4 | 5;
  /** Reused for every pose publish (MQTT.js copies it, never keeps or changes it). */
  private poseOpts: IClientPublishOptions = { qos: 0, retain: false };
  private readonly maxBufferBytes: number;

  private seq = 0;
  private droppedDisconnected = 0;
  private droppedBackpressure = 0;
  private reconnects = 0;
  private reconnectAttempts = 0;
  private posesInFlight = 0;
  private eventSeq = 0;
  private eventsPublished = 0;
  private eventsDropped = 0;
  private eventsPending = 0;
  private everConnected = false;
  private outage: { since: number; dropsAtStart: number; errorLogged: boolean } | undefined;
  private lastError: string | null = null;
  private closing: Promise<void> | undefined;
  private startOutcome: ((err?: Error) => void) | undefined;

  /** Bound once: a QoS 1 pose's acknowledgement (or failure) frees its in-flight slot. */
  private readonly onPoseAck = (): void => {
    this.posesInFlight--;
  };

  constructor(
    private readonly cfg: MqttConfig,
    opts: MqttSinkOptions,
  ) {
    this.log = opts.log ?? silentLogger();
    this.mode = opts.mode;
    this.model = opts.model ?? {};
    this.env = opts.env ?? process.env;
    this.nodeId = cfg.node_id || defaultNodeId(opts.hostname);
    const prefix = cfg.topic_prefix.split('{node_id}').join(this.nodeId);
    this.topics = { pose: `${prefix}/pose`, status: `${prefix}/status`, meta: `${prefix}/meta`, event: `${prefix}/event` };
    this.clientId = cfg.client_id || `myostream-${this.nodeId}-${process.pid}`;
    this.protocol = cfg.protocol_version === 'auto' ? (cfg.broker === 'embedded' ? 4 : 5) : cfg.protocol_version;
    this.maxBufferBytes = cfg.max_buffer_kb * 1024;
    if (cfg.broker === 'embedded' && this.protocol === 5) {
      throw new UserError('outputs.mqtt.protocol_version = 5: the embedded broker (aedes) speaks MQTT 3.1.1 only; use 4 or auto, or an external MQTT 5 broker');
    }
  }

  /**
   * Starts the embedded broker if configured, then connects. Resolves once connected, or — for an
   * external broker that is down — after a short wait with a warning (poses are dropped and
   * counted until it comes up; the client keeps retrying). Rejects with a UserError for what
   * retrying cannot fix: the embedded port in use, a missing password variable, refused
   * credentials.
   */
  async start(): Promise<void> {
    if (this.client || this.closing) throw new Error('MqttSink.start(): already started or closed');
    const password = this.password();
    if (this.cfg.broker === 'embedded') {
      this.broker = await EmbeddedBroker.start({ port: this.cfg.embedded_port, host: this.cfg.embedded_host, log: this.log });
      this.url = this.broker.url;
    } else {
      this.url = this.cfg.broker;
    }
    const outcome = new Promise<Error | undefined>((resolve) => {
      this.startOutcome = resolve;
    });
    this.connect(password);
    const waitMs = this.broker ? this.cfg.connect_timeout_s * 1000 : Math.min(this.cfg.connect_timeout_s * 1000, START_WAIT_MAX_MS);
    const timer = setTimeout(() => this.startOutcome?.(), waitMs);
    const err = await outcome;
    clearTimeout(timer);
    this.startOutcome = undefined;
    if (err) {
      await this.close();
      throw err;
    }
    if (!this.everConnected) {
      this.log.warn({ broker: this.url, err: this.lastError }, `MQTT broker ${this.url} not reachable yet; poses are dropped (and counted) until it is, retrying every ${this.cfg.reconnect_period_s} s`);
    }
  }

  /** The port the embedded broker really listens on (useful with embedded_port 0); null for an external broker. */
  get embeddedPort(): number | null {
    return this.broker?.port ?? null;
  }

  get brokerUrl(): string {
    return this.url;
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  write(e: PoseEvent): void {
    if (e.mode !== this.mode) {
      // A fallback shows first in the poses' mode: keep the retained status in step.
      this.mode = e.mode;
      this.publishStatusOnline();
    }
    const c = this.client;
    if (c === undefined || !c.connected || this.closing !== undefined) {
      this.droppedDisconnected++;
      return;
    }
    // A broker that stops reading (or a dead link not yet noticed by keepalive) leaves bytes in
    // the socket: past the bound, drop rather than queue.
    if (c.stream.writableLength > this.maxBufferBytes || this.posesInFlight >= MAX_POSES_IN_FLIGHT) {
      this.droppedBackpressure++;
      return;
    }
    const payload = this.encodePose(e);
    if (this.poseOpts.qos === 1) {
      this.posesInFlight++;
      c.publish(this.topics.pose, payload, this.poseOpts, this.onPoseAck);
    } else {
      c.publish(this.topics.pose, payload, this.poseOpts);
    }
    this.seq++;
  }

  /**
   * The pose as JSON text, built directly: no intermediate object or array, the string is the
   * only thing a publish allocates here. Angles use the poses file's float32 text (9 significant
   * digits round-trip a float32); JSON has no NaN, so a non-finite angle is null.
   */
  encodePose(e: PoseEvent): string {
    let s = '{"seq":' + this.seq + ',"t":' + Number(e.t.toFixed(6)) + ',"step":' + e.step + ',"mode":"' + e.mode + '","ts":' + Date.now() + ',"angles":[';
    const a = e.angles;
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (i > 0) s += ',';
      s += Number.isFinite(v) ? Number(v.toPrecision(9)) : 'null';
    }
    return s + ']}';
  }

  /**
   * Publishes a session event (mode switch, gap, overrun, source end) at QoS 1, not retained.
   * A mode switch with `to` also updates the retained status. While disconnected, up to 100
   * events wait for the connection; beyond that they are dropped and counted.
   */
  publishEvent(e: MqttEventInput): void {
    if ((e.to === 'exact' || e.to === 'streaming') && e.to !== this.mode) {
      this.mode = e.to;
      this.publishStatusOnline();
    }
    const c = this.client;
    if (c === undefined || this.closing !== undefined || this.eventsPending >= MAX_EVENTS_PENDING) {
      this.eventsDropped++;
      return;
    }
    const body: Record<string, string | number> = { seq: this.eventSeq++, kind: e.kind, time: e.time ?? new Date().toISOString(), ts: Date.now(), node_id: this.nodeId, mode: this.mode };
    if (e.detail !== undefined) body['detail'] = e.detail;
    if (e.atSample !== undefined) body['at_sample'] = e.atSample;
    if (e.atStep !== undefined) body['at_step'] = e.atStep;
    if (e.from !== undefined) body['from'] = e.from;
    if (e.to !== undefined) body['to'] = e.to;
    if (e.reason !== undefined) body['reason'] = e.reason;
    this.eventsPending++;
    c.publish(this.topics.event, JSON.stringify(body), { qos: 1, retain: false }, (err) => {
      this.eventsPending--;
      if (err) this.eventsDropped++;
      else this.eventsPublished++;
    });
  }

  stats(): MqttStats {
    return {
      broker: this.broker ? `embedded ${this.url}` : this.url || this.cfg.broker,
      embedded_port: this.embeddedPort,
      protocol_version: this.protocol,
      node_id: this.nodeId,
      topic_prefix: this.topics.pose.slice(0, -'/pose'.length),
      connected: this.connected,
      published: this.seq,
      dropped: this.droppedDisconnected + this.droppedBackpressure,
      dropped_disconnected: this.droppedDisconnected,
      dropped_backpressure: this.droppedBackpressure,
      reconnects: this.reconnects,
      reconnect_attempts: this.reconnectAttempts,
      events_published: this.eventsPublished,
      events_dropped: this.eventsDropped,
      last_error: this.lastError,
    };
  }

  /**
   * Publishes the retained offline status (reason "shutdown", with the counters), waits for the
   * broker's acknowledgement (≤ 2 s), disconnects cleanly (so the broker discards the will), then
   * closes the embedded broker. Idempotent; never throws for network trouble.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // A stop during start(): let start() return now rather than at its timeout.
    this.startOutcome?.();
    const c = this.client;
    if (c) {
      if (c.connected) {
        const payload = JSON.stringify({ ...this.statusBase('offline'), reason: 'shutdown', ts: Date.now(), counters: this.counters() });
        await withTimeout(c.publishAsync(this.topics.status, payload, { qos: 1, retain: true }).then(() => undefined), CLOSE_FLUSH_MS).catch((e: unknown) => {
          this.log.warn({ err: errorMessage(e) }, 'MQTT: offline status not acknowledged');
        });
      }
      const clean = await withTimeout(c.endAsync(!c.connected).then(() => true), CLOSE_FLUSH_MS).catch(() => false);
      // end() is already under way and waits for acknowledgements that will not come: cut the
      // socket (no reconnect follows, the client is disconnecting).
      if (!clean) c.stream?.destroy();
      c.removeAllListeners();
      // A late socket error after end() must not become an unhandled 'error' event.
      c.on('error', () => undefined);
    }
    if (this.broker) await this.broker.close();
    this.log.info(this.counters(), 'MQTT output closed');
  }

  private counters(): Record<string, number> {
    return { published: this.seq, dropped: this.droppedDisconnected + this.droppedBackpressure, reconnects: this.reconnects };
  }

  private password(): string | undefined {
    const name = this.cfg.password_env;
    if (!name) return undefined;
    const v = this.env[name];
    if (v === undefined) throw new UserError(`outputs.mqtt.password_env = ${name}: the environment variable ${name} is not set`);
    return v;
  }

  private statusBase(state: 'online' | 'offline'): Record<string, unknown> {
    return { state, node_id: this.nodeId, instance: this.instance };
  }

  private connect(password: string | undefined): void {
    const cfg = this.cfg;
    const opts: IClientOptions = {
      clientId: this.clientId,
      protocolVersion: this.protocol,
      clean: true,
      keepalive: cfg.keepalive_s,
      reconnectPeriod: Math.round(cfg.reconnect_period_s * 1000),
      connectTimeout: Math.round(cfg.connect_timeout_s * 1000),
      // The point of this whole class: QoS 0 poses must not pile up while disconnected.
      queueQoSZero: false,
      // Wrong credentials may be fixed on the broker side while we run: keep trying.
      reconnectOnConnackError: true,
      resubscribe: false,
      will: {
        topic: this.topics.status,
        payload: Buffer.from(JSON.stringify({ ...this.statusBase('offline'), reason: 'connection_lost' })),
        qos: 1,
        retain: true,
      },
    };
    if (cfg.username) opts.username = cfg.username;
    if (password !== undefined) opts.password = password;
    this.poseOpts = { qos: cfg.qos, retain: false };
    if (this.protocol === 5 && cfg.message_expiry_s > 0) this.poseOpts.properties = { messageExpiryInterval: cfg.message_expiry_s };
    else if (cfg.message_expiry_s > 0) this.log.debug('MQTT 3.1.1: message_expiry_s needs MQTT 5 and is not applied');

    const c = connect(this.url, opts);
    this.client = c;
    c.on('connect', () => this.onConnect());
    c.on('close', () => this.onClose());
    c.on('reconnect', () => {
      this.reconnectAttempts++;
    });
    c.on('error', (err: Error & { code?: number | string }) => this.onError(c, err, password));
  }

  private onConnect(): void {
    if (this.everConnected) this.reconnects++;
    const o = this.outage;
    if (o) {
      this.log.info({ broker: this.url, down_s: Math.round((performance.now() - o.since) / 100) / 10, dropped: this.droppedDisconnected - o.dropsAtStart }, 'MQTT connection restored');
    } else if (!this.everConnected) {
      this.log.info({ broker: this.url, protocol: this.protocol === 5 ? 'MQTT 5' : 'MQTT 3.1.1', client_id: this.clientId, topics: this.topics.pose.slice(0, -5) + '/#' }, 'MQTT connected');
    }
    this.everConnected = true;
    this.outage = undefined;
    this.publishMeta();
    this.publishStatusOnline();
    this.startOutcome?.();
  }

  private onClose(): void {
    if (this.closing || this.outage) return;
    this.outage = { since: performance.now(), dropsAtStart: this.droppedDisconnected, errorLogged: false };
    if (this.everConnected) {
      this.log.warn({ broker: this.url }, 'MQTT connection lost; poses are dropped (and counted) until it is back');
    } else {
      // Refused or unreachable at start: report now rather than after the whole wait.
      this.startOutcome?.();
    }
  }

  private onError(c: MqttClient, err: Error & { code?: number | string }, password: string | undefined): void {
    if (this.closing) return;
    this.lastError = err.message;
    const code = typeof err.code === 'number' ? err.code : undefined;
    if (code !== undefined && UNSUPPORTED_PROTOCOL.has(code) && this.protocol === 5 && this.cfg.protocol_version === 'auto') {
      // An MQTT 3.1.1 broker: say so once and start over with 3.1.1 (no message expiry).
      this.log.info({ broker: this.url }, 'MQTT broker refuses MQTT 5; using MQTT 3.1.1 (no message expiry)');
      this.protocol = 4;
      c.removeAllListeners();
      c.on('error', () => undefined);
      c.end(true);
      this.outage = undefined;
      this.connect(password);
      return;
    }
    if (code !== undefined && AUTH_REFUSED.has(code) && !this.everConnected && this.startOutcome) {
      this.startOutcome(new UserError(`outputs.mqtt: broker ${this.url} refused the connection: ${err.message} (check username, password_env, client_id)`));
      return;
    }
    const o = this.outage;
    if (o === undefined || !o.errorLogged) {
      if (o) o.errorLogged = true;
      this.log.warn({ broker: this.url, err: err.message }, 'MQTT error');
    } else {
      this.log.debug({ broker: this.url, err: err.message }, 'MQTT error');
    }
  }

  private publishMeta(): void {
    const meta = {
      node_id: this.nodeId,
      schema: 'myostream.mqtt_pose/1',
      joints: JOINT_NAMES,
      units: 'rad',
      angles: POSE_DIM,
      rate_hz: ROLLOUT_FREQ,
      topics: this.topics,
      qos: this.cfg.qos,
      message_expiry_s: this.poseOpts.properties?.messageExpiryInterval ?? null,
    };
    this.client?.publish(this.topics.meta, JSON.stringify(meta), { qos: 1, retain: true });
  }

  /** The birth message; republished (retained) on every (re)connect and mode change. */
  private publishStatusOnline(): void {
    const c = this.client;
    if (c === undefined || !c.connected || this.closing) return;
    const status = {
      ...this.statusBase('online'),
      ts: Date.now(),
      started_at: this.startedAt,
      mode: this.mode,
      model: this.model,
      protocol_version: this.protocol,
      next_seq: this.seq,
    };
    c.publish(this.topics.status, JSON.stringify(status), { qos: 1, retain: true });
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

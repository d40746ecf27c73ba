import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IClientOptions, IClientPublishOptions, IPublishPacket, MqttClient } from 'mqtt';
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
  status: string;
  meta: string;
  event: string;
  health: string;
  /** <prefix>/request/+ : what the control plane subscribes to. */
  request: string;
  /** Answers go to <prefix>/response/<name> unless the request names an MQTT 5 response topic. */
  response: string;
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
/** Incoming packets beyond this are refused by an MQTT 5 broker before they reach us (requests are ≤ 4 KiB). */
const MAX_INCOMING_PACKET = 64 * 1024;

/** Node's TLS failures that retrying with the same files will not cure (certificate, CA, host name, handshake alert). */
export function isTlsRefusal(code: unknown): boolean {
  return typeof code === 'string' && (code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || /CERT|SIGNATURE|ISSUER/.test(code));
}

/** The topic prefix of one stream: `{node_id}` and `{stream_id}` replaced; with several streams and no `{stream_id}`, the stream id is appended. */
export function streamPrefix(topicPrefix: string, nodeId: string, streamId: string, multi: boolean): string {
  const withNode = topicPrefix.split('{node_id}').join(nodeId);
  if (withNode.includes('{stream_id}')) return withNode.split('{stream_id}').join(streamId);
  // A prefix that already ends in the stream's level (a caller that added it) gets it once.
  return multi && !withNode.endsWith(`/${streamId}`) ? `${withNode}/${streamId}` : withNode;
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
  readonly streamId: string;
  readonly version: string;
  private readonly model: ModelSummary;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly sharedBrokerUrl: string | undefined;
  private mqttLib: typeof import('mqtt') | undefined;
  private tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  private requestHandler: ((r: MqttRequest) => void) | undefined;
  private controlSubscribed = false;
  private healthPublished = 0;
  private healthSkipped = 0;
  private responsesPublished = 0;
  /** The last health text, republished on reconnection so the retained copy is never older than the outage. */
  private lastHealth: string | undefined;
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
    this.streamId = opts.streamId ?? 'main';
    this.version = opts.version ?? '';
    this.sharedBrokerUrl = opts.brokerUrl;
    const multi = opts.multi === true;
    const prefix = streamPrefix(cfg.topic_prefix, this.nodeId, this.streamId, multi);
    this.topics = {
      pose: `${prefix}/pose`,
      status: `${prefix}/status`,
      meta: `${prefix}/meta`,
      event: `${prefix}/event`,
      health: `${prefix}/health`,
      request: `${prefix}/request/+`,
      response: `${prefix}/response`,
    };
    // One client per stream: each has its own Last Will, and two with one id would kick each other off.
    this.clientId = cfg.client_id ? (multi && !cfg.client_id.endsWith(`-${this.streamId}`) ? `${cfg.client_id}-${this.streamId}` : cfg.client_id) : `myostream-${this.nodeId}${multi ? '-' + this.streamId : ''}-${process.pid}`;
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
    this.tls = this.readTls();
    // Loaded here, not at module load: a node with MQTT off never pays for it.
    this.mqttLib = await import('mqtt');
    if (this.cfg.broker === 'embedded' && this.sharedBrokerUrl !== undefined) {
      this.url = this.sharedBrokerUrl;
    } else if (this.cfg.broker === 'embedded') {
      this.broker = await EmbeddedBroker.start({ port: this.cfg.embedded_port, host: this.cfg.embedded_host, allowRemote: this.cfg.embedded_allow_remote, log: this.log });
      this.url = this.broker.url;
    } else {
      this.url = this.cfg.broker;
    }
    const outcome = new Promise<Error | undefined>((resolve) => {
      this.startOutcome = resolve;
    });
    this.connect(password);
    const waitMs = this.broker || this.sharedBrokerUrl !== undefined ? this.cfg.connect_timeout_s * 1000 : Math.min(this.cfg.connect_timeout_s * 1000, START_WAIT_MAX_MS);
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

  get prefix(): string {
    return this.topics.pose.slice(0, -'/pose'.length);
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
    let s = '{"seq":' + this.seq + ',"t":' + Number(e.t.toFixed(6)) + ',"step":' + e.step + ',"mode":"' + e.mode + '","ts":' + Date.now() + ',"quality":' + (e.quality ?? 0) + ',"angles":[';
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
    const body: Record<string, unknown> = { seq: this.eventSeq++, kind: e.kind, time: e.time ?? new Date().toISOString(), ts: Date.now(), node_id: this.nodeId, stream_id: this.streamId, mode: this.mode };
    if (e.detail !== undefined) body['detail'] = e.detail;
    if (e.atSample !== undefined) body['at_sample'] = e.atSample;
    if (e.atStep !== undefined) body['at_step'] = e.atStep;
    if (e.from !== undefined) body['from'] = e.from;
    if (e.to !== undefined) body['to'] = e.to;
    if (e.reason !== undefined) body['reason'] = e.reason;
    if (e.data !== undefined) body['data'] = e.data;
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
      topic_prefix: this.prefix,
      connected: this.connected,
      published: this.seq,
      dropped: this.droppedDisconnected + this.droppedBackpressure,
      dropped_disconnected: this.droppedDisconnected,
      dropped_backpressure: this.droppedBackpressure,
      reconnects: this.reconnects,
      reconnect_attempts: this.reconnectAttempts,
      events_published: this.eventsPublished,
      events_dropped: this.eventsDropped,
      health_published: this.healthPublished,
      health_skipped: this.healthSkipped,
      responses_published: this.responsesPublished,
      control_subscribed: this.controlSubscribed,
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
    const file = this.cfg.password_file;
    if (file) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (e) {
        throw new UserError(`outputs.mqtt.password_file = ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? errorMessage(e)})`);
      }
      const pw = text.split(/\r?\n/, 1)[0]!;
      if (pw === '') throw new UserError(`outputs.mqtt.password_file = ${file}: the first line is empty`);
      return pw;
    }
    const name = this.cfg.password_env;
    if (!name) return undefined;
    const v = this.env[name];
    if (v === undefined) throw new UserError(`outputs.mqtt.password_env = ${name}: the environment variable ${name} is not set`);
    return v;
  }

  /** The PEM files of outputs.mqtt.tls, read once; a missing one is a one-line UserError (a key's content is never in it). */
  private readTls(): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
    const t = this.cfg.tls;
    const out: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
    for (const k of ['ca', 'cert', 'key'] as const) {
      const file = t[k];
      if (!file) continue;
      try {
        out[k] = readFileSync(file);
      } catch (e) {
        throw new UserError(`outputs.mqtt.tls.${k} = ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? errorMessage(e)})`);
      }
    }
    return out;
  }

  private statusBase(state: 'online' | 'offline'): Record<string, unknown> {
    return { state, node_id: this.nodeId, stream_id: this.streamId, instance: this.instance };
  }

  /**
   * Turns the control plane on: after every (re)connection the sink subscribes to
   * <prefix>/request/+ and hands each request to `handler`, which must not block (it runs on the
   * event loop that also carries the poses). Call before start().
   */
  onRequest(handler: (r: MqttRequest) => void): void {
    this.requestHandler = handler;
  }

  /** Publishes an answer (QoS 1, not retained); false when it could not be sent (disconnected, closing). */
  respond(topic: string, payload: string, correlationData?: Buffer): boolean {
    const c = this.client;
    if (c === undefined || !c.connected || this.closing !== undefined) return false;
    const opts: IClientPublishOptions = { qos: 1, retain: false };
    if (correlationData !== undefined && this.protocol === 5) opts.properties = { correlationData };
    c.publish(topic, payload, opts, (err) => {
      if (!err) this.responsesPublished++;
    });
    return true;
  }

  /** Publishes <prefix>/health (retained, QoS 1); skipped and counted while disconnected. */
  publishHealth(payload: string): boolean {
    this.lastHealth = payload;
    const c = this.client;
    if (c === undefined || !c.connected || this.closing !== undefined) {
      this.healthSkipped++;
      return false;
    }
    c.publish(this.topics.health, payload, { qos: 1, retain: true }, (err) => {
      if (!err) this.healthPublished++;
    });
    return true;
  }

  /** Republishes meta and the online status, as after a connection (Sparkplug's rebirth). */
  rebirth(): void {
    this.publishMeta();
    this.publishStatusOnline();
  }

  get protocolVersion(): 4 | 5 {
    return this.protocol;
  }

  private subscribeRequests(c: MqttClient): void {
    if (this.requestHandler === undefined) return;
    const filter = this.topics.request;
    c.subscribe(filter, { qos: 1 }, (err, granted) => {
      if (c !== this.client || this.closing) return;
      const code = granted?.[0]?.qos;
      if (err || code === undefined || code >= 128) {
        this.controlSubscribed = false;
        const why = err ? err.message : `reason code ${code ?? 'none'} (not authorised by the broker's ACL?)`;
        this.lastError = `subscribe ${filter}: ${why}`;
        this.log.warn({ broker: this.url, topic: filter }, `MQTT control plane off: the broker refused the subscription to ${filter}: ${why}; poses are unaffected`);
        return;
      }
      this.controlSubscribed = true;
    });
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const h = this.requestHandler;
    if (h === undefined || this.closing) return;
    const base = this.topics.request.slice(0, -1);
    if (!topic.startsWith(base)) return;
    const req: MqttRequest = { name: topic.slice(base.length), payload };
    const p = packet.properties;
    if (p?.responseTopic !== undefined) req.responseTopic = p.responseTopic;
    if (p?.correlationData !== undefined) req.correlationData = p.correlationData;
    h(req);
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
      ...this.tls,
      rejectUnauthorized: cfg.tls.reject_unauthorized,
      will: {
        topic: this.topics.status,
        payload: Buffer.from(JSON.stringify({ ...this.statusBase('offline'), reason: 'connection_lost' })),
        qos: 1,
        retain: true,
      },
    };
    if (this.protocol === 5 && this.requestHandler !== undefined) opts.properties = { maximumPacketSize: MAX_INCOMING_PACKET };
    if (cfg.username) opts.username = cfg.username;
    if (password !== undefined) opts.password = password;
    this.poseOpts = { qos: cfg.qos, retain: false };
    if (this.protocol === 5 && cfg.message_expiry_s > 0) this.poseOpts.properties = { messageExpiryInterval: cfg.message_expiry_s };
    else if (cfg.message_expiry_s > 0) this.log.debug('MQTT 3.1.1: message_expiry_s needs MQTT 5 and is not applied');

    const c = this.mqttLib!.connect(this.url, opts);
    this.client = c;
    c.on('connect', () => this.onConnect());
    c.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
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
    if (this.lastHealth !== undefined) this.client?.publish(this.topics.health, this.lastHealth, { qos: 1, retain: true });
    if (this.client) this.subscribeRequests(this.client);
    this.startOutcome?.();
  }

  private onClose(): void {
    this.controlSubscribed = false;
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
      this.startOutcome(new UserError(`outputs.mqtt: broker ${this.url} refused the connection: ${err.message} (check username, password_env / password_file, client_id)`));
      return;
    }
    if (isTlsRefusal(err.code) && !this.everConnected && this.startOutcome) {
      this.startOutcome(new UserError(`outputs.mqtt.tls: TLS with broker ${this.url} failed: ${err.message} (${String(err.code)}; check tls.ca, tls.cert, tls.key and the broker's certificate)`));
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
      stream_id: this.streamId,
      version: this.version,
      schema: 'myostream.mqtt_pose/1',
      joints: JOINT_NAMES,
      units: 'rad',
      angles: POSE_DIM,
      rate_hz: ROLLOUT_FREQ,
      topics: this.topics,
      qos: this.cfg.qos,
      message_expiry_s: this.poseOpts.properties?.messageExpiryInterval ?? null,
      control: this.requestHandler !== undefined,
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
      version: this.version,
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

import type * as MqttLib from 'mqtt';
import { randomBytes } from 'node:crypto';
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import { UserError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import type { MqttConfig } from './mqtt-settings.js';
import type { Mode, PoseEvent, PoseSink } from '../domain/pose.js';
import { EmbeddedBroker } from './embedded-broker.js';
import { readPassword, readTlsFiles, type TlsFiles } from './mqtt-credentials.js';
import { clientOptions, endClient, jsonOptions, judgeLinkError, poseOptions } from './mqtt-link-policy.js';
import { birthMessage, encodePose, eventMessage, metaMessage } from './mqtt-messages.js';
import { poseAgeMs } from './pose-age.js';
import { MqttRequestRouter } from './mqtt-request-router.js';
import { defaultNodeId, streamClientId, streamPrefix, topicsUnder } from './mqtt-topics.js';
import type {
  ModelSummary,
  MqttEventInput,
  MqttRequest,
  MqttSinkOptions,
  MqttStats,
  MqttTopics,
  StreamIdentity,
} from './mqtt-types.js';

export type {
  ModelSummary,
  MqttEventInput,
  MqttRequest,
  MqttSinkOptions,
  MqttStats,
  MqttTopics,
} from './mqtt-types.js';
export { defaultNodeId, modelSummary, streamPrefix } from './mqtt-topics.js';
export { isTlsRefusal } from './mqtt-link-policy.js';

/**
 * QoS 1 messages wait in MQTT.js's memory store until acknowledged, also while disconnected.
 * These caps keep that store small: ~2 s of QoS 1 poses, and a burst of events.
 */
const MAX_POSES_IN_FLIGHT = 100;
const MAX_EVENTS_PENDING = 100;
/**
 * Meta and the first birth wait this long at most for the source to say who it is (the ADC's
 * chip IDs, read when its worker configures the chips: milliseconds of SPI, but seconds of
 * worker start on a loaded machine); only a driver stuck in set-up reaches it, and a later
 * answer is followed by a rebirth.
 */
const IDENTITY_WAIT_MS = 30_000;
/** start() never holds the run back longer than this for an external broker that is down. */
const START_WAIT_MAX_MS = 3000;

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
  private readonly smoothing: MqttSinkOptions['smoothing'];
  private readonly identity: (() => StreamIdentity) | undefined;
  private readonly identified: Promise<void> | undefined;
  /** Meta and the online status wait for the identity (see IDENTITY_WAIT_MS). */
  private birthHeld: boolean;
  private mqttLib: typeof MqttLib | undefined;
  private tls: TlsFiles = {};
  private readonly requests: MqttRequestRouter;
  private healthPublished = 0;
  private healthSkipped = 0;
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
  /** Age (ms) of the pose write() last published; NaN when it dropped it or the age is unknown. */
  lastAge = NaN;
  /** Step of the pose write() last had, and of the last one it published with that seq and ts. */
  private writtenStep = -1;
  private sentStep = -1;
  private sentSeq = 0;
  private sentTs = 0;
  private sentAge = NaN;
  private smoothedStep = -1;
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
    this.smoothing = opts.smoothing;
    this.identity = opts.identity;
    this.identified = opts.identified;
    this.birthHeld = opts.identified !== undefined;
    const multi = opts.multi === true;
    const prefix = streamPrefix(cfg.topic_prefix, this.nodeId, this.streamId, multi);
    this.topics = topicsUnder(prefix);
    this.requests = new MqttRequestRouter(this.topics.request, this.log);
    this.clientId = streamClientId(cfg.client_id, this.nodeId, this.streamId, multi);
    this.protocol = cfg.protocol_version === 'auto' ? (cfg.broker === 'embedded' ? 4 : 5) : cfg.protocol_version;
    this.maxBufferBytes = cfg.max_buffer_kb * 1024;
    if (cfg.broker === 'embedded' && this.protocol === 5) {
      throw new UserError(
        'outputs.mqtt.protocol_version = 5: the embedded broker (aedes) speaks MQTT 3.1.1 only; use 4 or auto, or an external MQTT 5 broker',
      );
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
    const password = readPassword(this.cfg, this.env);
    this.tls = readTlsFiles(this.cfg);
    // Loaded here, not at module load: a node with MQTT off never pays for it.
    this.mqttLib = await import('mqtt');
    if (this.cfg.broker === 'embedded' && this.sharedBrokerUrl !== undefined) {
      this.url = this.sharedBrokerUrl;
    } else if (this.cfg.broker === 'embedded') {
      this.broker = await EmbeddedBroker.start({
        port: this.cfg.embedded_port,
        host: this.cfg.embedded_host,
        allowRemote: this.cfg.embedded_allow_remote,
        log: this.log,
      });
      this.url = this.broker.url;
    } else {
      this.url = this.cfg.broker;
    }
    const outcome = new Promise<Error | undefined>((resolve) => {
      this.startOutcome = resolve;
    });
    this.holdBirthForIdentity();
    this.connect(password);
    const waitMs =
      this.broker || this.sharedBrokerUrl !== undefined
        ? this.cfg.connect_timeout_s * 1000
        : Math.min(this.cfg.connect_timeout_s * 1000, START_WAIT_MAX_MS);
    const timer = setTimeout(() => this.startOutcome?.(), waitMs);
    const err = await outcome;
    clearTimeout(timer);
    this.startOutcome = undefined;
    if (err) {
      await this.close();
      throw err;
    }
    if (!this.everConnected) {
      this.log.warn(
        { broker: this.url, err: this.lastError },
        `MQTT broker ${this.url} not reachable yet; poses are dropped (and counted) until it is, retrying every ${this.cfg.reconnect_period_s} s`,
      );
    }
  }

  /**
   * The chips are read by the acquisition worker, which starts after the plug-ins: the first
   * birth and meta go out once their IDs are in (or after IDENTITY_WAIT_MS, with a rebirth when
   * they come), so no retained message says a band has no chips.
   */
  private holdBirthForIdentity(): void {
    const identified = this.identified;
    if (identified === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const inTime = Promise.race([
      identified.then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), IDENTITY_WAIT_MS);
        timer.unref();
      }),
    ]);
    void inTime.then((known) => {
      clearTimeout(timer);
      this.birthHeld = false;
      if (this.closing === undefined && this.connected) this.rebirth();
      if (!known) {
        this.log.debug(
          'MQTT: the source has not given its chip IDs yet; birth and meta go out without, and again when it does',
        );
        void identified.then(() => {
          if (this.closing === undefined && this.connected) this.rebirth();
        });
      }
    });
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

  /** Poses handed to the connection so far (= the next pose's seq). */
  get published(): number {
    return this.seq;
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  write(e: PoseEvent): void {
    this.lastAge = NaN;
    this.writtenStep = e.step;
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
    const ts = Date.now();
    const age = poseAgeMs(e, performance.now());
    const payload = encodePose(this.seq, e, ts, age);
    this.lastAge = age;
    if (this.poseOpts.qos === 1) {
      this.posesInFlight++;
      c.publish(this.topics.pose, payload, this.poseOpts, this.onPoseAck);
    } else {
      c.publish(this.topics.pose, payload, this.poseOpts);
    }
    this.sentStep = e.step;
    this.sentSeq = this.seq;
    this.sentTs = ts;
    this.sentAge = age;
    this.seq++;
  }

  /**
   * The smoothed companion of a pose to <prefix>/pose/smoothed, with the same seq, step, ts and
   * t_capture as the raw pose (a subscriber pairs them by seq); only when the raw one went out,
   * once. False when write() has not had the raw pose of that step yet (the caller keeps it).
   */
  writeSmoothed(s: PoseEvent): boolean {
    if (s.step !== this.writtenStep) return false;
    const c = this.client;
    if (
      s.step !== this.sentStep ||
      s.step === this.smoothedStep ||
      c === undefined ||
      !c.connected ||
      this.closing !== undefined
    )
      return true;
    this.smoothedStep = s.step;
    c.publish(this.topics.pose_smoothed, encodePose(this.sentSeq, s, this.sentTs, this.sentAge), this.poseOpts);
    return true;
  }

  /** The pose message this sink would publish now, as text. */
  encodePose(e: PoseEvent): string {
    return encodePose(this.seq, e, Date.now(), poseAgeMs(e, performance.now()));
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
    const body = eventMessage(this.eventSeq++, e, { nodeId: this.nodeId, streamId: this.streamId, mode: this.mode });
    this.eventsPending++;
    c.publish(this.topics.event, body, jsonOptions(this.protocol, 1, false), (err) => {
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
      responses_published: this.requests.responsesPublished,
      control_subscribed: this.requests.subscribed,
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
    if (c)
      await endClient(
        c,
        {
          topic: this.topics.status,
          payload: JSON.stringify({
            ...this.statusBase('offline'),
            reason: 'shutdown',
            ts: Date.now(),
            counters: this.counters(),
          }),
          protocol: this.protocol,
        },
        this.log,
      );
    if (this.broker) await this.broker.close();
    this.log.info(this.counters(), 'MQTT output closed');
  }

  private counters(): Record<string, number> {
    return {
      published: this.seq,
      dropped: this.droppedDisconnected + this.droppedBackpressure,
      reconnects: this.reconnects,
    };
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
    this.requests.setHandler(handler);
  }

  /** Publishes an answer (QoS 1, not retained); false when it could not be sent (disconnected, closing). */
  respond(topic: string, payload: string, correlationData?: Buffer): boolean {
    const c = this.client;
    if (c === undefined || !c.connected || this.closing !== undefined) return false;
    this.requests.respond(c, this.protocol, topic, payload, correlationData);
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
    c.publish(this.topics.health, payload, jsonOptions(this.protocol, 1, true), (err) => {
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

  private connect(password: string | undefined): void {
    const opts = clientOptions(this.cfg, {
      clientId: this.clientId,
      protocol: this.protocol,
      tls: this.tls,
      password,
      willTopic: this.topics.status,
      willPayload: JSON.stringify({ ...this.statusBase('offline'), reason: 'connection_lost' }),
      receivesRequests: this.requests.enabled,
    });
    this.poseOpts = poseOptions(this.cfg, this.protocol);
    if (this.protocol === 4 && this.cfg.message_expiry_s > 0)
      this.log.debug('MQTT 3.1.1: message_expiry_s needs MQTT 5 and is not applied');

    const c = this.mqttLib!.connect(this.url, opts);
    this.client = c;
    c.on('connect', () => this.onConnect());
    c.on('message', (topic, payload, packet) => {
      if (!this.closing) this.requests.route(topic, payload, packet);
    });
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
      this.log.info(
        {
          broker: this.url,
          down_s: Math.round((performance.now() - o.since) / 100) / 10,
          dropped: this.droppedDisconnected - o.dropsAtStart,
        },
        'MQTT connection restored',
      );
    } else if (!this.everConnected) {
      this.log.info(
        {
          broker: this.url,
          protocol: this.protocol === 5 ? 'MQTT 5' : 'MQTT 3.1.1',
          client_id: this.clientId,
          topics: this.topics.pose.slice(0, -5) + '/#',
        },
        `MQTT connected: poses on ${this.topics.pose} at ${this.url}`,
      );
    }
    this.everConnected = true;
    this.outage = undefined;
    if (!this.birthHeld) {
      this.publishMeta();
      this.publishStatusOnline();
    }
    if (this.lastHealth !== undefined)
      this.client?.publish(this.topics.health, this.lastHealth, jsonOptions(this.protocol, 1, true));
    const c = this.client;
    if (c) {
      this.requests.subscribe(
        c,
        this.url,
        () => c === this.client && !this.closing,
        (why) => {
          this.lastError = why;
        },
      );
    }
    this.startOutcome?.();
  }

  private onClose(): void {
    this.requests.subscribed = false;
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
    const verdict = judgeLinkError(err, {
      url: this.url,
      protocol: this.protocol,
      auto: this.cfg.protocol_version === 'auto',
      starting: !this.everConnected && this.startOutcome !== undefined,
    });
    if (verdict.kind === 'downgrade') {
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
    if (verdict.kind === 'fatal') {
      this.startOutcome?.(verdict.error);
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
    if (this.birthHeld) return;
    const meta = metaMessage({
      nodeId: this.nodeId,
      streamId: this.streamId,
      version: this.version,
      topics: this.topics,
      qos: this.cfg.qos,
      messageExpiryS: this.poseOpts.properties?.messageExpiryInterval ?? null,
      control: this.requests.enabled,
      smoothing: this.smoothing
        ? { min_cutoff: this.smoothing.min_cutoff, beta: this.smoothing.beta, d_cutoff: this.smoothing.d_cutoff }
        : null,
      ...(this.identity ? { identity: this.identity() } : {}),
    });
    this.client?.publish(this.topics.meta, meta, jsonOptions(this.protocol, 1, true));
  }

  /** The birth message; republished (retained) on every (re)connect and mode change. */
  private publishStatusOnline(): void {
    const c = this.client;
    if (c === undefined || !c.connected || this.closing || this.birthHeld) return;
    const status = birthMessage({
      base: this.statusBase('online'),
      startedAt: this.startedAt,
      version: this.version,
      mode: this.mode,
      model: this.model,
      protocol: this.protocol,
      nextSeq: this.seq,
      ...(this.identity ? { identity: this.identity() } : {}),
    });
    c.publish(this.topics.status, status, jsonOptions(this.protocol, 1, true));
  }
}

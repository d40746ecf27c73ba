import type { MqttConfig } from './mqtt-settings.js';
import type { ModeSwitch, PublishedPose, RunEvent, TickEvent } from '../domain/events.js';
import type { Plugin, PluginContext, PluginReport, StreamInfo } from '../domain/plugin.js';
import type { Mode, PoseEvent } from '../domain/pose.js';
import { MqttControl } from './mqtt-control.js';
import { HealthBuilder, softwareVersion } from './mqtt-health.js';
import { MqttSink, type ModelSummary } from './mqtt-sink.js';
import type { StreamIdentity } from './mqtt-types.js';
import type { OneEuroSettings } from './one-euro.js';
// Its settings' schema, for its registry row.
export { mqttSchema } from './mqtt-settings.js';

/** Who this stream's hand is: the configured hand, else the source's, and the band's names. */
export function streamIdentity(stream: StreamInfo, hand: 'auto' | 'left' | 'right', bandId: string): StreamIdentity {
  const fromSource = stream.sourceHand;
  return {
    hand: hand !== 'auto' ? hand : (fromSource ?? null),
    hand_from: hand !== 'auto' ? 'config' : fromSource ? 'recording' : 'unknown',
    band_id: bandId,
    source: stream.sourceDescription,
    chip_ids: [...(stream.chipIds ?? [])],
  };
}

export interface MqttOutputOptions {
  /** The daemon's shared embedded broker (startDaemonBroker(cfg).url) when `broker` is "embedded". */
  brokerUrl?: string;
  /** Model hashes and execution providers (modelSummary()), for status and health. */
  model?: ModelSummary;
  /** The configured mode, for the first status when the session has not said yet (ctx.session.mode wins). */
  mode?: Mode;
  /** Defaults to package.json's version. */
  version?: string;
  /** input.hand: auto takes the source's (an HDF5 recording's `side`). */
  hand?: 'auto' | 'left' | 'right';
  /** input.band_id. */
  bandId?: string;
  /** outputs.smoothing when on: the bus's `smoothed` poses go to <prefix>/pose/smoothed, and meta says so. */
  smoothing?: OneEuroSettings;
  /** Tests: the default node id's host name, process.env for password_env, a monotonic clock (ms). */
  hostname?: string;
  env?: Readonly<Record<string, string | undefined>>;
  now?: () => number;
}

/**
 * One stream's MQTT: poses (dropped, never queued, while the link is down), events, mode
 * switches, the retained status/meta/health, and — unless `control: false` — the
 * request/response control plane, all on one client connection with its own Last Will.
 * docs/mqtt.md gives the topics and payloads.
 */
export class MqttOutput implements Plugin {
  readonly name = 'mqtt';
  private sink: MqttSink | undefined;
  private control: MqttControl | undefined;
  private health: HealthBuilder | undefined;
  private ctx: PluginContext | undefined;
  private lastSwitch: ModeSwitch | undefined;
  private lastHealthAt = -Infinity;
  private healthBusy = false;
  private healthFailures = 0;
  private healthJob: Promise<boolean> | undefined;
  /** A smoothed pose that came before its raw one (see onSmoothed). */
  private heldSmoothed: PoseEvent | undefined;
  /** What `published` carries: reused for every pose. */
  private readonly publishedPose: PublishedPose = { step: 0, ageMs: NaN };

  /** Bound once: the bus calls it for every pose. */
  private readonly onPose = (e: PoseEvent): void => {
    const sink = this.sink!;
    sink.write(e);
    if (sink.published !== this.publishedBefore) {
      this.publishedBefore = sink.published;
      const p = this.publishedPose;
      p.step = e.step;
      p.ageMs = sink.lastAge;
      this.ctx!.bus.emit('published', p);
    }
    const s = this.heldSmoothed;
    if (s !== undefined) {
      this.heldSmoothed = undefined;
      sink.writeSmoothed(s);
    }
  };
  private publishedBefore = 0;

  /**
   * Bound once. The smoothing stage listens to `pose` too: its pose is either out already or
   * comes next (the stage's row is first), and is then sent right after it.
   */
  private readonly onSmoothed = (s: PoseEvent): void => {
    if (!this.sink!.writeSmoothed(s)) this.heldSmoothed = s;
  };

  constructor(
    private readonly cfg: MqttConfig,
    private readonly opts: MqttOutputOptions = {},
  ) {}

  async start(ctx: PluginContext): Promise<void> {
    this.ctx = ctx;
    const version = this.opts.version ?? softwareVersion();
    const model = this.opts.model ?? {};
    const identity = (): StreamIdentity => streamIdentity(ctx.stream, this.opts.hand ?? 'auto', this.opts.bandId ?? '');
    const sink = new MqttSink(this.cfg, {
      log: ctx.log,
      mode: ctx.session.mode ?? this.opts.mode ?? 'streaming',
      model,
      streamId: ctx.stream.id,
      multi: ctx.stream.multi,
      version,
      ...(this.opts.smoothing ? { smoothing: this.opts.smoothing } : {}),
      identity,
      ...(ctx.stream.identified ? { identified: ctx.stream.identified } : {}),
      ...(this.opts.brokerUrl !== undefined ? { brokerUrl: this.opts.brokerUrl } : {}),
      ...(this.opts.hostname !== undefined ? { hostname: this.opts.hostname } : {}),
      ...(this.opts.env !== undefined ? { env: this.opts.env } : {}),
    });
    this.sink = sink;
    const health = new HealthBuilder({
      ctx,
      nodeId: sink.nodeId,
      streamId: sink.streamId,
      instance: sink.instance,
      version,
      model,
      stats: () => sink.stats(),
      lastSwitch: () => this.lastSwitch,
      identity,
      ...(this.opts.now ? { now: this.opts.now } : {}),
    });
    this.health = health;
    if (this.cfg.control) {
      const control = new MqttControl({
        ctx,
        link: sink,
        log: ctx.log,
        health: () => health.build(false),
        status: () => ({
          node_id: sink.nodeId,
          stream_id: sink.streamId,
          instance: sink.instance,
          version,
          model,
          mqtt: sink.stats(),
        }),
        ...(this.opts.now ? { now: this.opts.now } : {}),
      });
      this.control = control;
      sink.onRequest((r) => control.handle(r));
    }
    await sink.start();
    ctx.bus.on(this, 'pose', this.onPose);
    if (this.opts.smoothing) ctx.bus.on(this, 'smoothed', this.onSmoothed);
    ctx.bus.on(this, 'event', (e) => this.onEvent(e));
    ctx.bus.on(this, 'mode', (m) => this.onMode(m));
    ctx.bus.on(this, 'tick', (t) => this.onTick(t));
  }

  async stop(): Promise<void> {
    // The final tick's health message is on its way: let it go out before the offline status.
    await this.healthJob;
    await this.control?.close();
    await this.sink?.close();
  }

  report(): PluginReport {
    const st = this.sink?.stats();
    if (!st) return {};
    const c = this.control?.counts;
    return {
      sections: {
        mqtt: { ...st, control: c ?? null, health_failures: this.healthFailures },
      },
      counts: {
        mqtt_published: st.published,
        mqtt_dropped: st.dropped,
        mqtt_reconnects: st.reconnects,
        mqtt_requests: c?.requests ?? 0,
        mqtt_requests_dropped: (c?.dropped_rate ?? 0) + (c?.dropped_name ?? 0),
      },
      gauges: { mqtt_connected: st.connected ? 1 : 0 },
    };
  }

  /** Builds and publishes one health message now (the tick does it every health_interval_s). */
  async publishHealth(periodic = true): Promise<boolean> {
    if (!this.health || !this.sink || this.healthBusy) return false;
    this.healthBusy = true;
    try {
      return this.sink.publishHealth(JSON.stringify(await this.health.build(periodic)));
    } catch (e) {
      // A failing report section costs one health message, not the output.
      this.healthFailures++;
      if (this.healthFailures === 1) this.ctx?.log.warn({ err: String(e) }, 'MQTT health: could not build the message');
      return false;
    } finally {
      this.healthBusy = false;
    }
  }

  private onEvent(e: RunEvent): void {
    // Mode switches come on `mode`, with from/to/reason.
    if (e.kind === 'mode_switch') return;
    this.sink!.publishEvent({
      kind: e.kind,
      time: e.time,
      detail: e.detail,
      atSample: e.atSample,
      ...(e.data ? { data: e.data } : {}),
    });
  }

  private onMode(m: ModeSwitch): void {
    this.lastSwitch = { ...m };
    this.sink!.publishEvent({
      kind: 'mode_switch',
      time: m.time,
      atSample: m.at_sample,
      atStep: m.at_step,
      from: m.from,
      to: m.to,
      reason: m.reason,
      detail: `${m.from} → ${m.to}: ${m.reason}`,
    });
  }

  private onTick(t: TickEvent): void {
    const every = this.cfg.health_interval_s;
    if (every <= 0) return;
    // The last one goes out at the end whatever the interval: it is what stays retained.
    if (!t.final && t.uptimeS - this.lastHealthAt < every) return;
    this.lastHealthAt = t.uptimeS;
    this.healthJob = this.publishHealth(true);
  }
}

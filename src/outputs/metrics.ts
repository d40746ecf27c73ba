import type { MetricsSettings } from './metrics-settings.js';
import type { MergedReport, Plugin, PluginContext, PluginReport, UnitEvent } from '../domain/plugin.js';
import type { PublishedPose, StepRecord } from '../domain/events.js';
import { ROLLOUT_FREQ } from '../domain/geometry.js';
import { endToEndMs } from '../domain/step-record.js';
import { MetricsServer, type CounterName, type GaugeName, type StreamSeries } from './metrics-server.js';
import { softwareVersion } from './mqtt-health.js';
import { streamIdentity } from './mqtt-output.js';
// Its settings' schema, for its registry row.
export { metricsSchema } from './metrics-settings.js';

/** What of the `input:` section the metrics describe: the pace asked for and who wears the band. */
export interface MetricsInput {
  speed: number;
  hand: 'auto' | 'left' | 'right';
  band_id: string;
}

/** ADCs convert at their own rate: `input.speed` paces only recordings, synthetic input and simulators. */
const HARDWARE_SOURCES = new Set(['ads1299', 'i2c']);

/**
 * Poses per second the configuration asks for: one per 50 Hz step of signal, times the replay
 * pace; 0 where it asks for none (as fast as possible).
 */
export function poseRateTargetHz(sourceKind: string | undefined, speed: number): number {
  if (sourceKind !== undefined && HARDWARE_SOURCES.has(sourceKind)) return ROLLOUT_FREQ;
  return ROLLOUT_FREQ * speed;
}

/**
 * outputs.metrics for one stream: attaches it to the process's Prometheus server under its
 * stream label. The bus listeners only feed preallocated histogram series; counters and gauges
 * are read from the session's merged report, once per scrape.
 */
export class MetricsPlugin implements Plugin {
  readonly name = 'metrics';
  private server: MetricsServer | undefined;
  private series: StreamSeries | undefined;
  private streamId = '';

  private readonly onUnit = (u: UnitEvent): void => {
    if (u.mode === 'streaming') this.series!.tCompute.observe(u.computeMs / 1000);
  };

  private readonly onStep = (r: StepRecord): void => {
    const ms = endToEndMs(r);
    if (!Number.isNaN(ms)) this.series!.endToEnd.observe(ms / 1000);
  };

  /** The age an output measured as it published the pose (MQTT's age_ms): one measurement, not a second. */
  private readonly onPublished = (p: PublishedPose): void => {
    // Exact mode's poses have no arrival stamp: nothing to age.
    if (!Number.isNaN(p.ageMs)) this.series!.poseAge.observe(p.ageMs / 1000);
  };

  constructor(
    private readonly settings: MetricsSettings,
    /** Execution provider per model graph, for the provider gauge. */
    private readonly providers: Readonly<Record<string, string>>,
    private readonly input: MetricsInput = { speed: 0, hand: 'auto', band_id: '' },
  ) {}

  async start(ctx: PluginContext): Promise<void> {
    this.streamId = ctx.stream.id;
    const server = MetricsServer.for(this.settings, ctx.log, { version: softwareVersion() });
    this.server = server;
    const targetHz = poseRateTargetHz(ctx.stream.sourceKind, this.input.speed);
    let report: MergedReport | undefined;
    const current = (): MergedReport => (report ??= ctx.report());
    this.series = server.attach(ctx.stream.id, {
      refresh: () => (report = undefined),
      counts: () => countsOf(current(), ctx),
      gauges: () => gaugesOf(current(), ctx, targetHz),
      mode: () => ctx.session.mode,
      identity: () => {
        const who = streamIdentity(ctx.stream, this.input.hand, this.input.band_id);
        return { hand: who.hand ?? 'unknown', band: who.band_id };
      },
      providers: this.providers,
    });
    await server.listen();
    ctx.bus.on(this, 'unit', this.onUnit);
    ctx.bus.on(this, 'step', this.onStep);
    ctx.bus.on(this, 'published', this.onPublished);
    ctx.log.info({ url: server.url, stream: ctx.stream.id }, 'Prometheus metrics');
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await s?.detach(this.streamId);
  }

  report(): PluginReport {
    return {
      sections: {
        metrics: {
          url: this.server?.url ?? '',
          scrapes: this.server?.scrapes ?? 0,
          auth_failures: this.server?.authFailures ?? 0,
        },
      },
    };
  }
}

/** The counters of the merged report (session, MQTT output, watchdog) under the metric names. */
function countsOf(r: MergedReport, ctx: PluginContext): Partial<Record<CounterName, number>> {
  const c = r.counts;
  return {
    poses: c['poses'] ?? ctx.session.poses,
    samples: c['samples'] ?? ctx.session.samples,
    gaps: c['gaps'] ?? 0,
    overruns: c['overruns'] ?? 0,
    stalls: c['stalls'] ?? 0,
    overwritten_samples: c['overwritten_samples'] ?? 0,
    mode_switches: c['mode_switches'] ?? 0,
    mqtt_published: c['mqtt_published'] ?? 0,
    mqtt_dropped: c['mqtt_dropped'] ?? 0,
    mqtt_reconnects: c['mqtt_reconnects'] ?? 0,
    memory_drift_alarms: c['memory_drift_alarms'] ?? 0,
  };
}

/** The plug-ins' gauges (link, channels, clock) and what the session says of its mode. */
function gaugesOf(r: MergedReport, ctx: PluginContext, targetHz: number): Partial<Record<GaugeName, number>> {
  const g = r.gauges ?? {};
  const out: Partial<Record<GaugeName, number>> = {
    fallback_active: ctx.session.modeConfigured === 'streaming' && ctx.session.mode === 'exact' ? 1 : 0,
    pose_rate_target_hz: targetHz,
  };
  for (const k of ['mqtt_connected', 'channels_bad', 'clock_synchronized'] as const) {
    const v = g[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

import type { MetricsSettings } from '../config/metrics-schema.js';
import type { Plugin, PluginContext, PluginReport, PoseEvent, UnitEvent } from '../domain/plugin.js';
import type { StepRecord } from '../domain/events.js';
import { endToEndMs } from '../domain/step-record.js';
import { MetricsServer, type CounterName, type StreamSeries } from './metrics-server.js';
import { poseAgeMs } from './pose-age.js';

/**
 * outputs.metrics for one stream: attaches it to the process's Prometheus server under its
 * stream label. The bus listeners only feed preallocated histogram series; the counters are read
 * from the session's merged report when Prometheus scrapes.
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

  private readonly onPose = (e: PoseEvent): void => {
    // Exact mode's poses have no arrival stamp: nothing to age.
    const age = poseAgeMs(e, performance.now());
    if (!Number.isNaN(age)) this.series!.poseAge.observe(age / 1000);
  };

  constructor(
    private readonly settings: MetricsSettings,
    /** Execution provider per model graph, for the provider gauge. */
    private readonly providers: Readonly<Record<string, string>>,
  ) {}

  async start(ctx: PluginContext): Promise<void> {
    this.streamId = ctx.stream.id;
    const server = MetricsServer.for(this.settings, ctx.log);
    this.server = server;
    this.series = server.attach(ctx.stream.id, {
      counts: () => countsOf(ctx),
      mode: () => ctx.session.mode,
      providers: this.providers,
    });
    await server.listen();
    ctx.bus.on(this, 'unit', this.onUnit);
    ctx.bus.on(this, 'step', this.onStep);
    ctx.bus.on(this, 'pose', this.onPose);
    ctx.log.info({ url: server.url, stream: ctx.stream.id }, 'Prometheus metrics');
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    await s?.detach(this.streamId);
  }

  report(): PluginReport {
    return { sections: { metrics: { url: this.server?.url ?? '', scrapes: this.server?.scrapes ?? 0 } } };
  }
}

/** The counters of the merged report (session, MQTT output) under the metric names. */
function countsOf(ctx: PluginContext): Partial<Record<CounterName, number>> {
  const c = ctx.report().counts;
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
  };
}

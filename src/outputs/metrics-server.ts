import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { UserError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { MetricsSettings } from './metrics-settings.js';
import { isLoopbackHost } from './live-view-settings.js';
import { FixedHistogram, type HistogramSeries } from './metrics-histogram.js';
import { BasicAuth, clientCertProblem, readWebConfig, type WebConfig } from './metrics-web-config.js';

/**
 * Bucket upper bounds in seconds. Fixed and documented (docs/metrics.md) so that histograms of
 * many nodes can be summed: never derive them from a run's figures.
 */
export const COMPUTE_BUCKETS_S = [
  0.001, 0.002, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1,
] as const;
export const LATENCY_BUCKETS_S = [
  0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5,
] as const;

/** Cumulative counts a stream exposes, read at scrape time (never on the 50 Hz path). */
export const COUNTERS = {
  poses: 'Poses emitted',
  samples: 'EMG samples that reached the ring',
  gaps: 'Gaps in the input (samples missing)',
  overruns: 'Ring overruns (the loop fell a whole ring behind)',
  stalls: 'Input stalls (a live source stopped delivering)',
  overwritten_samples: 'Samples dropped unread because the ring was overwritten',
  mode_switches: 'Switches between streaming and exact mode',
  mqtt_published: 'Pose messages handed to the MQTT connection',
  mqtt_dropped: 'Pose messages dropped while the MQTT link was down or backed up',
  mqtt_reconnects: 'Times the MQTT connection came back after being lost',
  memory_drift_alarms: "Watchdog alarms on the process memory's upward trend",
} as const;
export type CounterName = keyof typeof COUNTERS;

/**
 * Levels read from the run's report at scrape time; a stream whose report lacks one (no MQTT
 * output, no quality judged yet, clock state unreadable) has no series for it, rather than a
 * made-up value.
 */
export const GAUGES = {
  mqtt_connected: '1 while the MQTT connection to the broker is up, 0 while it is down',
  channels_bad: 'EMG channels judged bad by the signal-quality check now',
  clock_synchronized: '1 when the kernel says the wall clock is synchronised (NTP, PTP), 0 when it says it is not',
  fallback_active: '1 while the stream runs exact mode although streaming was configured (the watchdog fell back)',
  pose_rate_target_hz:
    'Poses per second the configuration asks for (50 Hz times the replay pace; 0 = as fast as possible)',
} as const;
export type GaugeName = keyof typeof GAUGES;

/** What `myostream_build_info` says of a stream besides the software's own version. */
export interface StreamIdentityLabels {
  hand: string;
  band: string;
}

/** What one stream hands the shared server. */
export interface StreamMetricsSource {
  /** Called once per scrape before any series is read, so that one report serves them all. */
  refresh?(): void;
  counts(): Partial<Record<CounterName, number>>;
  gauges(): Partial<Record<GaugeName, number>>;
  mode(): string;
  identity(): StreamIdentityLabels;
  /** Execution provider per model graph (encoder, decoder, …). */
  providers: Readonly<Record<string, string>>;
}

export interface StreamSeries {
  tCompute: HistogramSeries;
  endToEnd: HistogramSeries;
  poseAge: HistogramSeries;
}

const MODES = ['streaming', 'exact'] as const;

export interface MetricsServerOptions {
  /** The software's version, for myostream_build_info. */
  version: string;
}

/**
 * One registry and HTTP server per process, shared by every stream that turns metrics on (the
 * first to attach makes it listen, the last to detach closes it). Counters and gauges are filled
 * from the streams at scrape time; the histograms are fed on the step path through preallocated
 * series.
 */
export class MetricsServer {
  private static readonly shared = new Map<string, MetricsServer>();
  readonly registry = new Registry();
  private readonly streams = new Map<string, StreamMetricsSource>();
  private readonly histograms: { tCompute: FixedHistogram; endToEnd: FixedHistogram; poseAge: FixedHistogram };
  private server: Server | undefined;
  private listening: Promise<void> | undefined;
  private tls = false;
  private auth: BasicAuth | undefined;
  scrapes = 0;

  /** Requests refused for a wrong or missing password. */
  get authFailures(): number {
    return this.auth?.failures ?? 0;
  }

  /** The process's server for these settings (made on first use). */
  static for(
    settings: MetricsSettings,
    log: Logger,
    options: MetricsServerOptions = { version: 'unknown' },
  ): MetricsServer {
    const key = `${settings.host}:${settings.port}`;
    let s = MetricsServer.shared.get(key);
    if (!s) {
      s = new MetricsServer(settings, log, key, options);
      MetricsServer.shared.set(key, s);
    }
    return s;
  }

  private constructor(
    private readonly settings: MetricsSettings,
    private readonly log: Logger,
    private readonly key: string,
    options: MetricsServerOptions,
  ) {
    const streams = this.streams;
    const reg = this.registry;
    for (const [name, help] of Object.entries(COUNTERS) as [CounterName, string][]) {
      new Counter({
        name: `myostream_${name}_total`,
        help,
        labelNames: ['stream'],
        registers: [reg],
        collect(): void {
          this.reset();
          for (const [id, src] of streams) this.inc({ stream: id }, src.counts()[name] ?? 0);
        },
      });
    }
    for (const [name, help] of Object.entries(GAUGES) as [GaugeName, string][]) {
      new Gauge({
        name: `myostream_${name}`,
        help,
        labelNames: ['stream'],
        registers: [reg],
        collect(): void {
          this.reset();
          for (const [id, src] of streams) {
            const v = src.gauges()[name];
            if (v !== undefined && Number.isFinite(v)) this.set({ stream: id }, v);
          }
        },
      });
    }
    const version = options.version;
    new Gauge({
      name: 'myostream_build_info',
      help: 'Always 1: the software version, the Node.js it runs on, and the hand and band of each stream',
      labelNames: ['stream', 'version', 'node', 'hand', 'band'],
      registers: [reg],
      collect(): void {
        this.reset();
        for (const [id, src] of streams) {
          const who = src.identity();
          this.set({ stream: id, version, node: process.version, hand: who.hand, band: who.band }, 1);
        }
      },
    });
    new Gauge({
      name: 'myostream_mode',
      help: '1 for the mode the stream runs in now, 0 for the other',
      labelNames: ['stream', 'mode'],
      registers: [reg],
      collect(): void {
        this.reset();
        for (const [id, src] of streams)
          for (const m of MODES) this.set({ stream: id, mode: m }, src.mode() === m ? 1 : 0);
      },
    });
    new Gauge({
      name: 'myostream_execution_provider',
      help: 'The onnxruntime execution provider each model graph really got (value 1)',
      labelNames: ['stream', 'model', 'provider'],
      registers: [reg],
      collect(): void {
        this.reset();
        for (const [id, src] of streams)
          for (const [model, provider] of Object.entries(src.providers)) this.set({ stream: id, model, provider }, 1);
      },
    });
    this.histograms = {
      tCompute: new FixedHistogram(
        'myostream_step_compute_seconds',
        'T_compute of each streaming step (encoder, interpolation, LSTM step)',
        COMPUTE_BUCKETS_S,
        'stream',
      ),
      endToEnd: new FixedHistogram(
        'myostream_end_to_end_seconds',
        "From the arrival of a streaming step's last input sample to its pose being emitted",
        LATENCY_BUCKETS_S,
        'stream',
      ),
      poseAge: new FixedHistogram(
        'myostream_pose_age_seconds',
        'Pose age when it reaches the outputs: now minus the arrival of its newest EMG sample',
        LATENCY_BUCKETS_S,
        'stream',
      ),
    };
    // The registry only calls get() (and reads name/type) on what it holds: FixedHistogram gives
    // the same shape as prom-client's own histogram.
    for (const h of Object.values(this.histograms)) reg.registerMetric(h as unknown as Metric);
    if (settings.process_metrics) {
      collectDefaultMetrics({ register: reg, prefix: 'myostream_', eventLoopMonitoringPrecision: 10 });
      // prom-client names these totals of gauges like counters, which Prometheus' lint rejects;
      // the same numbers per type stay (myostream_nodejs_active_handles{type}: sum() them).
      for (const n of ['handles', 'requests', 'resources'])
        reg.removeSingleMetric(`myostream_nodejs_active_${n}_total`);
    }
  }

  /** Adds a stream: its label's series are made here, once. */
  attach(id: string, src: StreamMetricsSource): StreamSeries {
    this.streams.set(id, src);
    return {
      tCompute: this.histograms.tCompute.child(id),
      endToEnd: this.histograms.endToEnd.child(id),
      poseAge: this.histograms.poseAge.child(id),
    };
  }

  /** Removes a stream; the last one out closes the server. */
  async detach(id: string): Promise<void> {
    this.streams.delete(id);
    if (this.streams.size > 0) return;
    MetricsServer.shared.delete(this.key);
    const srv = this.server;
    this.server = undefined;
    this.listening = undefined;
    if (!srv) return;
    const closed = new Promise<void>((r) => srv.close(() => r()));
    // A scraper's keep-alive connection, used again and again, would hold the server and so the
    // process open after the run: close() only drops connections idle at that moment.
    srv.closeAllConnections();
    await closed;
  }

  get url(): string {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (!a) return '';
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `${this.tls ? 'https' : 'http'}://${host}:${a.port}/metrics`;
  }

  /**
   * The web configuration, checked against the address: off loopback a scrape crosses the
   * network, so it must come over TLS and with a password. Any problem is one UserError line.
   */
  private webConfig(): WebConfig | undefined {
    const { host, web_config_file: file } = this.settings;
    const web = file ? readWebConfig(file) : undefined;
    if (!isLoopbackHost(host) && (!web?.tls || web.users.size === 0)) {
      const lacks = !web
        ? 'no outputs.metrics.web_config_file'
        : !web.tls
          ? `${file} has no tls_server_config`
          : `${file} has no basic_auth_users`;
      throw new UserError(
        `outputs.metrics.host = ${host} is not a loopback address: serving /metrics to the network needs TLS and basic authentication, and ${lacks} (docs/monitoring.md)`,
      );
    }
    return web;
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    this.scrapes++;
    for (const src of this.streams.values()) src.refresh?.();
    this.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
      (e: unknown) => {
        this.log.warn({ err: errorMessage(e) }, 'metrics: scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  }

  /** Client certificate and password first (as exporters do: nothing is served unauthenticated), then the scrape. */
  private handle(web: WebConfig | undefined, req: IncomingMessage, res: ServerResponse): void {
    const certProblem = web ? clientCertProblem(req, web.clientAuth) : undefined;
    if (certProblem) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end(`${certProblem}\n`);
      return;
    }
    const auth = this.auth;
    if (!auth?.enabled) return this.serve(req, res);
    auth.check(req.headers.authorization).then(
      (verdict) => {
        if (verdict === 'ok') return this.serve(req, res);
        if (verdict === 'busy')
          res
            .writeHead(429, { 'content-type': 'text/plain', 'retry-after': '1' })
            .end('another login is being checked\n');
        else
          res
            .writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Basic realm="myostream"' })
            .end('unauthorized\n');
      },
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${errorMessage(e)}\n`),
    );
  }

  /** Listens (once); a port in use or a bad web configuration is a UserError naming the key. */
  listen(): Promise<void> {
    this.listening ??= new Promise<void>((resolve, reject) => {
      let web: WebConfig | undefined;
      try {
        web = this.webConfig();
      } catch (e) {
        MetricsServer.shared.delete(this.key);
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      this.tls = web?.tls !== undefined;
      this.auth = web ? new BasicAuth(web.users) : undefined;
      const handler = (req: IncomingMessage, res: ServerResponse): void => this.handle(web, req, res);
      const srv: Server = web?.tls ? createHttpsServer(web.tls, handler) : createServer(handler);
      srv.once('error', (e: NodeJS.ErrnoException) => {
        MetricsServer.shared.delete(this.key);
        reject(
          new UserError(
            `outputs.metrics.port = ${this.settings.port} on ${this.settings.host}: cannot listen (${e.code ?? e.message})`,
          ),
        );
      });
      srv.listen(this.settings.port, this.settings.host, () => {
        this.server = srv;
        resolve();
      });
    });
    return this.listening;
  }
}

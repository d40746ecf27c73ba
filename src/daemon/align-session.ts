import { exitCodeOf, isUserError, UserError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Config } from './config.js';
import type { ArtifactStore, Plugin, PluginReport, SessionActions, SessionView, StreamInfo } from '../domain/plugin.js';
import { ArtifactsWriter } from '../outputs/artifacts-writer.js';
import { ARTIFACT_FILES } from '../outputs/artifacts.js';
import type { AlignmentReport } from '../supervision/alignment-report.js';
import { LatencyMonitor, latencyMonitorSettings } from '../supervision/latency-monitor.js';
import { PluginHost } from './plugin-host.js';
import { whatRan, writeSummaryIfNoWriter, type RunFacts } from './run-summary.js';

export interface AlignSessionParts {
  cfg: Config;
  log: Logger;
  artifacts: ArtifactStore;
  stream: StreamInfo;
  source: RunFacts['source'];
  models: RunFacts['models'];
  /** The effective configuration and the model record, as the run folder keeps them. */
  configSnapshot: unknown;
  modelInfo: Record<string, unknown>;
  /** Made before the signal and the models were in memory, so its start figure is the process's own. */
  memory: Plugin;
  /** performance.now() when the command started: wall_s counts from there. */
  t0: number;
}

/**
 * `myostream align` hosted as a run is: the artifacts writer (config snapshot, model info, the
 * metrics lines the regression puts on the bus, summary.json at every status tick and at the
 * end), the latency and memory plug-ins, and its own report beside theirs, merged and written
 * the one way (run-summary.ts). Its summary is the run's heartbeat too, so `status` judges an
 * align that is going, was killed or ended alike.
 */
export class AlignSession implements SessionActions {
  readonly latency: LatencyMonitor;
  private readonly host: PluginHost;
  private readonly startedAt = new Date();
  private exit = 'running';
  private error: string | null = null;
  private exitCode: number | null = null;
  private events = 0;
  private samples = 0;
  private overwritten = 0;
  private poses = 0;
  private alignment: AlignmentReport | undefined;

  constructor(private readonly p: AlignSessionParts) {
    // Its T_compute is not judged: the regression's steps restart at every block.
    this.latency = new LatencyMonitor(
      latencyMonitorSettings(
        { bounds: p.cfg.eval.streaming_latency, log: p.cfg.logging.latency },
        false,
        p.models.providers,
        ARTIFACT_FILES.latency,
      ),
    );
    const writer = new ArtifactsWriter({
      configSnapshot: p.configSnapshot,
      modelInfo: p.modelInfo,
      heartbeatIntervalS: p.cfg.watchdog.status_interval_s,
      stepMetrics: true,
    });
    this.host = new PluginHost([writer, this.latency, p.memory], p.log);
    this.host.addReportSource(this);
  }

  get bus(): PluginHost['bus'] {
    return this.host.bus;
  }

  /** The session as its plug-ins see it (read-only). */
  private readonly view: SessionView = ((s: AlignSession): SessionView => ({
    get mode() {
      return s.p.cfg.model.mode;
    },
    get modeConfigured() {
      return s.p.cfg.model.mode;
    },
    get poses() {
      return s.poses;
    },
    get samples() {
      return s.samples;
    },
    unitsSinceRestart: 0,
    get startedAt() {
      return s.startedAt;
    },
    get exit() {
      return s.exit;
    },
  }))(this);

  async start(): Promise<void> {
    const own = { name: 'align' };
    this.bus.on(own, 'event', () => this.events++);
    // Poses so far, for the heartbeat summaries while the regression runs.
    this.bus.on(own, 'metrics', (m) => {
      this.poses = Math.max(this.poses, m.step + 1);
    });
    await this.host.start({
      stream: this.p.stream,
      log: this.p.log,
      artifacts: this.p.artifacts,
      session: this.view,
      actions: this,
    });
  }

  /** The signal read and the regression's progress, for the next summary. */
  progress(o: { samples: number; overwritten: number; poses: number; alignment?: AlignmentReport }): void {
    this.samples = o.samples;
    this.overwritten = o.overwritten;
    this.poses = o.poses;
    if (o.alignment) this.alignment = o.alignment;
  }

  /** A tick now: summary.json (the heartbeat), latency_stats.json, a memory sample. */
  snapshot(): void {
    this.bus.emit('tick', { uptimeS: (performance.now() - this.p.t0) / 1000, final: false });
  }

  /** How align ended on an error: a UserError is a clean stop (exit 2), anything else a crash. */
  endedBy(e: unknown): void {
    this.error = e instanceof Error ? e.message : String(e);
    this.exit = isUserError(e) ? 'exited' : 'error';
    this.exitCode = exitCodeOf(e);
  }

  /**
   * The final tick: the final summary (by the session itself when the artifacts writer is not
   * running: its start failed on a full disk, say), latency_stats.json; then every plug-in stopped.
   */
  async finish(): Promise<void> {
    if (this.exit === 'running') {
      this.exit = 'completed';
      this.exitCode = 0;
    }
    this.bus.emit('tick', { uptimeS: (performance.now() - this.p.t0) / 1000, final: true });
    writeSummaryIfNoWriter(
      (name) => this.host.running(name),
      this.p.artifacts,
      () => this.host.report(),
      true,
      this.p.cfg.watchdog.status_interval_s,
    );
    await this.host.stop();
  }

  report(): PluginReport {
    const { cfg } = this.p;
    const ran = whatRan({
      cfg,
      models: this.p.models,
      source: this.p.source,
      modeFinal: cfg.model.mode,
      switches: [],
      wallS: (performance.now() - this.p.t0) / 1000,
      signalS: this.samples / this.p.stream.sampleRate,
      judgeFallback: false,
    });
    return {
      sections: {
        command: 'align',
        exit: this.exit,
        error: this.error,
        exit_code: this.exitCode,
        started_at: this.startedAt.toISOString(),
        ...ran.sections,
      },
      acceptance: {
        ...ran.acceptance,
        alignment: this.alignment
          ? this.alignment.acceptance(true)
          : { enabled: true, evaluated: false, passed: null, aligned_blocks: 0 },
      },
      counts: {
        samples: this.samples,
        poses: this.poses,
        gaps: 0,
        overruns: 0,
        overwritten_samples: this.overwritten,
        events: this.events,
      },
    };
  }

  // SessionActions: align switches no mode and resets nothing; a plug-in's request is refused.
  requestMode(): boolean {
    return false;
  }
  requestReset(): void {}
  align(): Promise<Record<string, unknown>> {
    return Promise.reject(new UserError('align: the alignment regression is what this command runs'));
  }
}

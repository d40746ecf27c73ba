import type { EmgSource } from '../acquisition/source.js';
import { exitCodeOf, isUserError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Config } from './config.js';
import type {
  ArtifactStore,
  Mode,
  ModeSwitch,
  Plugin,
  PluginReport,
  PoseEvent,
  RunEvent,
  RunEventKind,
  SessionActions,
  SessionView,
  StepRecord,
  StreamInfo,
  UnitEvent,
  UpsampledPose,
} from '../domain/plugin.js';
import type { LoadedModels } from '../inference/models.js';
import type { Predictor } from '../inference/predictor.js';
import { createRings, runPipeline, type PipelineResult } from './pipeline.js';
import { PluginHost } from './plugin-host.js';
import { SHADOW_PART, buildPredictors, type Predictors } from './predictors.js';
import { alignHeldBlocks } from './alignment-run.js';
import { finalTickJudged, whatRan, writeSummaryIfNoWriter } from './run-summary.js';

/** What the registry needs to build a stream's plug-ins once its predictors exist. */
export interface PluginEnv {
  readonly predictors: Predictors;
  /** The source's ground-truth joint angles, where it has them. */
  readonly truth: ReturnType<typeof createRings>['truth'];
  /** The stream's source (its signal quality, where it measures it). */
  readonly source?: EmgSource;
}

export interface StreamParts {
  /** The stream's own resolved configuration. */
  cfg: Config;
  log: Logger;
  models: LoadedModels;
  source: EmgSource;
  artifacts: ArtifactStore;
  info: StreamInfo;
  /** The registry: this stream's plug-ins, in start order. */
  plugins(env: PluginEnv): Plugin[];
}

/**
 * Kinds of events counted in summary.json's counts (plural names): each count is the number of
 * its events in events.jsonl, and MQTT health and /metrics read these same counts.
 */
const COUNTED: Partial<Record<RunEvent['kind'], string>> = {
  gap: 'gaps',
  overrun: 'overruns',
  bridged_gap: 'bridged_gaps',
  stall: 'stalls',
  reinit: 'reinits',
  bad_samples: 'bad_sample_reports',
  alarm: 'alarms',
  contention: 'contentions',
};

/**
 * One stream (a source and its model) from start to finish: builds the pipeline and the
 * predictors, hosts the plug-ins the registry gives it, carries out what they ask (mode
 * switches, resets, snapshots, alignment runs) between units, and reports its own part of the
 * summary. It names no concrete output or supervisor.
 */
export class StreamSession implements SessionActions {
  readonly name = 'session';
  private readonly host: PluginHost;
  private readonly predictors: Predictors;
  private readonly startedAt = new Date();
  private readonly t0 = performance.now();
  private readonly switches: ModeSwitch[] = [];
  private readonly counts: Record<string, number> = { events: 0, gaps: 0, overruns: 0 };
  private mode: Mode;
  private poses = 0;
  /** ms since the process started at the first pose (time to first pose, start-up included). */
  private firstPoseMs: number | null = null;
  private samples = 0;
  private sinceRestart = 0;
  private exit = 'running';
  private error: string | null = null;
  /** The exit code this stream ends the process with (null while it runs). */
  private exitCode: number | null = null;
  private result: PipelineResult | undefined;
  private pendingMode: { mode: Mode; reason: string } | undefined;
  private pendingReset: string | undefined;
  private current: Predictor | undefined;
  private readonly rings: ReturnType<typeof createRings>;
  private aligning: Promise<Record<string, unknown>> | undefined;
  // One object reused for every unit: the 50 Hz loop allocates nothing for its listeners.
  private readonly unit: UnitEvent = {
    mode: 'streaming',
    computeMs: 0,
    cpuMs: NaN,
    lastStep: -1,
    ringWritten: 0,
    sinceRestart: 0,
  };
  private readonly upsampledPose: UpsampledPose = { sample: 0, angles: new Float32Array(0) };

  constructor(private readonly p: StreamParts) {
    this.mode = p.cfg.model.mode;
    this.rings = createRings(p.source, p.cfg.runtime.streaming.max_buffer_seconds);
    this.predictors = buildPredictors(p.cfg, p.models, {
      upsampled: (sample, angles) => {
        this.upsampledPose.sample = sample;
        this.upsampledPose.angles = angles;
        this.bus.emit('upsampled', this.upsampledPose);
      },
      onBlock: (c) => this.bus.emit('block', c),
      onShadowFailed: (during, error) =>
        this.host.partFailed(SHADOW_PART, 'the live shadow (alignment check)', during, error),
    });
    if (this.predictors.streaming) this.predictors.streaming.streaming.onStep = this.onStep;
    this.host = new PluginHost(
      p.plugins({ predictors: this.predictors, truth: this.rings.truth, source: p.source }),
      p.log,
    );
    this.host.addReportSource(this);
  }

  get bus(): PluginHost['bus'] {
    return this.host.bus;
  }

  /** The session as its plug-ins see it (read-only). */
  readonly view: SessionView = ((s: StreamSession): SessionView => ({
    get mode() {
      return s.mode;
    },
    get modeConfigured() {
      return s.p.cfg.model.mode;
    },
    get poses() {
      return s.poses;
    },
    get samples() {
      return Math.max(s.samples, s.rings.emg.written);
    },
    get unitsSinceRestart() {
      return s.sinceRestart;
    },
    get startedAt() {
      return s.startedAt;
    },
    get exit() {
      return s.exit;
    },
  }))(this);

  async run(signal?: AbortSignal): Promise<number> {
    const { cfg, log, source, artifacts } = this.p;
    this.bus.on(this, 'event', (e) => {
      this.counts['events']!++;
      const k = COUNTED[e.kind];
      // One count per episode: the note that contention is over is not another contention.
      if (k && e.data?.['cause'] !== 'contention_over') this.counts[k] = (this.counts[k] ?? 0) + 1;
    });
    await this.host.start({ stream: this.p.info, log, artifacts, session: this.view, actions: this });
    // A first tick once every plug-in has started: the summary the artifacts writer left at its
    // own start holds only the parts started before it, and on a disk that fills early it could
    // be the last one written.
    this.tick(false);
    const first =
      this.mode === 'streaming' && this.predictors.streaming ? this.predictors.streaming : this.predictors.exact;
    this.current = first;
    log.info(
      {
        stream: this.p.info.id,
        mode: cfg.model.mode,
        policy: cfg.runtime.streaming.feature_policy,
        source: source.info.description,
        artifacts: artifacts.dir,
        providers: this.p.models.providers,
        plugins: this.host.names,
      },
      'run started',
    );
    const tick = setInterval(() => this.snapshot(), cfg.watchdog.status_interval_s * 1000);
    const abort = new AbortController();
    const onAbort = (): void => abort.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    // A live source that stalls never reaches its sample count: the duration also bounds wall time.
    const live = source.info.live === true;
    const wallLimit =
      live && cfg.input.duration_s > 0
        ? setTimeout(
            () => {
              log.warn(
                { stream: this.p.info.id },
                `input.duration_s ${cfg.input.duration_s} s of wall time passed before that much signal arrived; ending the run`,
              );
              abort.abort();
            },
            (cfg.input.duration_s + 2) * 1000,
          )
        : undefined;
    let code = 0;
    try {
      this.result = await runPipeline({
        source,
        predictor: first,
        log,
        rings: this.rings,
        ringSeconds: cfg.runtime.streaming.max_buffer_seconds,
        signal: abort.signal,
        hooks: {
          onPose: this.onPose,
          onUnit: this.onUnit,
          onEvent: (e) => this.bus.emit('event', e),
          onRestart: () => {
            this.sinceRestart = 0;
          },
          nextPredictor: (cur) => this.nextPredictor(cur),
          restartRequested: () => this.takeReset(),
        },
      });
      // An abort with a UserError for reason is the daemon ending the run on an error of its own
      // (a model file changed on disk), not an operator's signal.
      const reason: unknown = signal?.aborted ? signal.reason : undefined;
      if (isUserError(reason)) {
        this.endedBy(reason);
        this.record('error', `the run was ended: ${reason.message}`);
      } else {
        this.exit = signal?.aborted ? 'interrupted' : 'completed';
        this.exitCode = 0;
      }
    } catch (e) {
      code = this.endedBy(e);
      // In events.jsonl (and on MQTT) before the final summary: why the stream ended.
      this.record('error', `the stream ended on an error: ${this.error}`);
      throw e;
    } finally {
      clearInterval(tick);
      if (wallLimit) clearTimeout(wallLimit);
      signal?.removeEventListener('abort', onAbort);
      await this.aligning?.catch(() => undefined);
      // Judged on the report the final summary was made of: stopped plug-ins report no more.
      const verdict = finalTickJudged(
        () => this.tick(true),
        () => this.host.report(),
        artifacts,
        cfg.watchdog.status_interval_s,
      );
      await this.host.stop();
      this.logVerdict(verdict);
    }
    return code;
  }

  /**
   * How this stream ended on an error: a UserError (bad input or configuration found after
   * start, a model file changed) is a clean stop with exit code 2; anything else is a crash
   * (exit 1). Returns the code.
   */
  private endedBy(e: unknown): number {
    this.error = e instanceof Error ? e.message : String(e);
    this.exit = isUserError(e) ? 'exited' : 'error';
    this.exitCode = exitCodeOf(e);
    return this.exitCode;
  }

  /**
   * The end-of-run line: the run judged by the same judge as `status` and the report, from the
   * summary this process just wrote. When its disk refused that final summary, the run is
   * judged as status will find it: ended unrecorded.
   */
  private logVerdict(v: ReturnType<typeof finalTickJudged>): void {
    const { log, artifacts } = this.p;
    const fields = {
      stream: this.p.info.id,
      passed: v.passed ?? null,
      verdict: v.verdict,
      reason: v.reason,
      state: v.state,
      artifacts: artifacts.dir,
    };
    if (v.passed === true) log.info(fields, 'run finished');
    else log.warn(fields, 'run finished');
  }

  /** Every plug-in's report merged with the session's (what summary.json is made of). */
  report(): PluginReport {
    const cfg = this.p.cfg;
    const ran = whatRan({
      cfg,
      models: this.p.models,
      source: this.p.source,
      modeFinal: this.mode,
      switches: this.switches,
      wallS: this.uptimeS(),
      signalS: this.samples / this.p.info.sampleRate,
      firstPoseMs: this.firstPoseMs,
      judgeFallback: cfg.model.mode === 'streaming',
    });
    return {
      sections: {
        exit: this.exit,
        error: this.error,
        exit_code: this.exitCode,
        stream_id: this.p.info.id,
        started_at: this.startedAt.toISOString(),
        ...ran.sections,
        // Each streaming step as one stream_step run (null: no streaming predictor in this run).
        one_run_step: this.predictors.streaming ? this.predictors.streaming.streaming.isFused : null,
      },
      acceptance: ran.acceptance,
      counts: {
        ...this.counts,
        ...this.shadowCounts(),
        samples: Math.max(this.samples, this.rings.emg.written),
        poses: this.poses,
        overwritten_samples: this.result?.overwritten ?? this.rings.emg.overwritten,
        mode_switches: this.switches.length,
      },
    };
  }

  /** The live shadow's own count, where it runs. */
  private shadowCounts(): Record<string, number> {
    const s = this.predictors.streaming;
    return s && s.shadowState !== 'none' ? { shadow_blocks_skipped: s.shadowBlocksSkipped } : {};
  }

  merged(): ReturnType<PluginHost['report']> {
    return this.host.report();
  }

  // SessionActions ---------------------------------------------------------------------------

  requestMode(mode: Mode, reason: string): boolean {
    if (mode === 'streaming' && !this.predictors.streaming) return false;
    if (mode === this.mode && !this.pendingMode) return true;
    this.pendingMode = { mode, reason };
    return true;
  }

  /** Records a happening of the daemon's (a reload, say) in this stream's events, at its current sample. */
  record(kind: RunEventKind, detail: string, data?: RunEvent['data']): void {
    this.host.record(kind, this.samples, detail, data);
  }

  requestReset(reason: string): void {
    this.pendingReset ??= reason;
  }

  snapshot(): void {
    this.tick(false);
  }

  /**
   * A tick: every plug-in refreshes its part. summary.json is the run's heartbeat and record,
   * what `status` and `collect` read: when the plug-in that writes it is not running (its
   * start failed on a full disk, or it was disabled later), the session writes it itself, so
   * that the run stays visible and is judged NOT PASSED with that plug-in named as the reason.
   */
  private tick(final: boolean): void {
    this.bus.emit('tick', { uptimeS: this.uptimeS(), final });
    this.summaryWithoutWriter(final);
  }

  private summaryWithoutWriter(final: boolean): void {
    writeSummaryIfNoWriter(
      (name) => this.host.running(name),
      this.p.artifacts,
      () => this.host.report(),
      final,
      this.p.cfg.watchdog.status_interval_s,
    );
  }

  align(blocks: number): Promise<Record<string, unknown>> {
    // One at a time: a second request waits for the first rather than doubling the load.
    const run = (this.aligning ?? Promise.resolve({}))
      .catch(() => ({}))
      .then(() => alignHeldBlocks(this.p.cfg, this.p.models, this.rings, blocks));
    this.aligning = run;
    return run;
  }

  // Pipeline hooks --------------------------------------------------------------------------

  private readonly onPose = (e: PoseEvent): void => {
    if (this.poses++ === 0) this.firstPoseMs = Math.round(performance.now());
    e.quality = this.p.source.qualityMask?.(Math.round(e.t * this.p.info.sampleRate)) ?? 0;
    this.bus.emit('pose', e);
  };

  // Called right after the step's pose went to every `pose` listener (the outputs among them).
  private readonly onStep = (r: StepRecord): void => {
    r.handledAt = performance.now();
    this.bus.emit('step', r);
  };

  private readonly onUnit = (computeMs: number, lastStep: number, ringWritten: number, cpuMs: number): void => {
    this.samples = ringWritten;
    this.sinceRestart++;
    const u = this.unit;
    u.mode = this.mode;
    u.computeMs = computeMs;
    u.cpuMs = cpuMs;
    u.lastStep = lastStep;
    u.ringWritten = ringWritten;
    u.sinceRestart = this.sinceRestart;
    this.bus.emit('unit', u);
  };

  private takeReset(): { atSample: number; reason: string } | undefined {
    const reason = this.pendingReset;
    if (reason === undefined || !this.current) return undefined;
    this.pendingReset = undefined;
    return { atSample: this.current.resumeAt, reason };
  }

  private nextPredictor(cur: Predictor): Predictor {
    this.current = cur;
    const req = this.pendingMode;
    if (!req) return cur;
    this.pendingMode = undefined;
    if (req.mode === cur.mode) return cur;
    const next = req.mode === 'streaming' ? this.predictors.streaming : this.predictors.exact;
    if (!next) return cur;
    const sw: ModeSwitch = {
      time: new Date().toISOString(),
      at_step: this.poses - 1,
      at_sample: cur.resumeAt,
      from: cur.mode,
      to: req.mode,
      reason: req.reason,
    };
    this.switches.push(sw);
    this.mode = req.mode;
    this.current = next;
    this.bus.emit('mode', sw);
    this.host.record('mode_switch', sw.at_sample, `${sw.from} → ${sw.to}: ${req.reason}`, {
      from: sw.from,
      to: sw.to,
      at_step: sw.at_step,
    });
    this.p.log.warn(
      { stream: this.p.info.id, reason: req.reason },
      req.mode === 'exact' ? 'falling back to exact mode' : 'returning to streaming mode',
    );
    this.snapshot();
    return next;
  }

  private uptimeS(): number {
    return (performance.now() - this.t0) / 1000;
  }
}

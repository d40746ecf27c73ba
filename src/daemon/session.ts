import type { EmgSource } from '../acquisition/source.js';
import type { Logger } from '../common/logger.js';
import type { Config } from '../config/schema.js';
import { ExactMode } from '../inference/exact-mode.js';
import { SAMPLE_RATE } from '../domain/geometry.js';
import type { LoadedModels } from '../inference/models.js';
import type { Predictor } from '../inference/predictor.js';
import { ARTIFACT_FILES, type RunArtifacts } from '../outputs/artifacts.js';
import type { JsonlWriter } from '../outputs/jsonl-writer.js';
import { anglesToJson, type PoseEvent, type PoseSink } from '../domain/pose.js';
import { PosesFile } from '../outputs/poses-file.js';
import { MqttSink, modelSummary } from '../outputs/mqtt-sink.js';
import { LatencyHistogram, round3 } from '../supervision/latency.js';
import { SupervisedStreaming, type BlockComparison } from '../supervision/supervised-streaming.js';
import { Watchdog } from '../supervision/watchdog.js';
import { MemoryTrack } from '../supervision/memory.js';
import { configToYaml } from '../config/load.js';
import { parse as parseYaml } from 'yaml';
import { createRings, runPipeline, type PipelineEvent, type PipelineResult } from './pipeline.js';
import { buildExact, buildStreaming } from './predictors.js';
import { AlignmentReport, latencyReport, memoryMb, runModelInfo, sourceSummary } from './report.js';

export interface ModeSwitch {
  time: string;
  at_step: number;
  at_sample: number;
  from: string;
  to: string;
  reason: string;
}

export interface SessionOptions {
  quiet: boolean;
  signal?: AbortSignal;
}

/**
 * One `myostream run`: builds the predictor for model.mode, supervises it (metrics, shadow
 * exact, watchdog, fallback), keeps the run's artifacts current while it runs and final when it
 * ends — also when it ends by a signal or an error.
 */
export class RunSession {
  private readonly tCompute = new LatencyHistogram();
  private readonly e2e = new LatencyHistogram();
  private readonly events: PipelineEvent[] = [];
  private readonly switches: ModeSwitch[] = [];
  private readonly watchdog: Watchdog;
  private readonly alignment: AlignmentReport;
  private readonly metrics: JsonlWriter;
  private readonly eventsLog: JsonlWriter;
  private readonly startedAt = new Date();
  private readonly t0 = performance.now();
  private readonly memStart = memoryMb();
  private memPeakRss = 0;
  private readonly memTrack = new MemoryTrack();
  private steps = 0;
  private lastStep = -1;
  private lastSample = 0;
  private mode: 'exact' | 'streaming';
  private stepsSinceRestart = 0;
  private result: PipelineResult | undefined;
  private exitReason = 'running';
  private mqtt: MqttSink | undefined;
  private stateResets = 0;

  constructor(
    private readonly cfg: Config,
    private readonly log: Logger,
    private readonly models: LoadedModels,
    private readonly source: EmgSource,
    private readonly artifacts: RunArtifacts,
    private readonly opts: SessionOptions,
  ) {
    this.mode = cfg.model.mode;
    this.watchdog = new Watchdog(cfg);
    this.alignment = new AlignmentReport(cfg.eval.streaming_tolerance, {
      kind: 'live',
      feature_policy: cfg.runtime.streaming.feature_policy,
      encoder: cfg.runtime.streaming.encoder,
      note: 'live run: the first block of each session is the alignment check (streaming reset at its start); later blocks measure drift',
    });
    this.metrics = artifacts.jsonl(ARTIFACT_FILES.metrics);
    this.eventsLog = artifacts.jsonl(ARTIFACT_FILES.events);
  }

  async run(): Promise<number> {
    const { cfg, log, models, source, artifacts } = this;
    // The effective configuration, re-read through YAML so the snapshot is exactly what loads.
    artifacts.writeYaml(ARTIFACT_FILES.config, parseYaml(configToYaml(cfg)));
    artifacts.writeJson(ARTIFACT_FILES.modelInfo, runModelInfo(models, cfg.runtime.streaming.encoder));
    const sinks: PoseSink[] = [];
    const posesFile = cfg.outputs.poses_out ? new PosesFile(cfg.outputs.poses_out) : undefined;
    if (posesFile) sinks.push(posesFile);
    if (cfg.outputs.mqtt.enabled) {
      this.mqtt = new MqttSink(cfg.outputs.mqtt, {
        log,
        mode: cfg.model.mode,
        model: modelSummary(models.info, models.providers, { feature_policy: cfg.runtime.streaming.feature_policy }),
      });
      await this.mqtt.start();
      sinks.push(this.mqtt);
    }
    const rings = createRings(source, cfg.runtime.streaming.max_buffer_seconds);
    const exactMode = new ExactMode(buildExact(cfg, models), posesFile
      ? (p) => posesFile.writeRecord({ t: Number(((p.sample + 1) / SAMPLE_RATE).toFixed(6)), sample: p.sample, mode: 'exact', angles: anglesToJson(p.angles) })
      : undefined);
    let predictor: Predictor = exactMode;
    if (cfg.model.mode === 'streaming') {
      const shadow = cfg.eval.streaming_alignment_check ? buildExact(cfg, models, false) : undefined;
      const emgRing = rings.emg;
      predictor = new SupervisedStreaming(buildStreaming(cfg, models), shadow, rings.truth, {
        onStep: (m) => this.metrics.write(m),
        onBlock: (c) => this.onBlock(c),
      }, (sample) => {
        const epoch = emgRing.arrivalTimeOf(sample);
        return Number.isNaN(epoch) ? undefined : epoch - performance.timeOrigin;
      });
    }
    log.info({ mode: cfg.model.mode, policy: cfg.runtime.streaming.feature_policy, source: source.info.description, artifacts: artifacts.dir, providers: models.providers }, 'run started');
    const status = setInterval(() => this.tick(), cfg.watchdog.status_interval_s * 1000);
    const live = !this.opts.quiet && process.stderr.isTTY ? setInterval(() => this.statusLine(true), 500) : undefined;
    let code = 0;
    try {
      this.result = await runPipeline({
        source, predictor, sinks, log, rings,
        ringSeconds: cfg.runtime.streaming.max_buffer_seconds,
        ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        hooks: {
          onPose: (e) => this.onPose(e),
          onUnit: (computeMs, _lastStep, ringWritten) => this.onUnit(computeMs, ringWritten),
          onEvent: (e) => this.onEvent(e),
          nextPredictor: (cur) => this.maybeFallback(cur, exactMode),
          restartRequested: () => this.checkState(predictor),
        },
      });
      this.exitReason = this.opts.signal?.aborted ? 'interrupted' : 'completed';
    } catch (e) {
      this.exitReason = 'error';
      code = 1;
      throw e;
    } finally {
      clearInterval(status);
      if (live) clearInterval(live);
      for (const s of sinks) await s.close();
      this.metrics.close();
      this.writeArtifacts(true);
      this.eventsLog.close();
      if (live) process.stderr.write('\n');
      if (!this.opts.quiet) this.statusLine(false);
    }
    const summary = this.summary(true);
    log.info({ passed: summary['passed'], artifacts: artifacts.dir }, 'run finished');
    return code;
  }

  private onPose(e: PoseEvent): void {
    this.steps++;
    this.lastStep = e.step;
    // Warm-up steps are left out here as they are from T_compute.
    if (!Number.isNaN(e.inputArrivedAt) && this.stepsSinceRestart >= this.cfg.eval.streaming_latency.warmup_steps) {
      this.e2e.record(performance.now() - e.inputArrivedAt);
    }
  }

  private onUnit(computeMs: number, ringWritten: number): void {
    this.lastSample = ringWritten;
    if (this.mode !== 'streaming') return;
    this.stepsSinceRestart++;
    if (this.stepsSinceRestart > this.cfg.eval.streaming_latency.warmup_steps) this.tCompute.record(computeMs);
    this.watchdog.onStep(this.lastStep, computeMs);
  }

  private onBlock(c: BlockComparison): void {
    this.alignment.addBlock(c);
    if (!c.aligned) return;
    const passed = this.alignment.blockPassed(c);
    const tol = this.cfg.eval.streaming_tolerance;
    const detail = `block ${c.block} at sample ${c.startSample}: MSE ${c.main.mse.toExponential(2)} (bound ${tol.mse}), max|diff| ${c.main.max_diff.toExponential(2)} (bound ${tol.max_diff}); first output MSE ${c.boundary.mse.toExponential(2)}, max|diff| ${c.boundary.max_diff.toExponential(2)} (2× bounds)`;
    (passed ? this.log.info.bind(this.log) : this.log.warn.bind(this.log))({ passed }, `alignment check: ${detail}`);
    this.watchdog.onAlignment(this.lastStep, passed, detail);
    this.artifacts.writeJson(ARTIFACT_FILES.alignment, this.alignment.toJSON());
  }

  private onEvent(e: PipelineEvent): void {
    this.events.push(e);
    this.eventsLog.write(e);
    // Mode switches go out with their details from maybeFallback.
    if (e.kind !== 'mode_switch') this.mqtt?.publishEvent(e);
    if (e.kind === 'gap' || e.kind === 'overrun') {
      this.stepsSinceRestart = 0;
      this.watchdog.restart();
    }
  }

  /**
   * State blow-up: every 50 steps, the decoder's largest |h| or |c| against
   * watchdog.state_abs_limit. Past it the session restarts in place (its next step from fresh
   * state, same time) and the reset is recorded.
   */
  private checkState(p: Predictor): { atSample: number; reason: string } | undefined {
    if (!(p instanceof SupervisedStreaming) || this.steps % 50 !== 0) return undefined;
    const m = p.streaming.stateMaxAbs();
    if (m <= this.cfg.watchdog.state_abs_limit) return undefined;
    this.stateResets++;
    this.stepsSinceRestart = 0;
    this.watchdog.restart();
    return { atSample: p.streaming.nextWindowStart, reason: `decoder state max |h|,|c| ${m.toPrecision(3)} > watchdog.state_abs_limit ${this.cfg.watchdog.state_abs_limit}: session reset in place` };
  }

  private maybeFallback(cur: Predictor, exact: Predictor): Predictor {
    if (cur.mode !== 'streaming') return cur;
    const req = this.watchdog.takeFallback();
    if (!req) return cur;
    const sw: ModeSwitch = { time: new Date().toISOString(), at_step: req.atStep, at_sample: this.lastSample, from: 'streaming', to: 'exact', reason: req.reason };
    this.switches.push(sw);
    this.mqtt?.publishEvent({ time: sw.time, kind: 'mode_switch', atSample: sw.at_sample, atStep: sw.at_step, from: sw.from, to: sw.to, reason: sw.reason });
    this.mode = 'exact';
    this.onEvent({ time: sw.time, kind: 'mode_switch', atSample: sw.at_sample, detail: `streaming → exact: ${req.reason}` });
    this.log.warn({ reason: req.reason }, 'falling back to exact mode');
    this.writeArtifacts(false);
    return exact;
  }

  private tick(): void {
    this.memPeakRss = Math.max(this.memPeakRss, process.memoryUsage.rss());
    this.memTrack.sample();
    this.writeArtifacts(false);
    if (this.opts.quiet || process.stderr.isTTY) return;
    this.statusLine(false);
  }

  private statusLine(overwrite: boolean): void {
    const secs = (performance.now() - this.t0) / 1000;
    const p95 = this.tCompute.count ? this.tCompute.percentile(95).toFixed(2) : '–';
    const line = `steps ${this.steps}  rate ${(this.steps / Math.max(secs, 1e-3)).toFixed(1)}/s  P95 T_compute ${p95} ms  mode ${this.mode}  signal ${(this.lastSample / SAMPLE_RATE).toFixed(1)} s`;
    if (overwrite) process.stderr.write(`\r${line}\x1b[K`);
    else this.log.info(line);
  }

  private writeArtifacts(final: boolean): void {
    const a = this.artifacts;
    a.writeJson(ARTIFACT_FILES.latency, latencyReport(this.cfg, this.tCompute, this.e2e, this.models.providers));
    if (this.cfg.model.mode === 'streaming') a.writeJson(ARTIFACT_FILES.alignment, this.alignment.toJSON());
    a.writeJson(ARTIFACT_FILES.summary, this.summary(final));
  }

  private summary(final: boolean): Record<string, unknown> {
    const cfg = this.cfg;
    const align = this.alignment.overall();
    const lat = latencyReport(cfg, this.tCompute, this.e2e, this.models.providers);
    const streaming = cfg.model.mode === 'streaming';
    const alignEnabled = streaming && cfg.eval.streaming_alignment_check;
    const latEnabled = streaming && cfg.logging.latency.enabled && cfg.eval.streaming_latency.check;
    const acceptance = {
      alignment: { enabled: alignEnabled, evaluated: align.passed !== null, passed: alignEnabled ? align.passed === true : null, aligned_blocks: this.alignment.alignedBlocks },
      latency: { enabled: latEnabled, evaluated: lat.passed !== null, passed: latEnabled ? lat.passed === true : null, violations: this.watchdog.latencyViolations },
      no_fallback: { enabled: streaming, passed: streaming ? this.switches.length === 0 : null },
    };
    const passed = Object.values(acceptance).every((x) => !x.enabled || x.passed === true);
    const mem = memoryMb();
    this.memPeakRss = Math.max(this.memPeakRss, process.memoryUsage.rss());
    return {
      passed,
      finished: final,
      exit: final ? this.exitReason : 'running',
      started_at: this.startedAt.toISOString(),
      updated_at: new Date().toISOString(),
      mode_configured: cfg.model.mode,
      mode_final: this.mode,
      feature_policy: cfg.runtime.streaming.feature_policy,
      encoder: cfg.runtime.streaming.encoder,
      acceptance,
      mode_switches: this.switches,
      source: { ...sourceSummary(this.source.info), stats: this.source.stats?.() ?? null },
      counts: {
        samples: this.lastSample,
        poses: this.steps,
        steps_timed: this.tCompute.count,
        gaps: this.events.filter((e) => e.kind === 'gap').length,
        overruns: this.events.filter((e) => e.kind === 'overrun').length,
        state_resets: this.stateResets,
        overwritten_samples: this.result?.overwritten ?? 0,
        events: this.events.length,
      },
      durations: {
        wall_s: round3((performance.now() - this.t0) / 1000),
        signal_s: round3(this.lastSample / SAMPLE_RATE),
        model_load_ms: this.models.loadMs,
      },
      latency: { t_compute_p95_ms: lat.t_compute_ms.percentiles_ms['p95'] ?? null, t_compute_p50_ms: lat.t_compute_ms.percentiles_ms['p50'] ?? null },
      memory: {
        start: this.memStart,
        now: mem,
        rss_peak_mb: Math.round((this.memPeakRss / 1048576) * 10) / 10,
        growth_after_first_minute: this.memTrack.growth(),
        samples: this.memTrack.samples,
      },
      execution_providers: this.models.providers,
      mqtt: this.mqtt?.stats() ?? null,
      artifacts_dir: this.artifacts.dir,
    };
  }
}

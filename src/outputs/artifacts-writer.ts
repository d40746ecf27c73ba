import { hostname } from 'node:os';
import type { JsonlSink, MergedReport, Plugin, PluginContext } from '../domain/plugin.js';
import { ARTIFACT_FILES } from './artifacts.js';

export interface ArtifactsWriterSettings {
  /** The effective configuration, as config_snapshot.yaml holds it. */
  configSnapshot: unknown;
  modelInfo: Record<string, unknown>;
  /** Seconds between summary refreshes: a reader older than ~2 of these is looking at a dead run. */
  heartbeatIntervalS: number;
  /** Write streaming_metrics.jsonl (a streaming run). */
  stepMetrics: boolean;
}

/**
 * The run folder: config_snapshot.yaml and model_info.json at start, events.jsonl as events
 * happen, streaming_metrics.jsonl per streaming step, and summary.json — every plug-in's report
 * merged — at every tick and at the end. summary.json is also the run's heartbeat (pid, host,
 * updated_at), so `status` can tell a live run from a dead one.
 */
export class ArtifactsWriter implements Plugin {
  readonly name = 'artifacts';
  private events: JsonlSink | undefined;
  private metrics: JsonlSink | undefined;

  constructor(private readonly s: ArtifactsWriterSettings) {}

  start(ctx: PluginContext): void {
    const a = ctx.artifacts;
    a.writeYaml(ARTIFACT_FILES.config, this.s.configSnapshot);
    a.writeJson(ARTIFACT_FILES.modelInfo, this.s.modelInfo);
    const events = a.jsonl(ARTIFACT_FILES.events);
    this.events = events;
    // An event is on disk before the next step: a crash right after a mode switch keeps it.
    ctx.bus.on(this, 'event', (e) => {
      events.write(e);
      events.flush();
    });
    if (this.s.stepMetrics) {
      const metrics = a.jsonl(ARTIFACT_FILES.metrics);
      this.metrics = metrics;
      ctx.bus.on(this, 'step', (m) => metrics.write(m));
    }
    ctx.bus.on(this, 'tick', (t) => {
      if (t.final) this.metrics?.flush();
      a.writeJson(ARTIFACT_FILES.summary, summaryOf(ctx.report(), t.final, this.s.heartbeatIntervalS, ctx.artifacts.dir));
    });
    a.writeJson(ARTIFACT_FILES.summary, summaryOf(ctx.report(), false, this.s.heartbeatIntervalS, ctx.artifacts.dir));
  }

  stop(): void {
    this.metrics?.close();
    this.events?.close();
    this.metrics = undefined;
    this.events = undefined;
  }
}

/**
 * summary.json: verdict first, then the heartbeat, then every plug-in's sections, the
 * acceptance criteria and the counts. `passed` is every enabled criterion passing.
 */
export function summaryOf(r: MergedReport, final: boolean, heartbeatIntervalS: number, dir: string): Record<string, unknown> {
  const acceptance = { ...r.acceptance, plugins: { enabled: true, evaluated: true, passed: r.disabled.length === 0, disabled: r.disabled.length } };
  const passed = Object.values(acceptance).every((x) => !x.enabled || x.passed === true);
  const { exit, ...sections } = r.sections;
  return {
    passed,
    finished: final,
    exit: final && typeof exit === 'string' ? exit : 'running',
    pid: process.pid,
    host: hostname(),
    heartbeat_interval_s: heartbeatIntervalS,
    updated_at: new Date().toISOString(),
    ...sections,
    acceptance,
    counts: r.counts,
    plugins: { disabled: r.disabled },
    artifacts_dir: dir,
  };
}

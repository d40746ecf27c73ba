import type { ArtifactStore, JsonlSink, MergedReport, Plugin, PluginContext } from '../domain/plugin.js';
import { isOutputError } from '../common/errors.js';
import { ARTIFACT_FILES, heartbeatFields } from './artifacts.js';

export interface ArtifactsWriterSettings {
  /** The effective configuration, as config_snapshot.yaml holds it. */
  configSnapshot: unknown;
  modelInfo: Record<string, unknown>;
  /** Seconds between summary refreshes: a reader older than ~2 of these is looking at a dead run. */
  heartbeatIntervalS: number;
  /** Write streaming_metrics.jsonl (a streaming run). */
  stepMetrics: boolean;
}

/** The plug-in that writes summary.json; while it is not running the session writes it (writeSummary). */
export const SUMMARY_WRITER = 'artifacts';

/** Writes summary.json from the merged report; false when the disk refused it (recorded in the store). */
export function writeSummary(
  store: ArtifactStore,
  r: MergedReport,
  final: boolean,
  heartbeatIntervalS: number,
): boolean {
  return store.writeJson(ARTIFACT_FILES.summary, summaryOf(r, final, heartbeatIntervalS, store.dir));
}

/**
 * The run folder: config_snapshot.yaml and model_info.json at start, events.jsonl as events
 * happen, streaming_metrics.jsonl per streaming step, and summary.json — every plug-in's report
 * merged — at every tick and at the end. summary.json is also the run's heartbeat (pid, host,
 * updated_at), so `status` can tell a live run from a dead one.
 */
export class ArtifactsWriter implements Plugin {
  readonly name = SUMMARY_WRITER;
  private events: JsonlSink | undefined;
  private metrics: JsonlSink | undefined;

  constructor(private readonly s: ArtifactsWriterSettings) {}

  start(ctx: PluginContext): void {
    const a = ctx.artifacts;
    a.writeYaml(ARTIFACT_FILES.config, this.s.configSnapshot);
    a.writeJson(ARTIFACT_FILES.modelInfo, this.s.modelInfo);
    const events = a.jsonl(ARTIFACT_FILES.events);
    this.events = events;
    // events.jsonl is durable per record: an event is on disk before the next step.
    ctx.bus.on(this, 'event', (e) => this.guard(ctx, 'events', () => this.events?.write(e)));
    if (this.s.stepMetrics) {
      this.metrics = a.jsonl(ARTIFACT_FILES.metrics);
      ctx.bus.on(this, 'metrics', (m) => this.guard(ctx, 'metrics', () => this.metrics?.write(m)));
    }
    this.store = a;
    ctx.bus.on(this, 'tick', (t) => {
      if (t.final) this.metrics?.flush();
      writeSummary(a, ctx.report(), t.final, this.s.heartbeatIntervalS);
      this.tellNewFailures(ctx);
    });
    writeSummary(a, ctx.report(), false, this.s.heartbeatIntervalS);
    this.tellNewFailures(ctx);
  }

  /**
   * A JSON or YAML file of the folder the disk refused (summary.json on a full disk, say) keeps
   * its last content; the store records it and answers false, and later writes are tried again.
   * Each file that fails is told once: one log line and one `output_failed` event (on a full
   * disk the event may not reach events.jsonl, but it reaches MQTT); how often it failed is in
   * summary.json's artifacts_failures and counts.artifact_write_failures.
   */
  private tellNewFailures(ctx: PluginContext): void {
    for (const f of ctx.artifacts.failed) {
      const key = `${f.file} ${f.code}`;
      if (this.told.has(key)) continue;
      this.told.add(key);
      // The JSON-lines files are told by guard(), which gives them up.
      if (this.failures.some((g) => g.file === f.file)) continue;
      ctx.log.error(
        { file: f.file, code: f.code },
        `artifacts: ${f.message}; the file keeps its last content and is written again at the next chance, the run goes on`,
      );
      ctx.record('output_failed', ctx.session.samples, `artifacts: ${f.message}`, { file: f.file, code: f.code });
    }
  }

  private readonly told = new Set<string>();
  private store: PluginContext['artifacts'] | undefined;

  /**
   * A JSON-lines file that stops taking writes (ENOSPC, EIO) is given up alone and recorded;
   * summary.json goes on being rewritten (the run folder keeps a reserve for it), so the
   * run's heartbeat and verdict stay readable. Anything else is this plug-in's failure.
   */
  private guard(ctx: PluginContext, which: 'events' | 'metrics', write: () => void): void {
    try {
      write();
    } catch (e) {
      if (!isOutputError(e)) throw e;
      const file = which === 'events' ? this.events : this.metrics;
      if (which === 'events') this.events = undefined;
      else this.metrics = undefined;
      try {
        file?.close();
      } catch {
        // Already failing: closing it can fail the same way.
      }
      this.failures.push({ file: e.path, code: e.code, time: new Date().toISOString() });
      ctx.log.error({ file: e.path, code: e.code }, `artifacts: ${e.message}; that file is given up, the run goes on`);
      ctx.record('output_failed', ctx.session.samples, `artifacts: ${e.message}`, { file: e.path, code: e.code });
    }
  }

  private readonly failures: { file: string; code: string; time: string }[] = [];

  report(): { sections: Record<string, unknown>; counts: Record<string, number> } {
    const writes = (this.store?.failed ?? []).reduce((n, f) => n + f.count, 0);
    return { sections: { artifact_writer_failures: this.failures }, counts: { artifact_write_failures: writes } };
  }

  stop(): void {
    try {
      this.metrics?.close();
      this.events?.close();
    } catch (e) {
      if (!isOutputError(e)) throw e;
    }
    this.metrics = undefined;
    this.events = undefined;
  }
}

/**
 * summary.json: verdict first, then the heartbeat, then every plug-in's sections, the
 * acceptance criteria and the counts. `passed` is every enabled criterion passing.
 */
export function summaryOf(
  r: MergedReport,
  final: boolean,
  heartbeatIntervalS: number,
  dir: string,
): Record<string, unknown> {
  const acceptance = {
    ...r.acceptance,
    plugins: { enabled: true, evaluated: true, passed: r.disabled.length === 0, disabled: r.disabled.length },
  };
  const passed = Object.values(acceptance).every((x) => !x.enabled || x.passed);
  const { exit, error, exit_code: exitCode, ...sections } = r.sections;
  return {
    passed,
    ...heartbeatFields(
      heartbeatIntervalS,
      final
        ? {
            exit: typeof exit === 'string' ? exit : 'completed',
            error: typeof error === 'string' ? error : null,
            exitCode: typeof exitCode === 'number' ? exitCode : exit === 'error' ? 1 : 0,
          }
        : undefined,
    ),
    ...sections,
    acceptance,
    counts: r.counts,
    plugins: { disabled: r.disabled },
    artifacts_dir: dir,
  };
}

import { existsSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../common/errors.js';
import { loadConfig, type Config } from './config.js';
import { ARTIFACT_FILES, artifactsRootFrom, listRuns, readSummary, type RootSource } from '../outputs/artifacts.js';
import { judgeRun, verdictLine } from '../runs/judge.js';
import { readJsonl } from '../runs/jsonl.js';
import { PACKAGE_ROOT } from '../common/paths.js';

export interface StatusCliOptions {
  config?: string;
  set: string[];
  artifacts?: string;
  json?: boolean;
}

/** The package's own configuration (the demo), as `run` uses it. */
const DEFAULT_CONFIG = join(PACKAGE_ROOT, 'configs', 'realtime_config.yaml');

/** Where an installed station keeps its configuration (scripts/install.sh puts it there). */
export const INSTALLED_CONFIG = '/etc/myostream/realtime_config.yaml';

/**
 * The configuration a read-only command (status, collect) goes by: --config, else the
 * installed one, else the package's. Paths are not checked: a technician reading runs need
 * not be able to write where the service writes.
 */
export function readOnlyConfig(o: { config?: string; set: string[] }): Config {
  const file =
    o.config ??
    (existsSync(INSTALLED_CONFIG) ? INSTALLED_CONFIG : existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  return loadConfig(file, o.set, { checkPaths: false });
}

/** systemd's StateDirectory=myostream without $STATE_DIRECTORY (a technician's shell). */
export const SERVICE_RUNS = '/var/lib/myostream/runs';

/**
 * The runs root a read-only command looks in, and which setting named it. When nothing names
 * one and ./artifacts holds no runs, the service's state folder and then the package's own
 * ./artifacts are tried: a technician's shell has neither $STATE_DIRECTORY nor the service's
 * working directory.
 */
export function runsRoot(o: { config?: string; set: string[]; artifacts?: string }): {
  root: string;
  from: RootSource;
} {
  if (o.artifacts) return { root: resolve(o.artifacts), from: '--artifacts' };
  const chosen = artifactsRootFrom(readOnlyConfig(o).outputs.artifacts_root);
  if (chosen.from !== 'working directory' || listRuns(chosen.root).length > 0) return chosen;
  const fallbacks: { root: string; from: RootSource }[] = [
    { root: SERVICE_RUNS, from: "the service's state folder" },
    { root: join(PACKAGE_ROOT, 'artifacts'), from: 'the package folder' },
  ];
  return fallbacks.find((f) => listRuns(f.root).length > 0) ?? chosen;
}

interface Disabled {
  plugin: string;
  during: string;
  message: string;
}

/**
 * Plug-ins the run disabled after a failure: from summary.json, else from events.jsonl
 * (`plugin_failed`). A summary that is older than the events (a full disk refused the later
 * ones) lists fewer, so both are read.
 */
function disabledOutputs(summary: Record<string, unknown>, events: { kind?: string; detail?: string }[]): string[] {
  const listed = (summary['disabled'] ?? (summary['plugins'] as Record<string, unknown> | undefined)?.['disabled']) as
    Disabled[] | undefined;
  const fromSummary = Array.isArray(listed) ? listed.map((d) => `${d.plugin} (during ${d.during}): ${d.message}`) : [];
  const named = new Set(Array.isArray(listed) ? listed.map((d) => d.plugin) : []);
  const fromEvents = events
    .filter((e) => e.kind === 'plugin_failed' && ![...named].some((n) => String(e.detail).startsWith(`plug-in ${n} `)))
    .map((e) => String(e.detail));
  return [...fromSummary, ...fromEvents];
}

/** Files of the run (or an output's) that failed a write but were not a plug-in's end (`output_failed`). */
function failedWrites(events: { kind?: string; detail?: string }[]): string[] {
  return events.filter((e) => e.kind === 'output_failed').map((e) => String(e.detail));
}

/**
 * What a technician asks first: is the newest run alive, did it pass, in which mode is it, how
 * fast is it, which outputs failed. Reads summary.json (written atomically, so a running run
 * reads fine) and events.jsonl (a torn last line is skipped and said).
 */
export function statusCommand(o: StatusCliOptions): number {
  const { dir, root, from } = chooseRun(o);
  const summaryPath = join(dir, ARTIFACT_FILES.summary);
  if (!existsSync(summaryPath)) throw new UserError(`${summaryPath}: no summary (is ${dir} a run folder?)`);
  const summary = readSummary(dir);
  if (!summary) throw new UserError(`${summaryPath}: not a valid JSON object`);
  const eventsPath = join(dir, ARTIFACT_FILES.events);
  const ev = readJsonl<{ kind?: string; detail?: string; time?: string }>(eventsPath);
  const verdict = judgeRun(summary);
  const disabled = disabledOutputs(summary, ev.records);
  const failed = failedWrites(ev.records);
  if (o.json) {
    process.stdout.write(
      JSON.stringify({
        run: dir,
        root,
        root_from: from,
        state: verdict,
        disabled_outputs: disabled,
        failed_writes: failed,
        events_file: {
          records: ev.records.length,
          torn_last_line: ev.torn,
          bad_lines: ev.corrupt.map((c) => c.line),
          corrupt_lines: ev.corrupt,
        },
        ...summary,
        // The judge's verdict, not the run's own `passed` (which a run that then died still holds).
        summary_passed: summary['passed'] ?? null,
        passed: verdict.passed ?? null,
        verdict: verdict.verdict,
        verdict_reason: verdict.reason,
      }) + '\n',
    );
    return 0;
  }
  const lat = summary['latency'] as { t_compute_p50_ms?: number | null; t_compute_p95_ms?: number | null } | undefined;
  const counts = summary['counts'] as Record<string, number> | undefined;
  const switches = (summary['mode_switches'] as { reason: string }[] | undefined) ?? [];
  const lastEvent = ev.records[ev.records.length - 1];
  const lines = [
    `run       ${dir}`,
    `root      ${root} (from ${from})`,
    `state     ${verdict.text}`,
    `verdict   ${verdictLine(verdict)}`,
    `mode      ${String(summary['mode_final'])} (configured ${String(summary['mode_configured'])}, policy ${String(summary['feature_policy'])})`,
    `steps     ${counts?.['poses'] ?? '?'} poses, ${counts?.['gaps'] ?? 0} gaps, ${counts?.['overwritten_samples'] ?? 0} samples overwritten`,
    `T_compute P50 ${lat?.t_compute_p50_ms ?? '–'} ms, P95 ${lat?.t_compute_p95_ms ?? '–'} ms`,
    ...switches.map((s) => `fallback  ${s.reason}`),
    ...disabled.map((d) => `disabled  ${d}`),
    ...failed.map((d) => `failed    ${d}`),
    ...((summary['artifacts_failures'] as { message?: string; time?: string }[] | undefined) ?? []).map(
      (f) => `artifacts ${String(f.message)} (at ${String(f.time)})`,
    ),
    `events    ${ev.records.length}${lastEvent ? ` (last: ${String(lastEvent.kind)} at ${String(lastEvent.time)})` : ''}` +
      (ev.torn ? '; the last line of events.jsonl is torn (skipped)' : '') +
      (ev.corrupt[0]
        ? `; ${ev.corrupt.length} corrupt line(s) skipped, the first: line ${ev.corrupt[0].line} at byte offset ${ev.corrupt[0].offset} (${ev.corrupt[0].reason})`
        : ''),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

export function chooseRun(o: StatusCliOptions): { dir: string; root: string; from: RootSource } {
  if (o.artifacts && existsSync(join(o.artifacts, ARTIFACT_FILES.summary))) {
    const dir = resolve(o.artifacts);
    return { dir, root: resolve(dir, '..'), from: '--artifacts' };
  }
  const { root, from } = runsRoot(o);
  return { dir: newestRun(root, from), root, from };
}

export function newestRun(root: string, from: RootSource): string {
  const latest = join(root, 'latest');
  if (existsSync(latest)) return realpathSync(latest);
  const runs = listRuns(root);
  const last = runs[runs.length - 1];
  if (!last) {
    throw new UserError(
      `no runs under ${root} (from ${from}); the order is --artifacts, outputs.artifacts_root, $MYOSTREAM_ARTIFACTS, $STATE_DIRECTORY/runs, ./artifacts, ${SERVICE_RUNS}, the package's artifacts/`,
    );
  }
  return last.dir;
}

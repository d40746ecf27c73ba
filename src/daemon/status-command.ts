import { existsSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../common/errors.js';
import { artifactsRoot } from '../outputs/artifacts.js';
import { configFromCli, type CommonCliOptions } from './bootstrap.js';

export interface StatusCliOptions extends CommonCliOptions {
  json?: boolean;
}

/**
 * What a technician asks first: did the newest run pass, in which mode is it, how fast is it.
 * Reads the newest run folder's summary.json and latency_stats.json (written atomically, so
 * a running run reads fine too).
 */
export function statusCommand(o: StatusCliOptions): number {
  const cfg = configFromCli(o);
  const root = artifactsRoot(cfg.outputs.artifacts_root);
  const dir = o.artifacts ?? newestRun(root);
  const summaryPath = join(dir, 'summary.json');
  if (!existsSync(summaryPath)) throw new UserError(`${summaryPath}: no summary (is ${dir} a run folder?)`);
  let summary: Record<string, unknown>;
  try {
    summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${summaryPath}: not valid JSON (${(e as Error).message})`);
  }
  if (o.json) {
    process.stdout.write(JSON.stringify({ run: dir, ...summary }) + '\n');
    return 0;
  }
  const lat = summary['latency'] as { t_compute_p50_ms?: number | null; t_compute_p95_ms?: number | null } | undefined;
  const counts = summary['counts'] as Record<string, number> | undefined;
  const switches = (summary['mode_switches'] as { reason: string }[] | undefined) ?? [];
  const lines = [
    `run       ${dir}`,
    `state     ${summary['finished'] ? `finished (${String(summary['exit'])})` : 'running'}, updated ${String(summary['updated_at'] ?? '?')}`,
    `verdict   ${summary['passed'] ? 'PASSED' : 'NOT PASSED'}`,
    `mode      ${String(summary['mode_final'])} (configured ${String(summary['mode_configured'])}, policy ${String(summary['feature_policy'])})`,
    `steps     ${counts?.['poses'] ?? '?'} poses, ${counts?.['gaps'] ?? 0} gaps, ${counts?.['overwritten_samples'] ?? 0} samples overwritten`,
    `T_compute P50 ${lat?.t_compute_p50_ms ?? '–'} ms, P95 ${lat?.t_compute_p95_ms ?? '–'} ms`,
    ...switches.map((s) => `fallback  ${s.reason}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

export function newestRun(root: string): string {
  const latest = join(root, 'latest');
  if (existsSync(latest)) return realpathSync(latest);
  let runs: string[] = [];
  try {
    runs = readdirSync(root).filter((d) => d.startsWith('run-')).sort();
  } catch {
    // handled below
  }
  const last = runs[runs.length - 1];
  if (!last) throw new UserError(`no runs under ${root} (outputs.artifacts_root); start one with myostream run`);
  return join(root, last);
}

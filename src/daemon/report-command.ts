import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../common/errors.js';
import { writeFileAtomic } from '../common/atomic-write.js';
import { DEFAULT_MAX_POINTS, buildReportData, renderReportHtml } from '../runs/html-report.js';
import { readRunFolder } from '../runs/folder.js';
import type { CommonCliOptions } from './bootstrap.js';
import { chooseRun } from './status-command.js';

export interface ReportCliOptions extends CommonCliOptions {
  out?: string;
  maxPoints?: string;
}

export const REPORT_FILE = 'report.html';

export interface ReportResult {
  path: string;
  bytes: number;
  state: string;
  charts: number;
}

/** Builds report.html of one run folder (finished, running or crashed) and writes it atomically. */
export function writeRunReport(dir: string, opts: { out?: string; maxPoints?: number; now?: Date } = {}): ReportResult {
  const run = readRunFolder(dir);
  const wd = run.config?.value?.['watchdog'] as Record<string, unknown> | undefined;
  const hb = typeof wd?.['status_interval_s'] === 'number' ? wd['status_interval_s'] : 5;
  const data = buildReportData(run, {
    maxPoints: opts.maxPoints ?? DEFAULT_MAX_POINTS,
    now: opts.now ?? new Date(),
    defaultHeartbeatS: hb,
  });
  const html = renderReportHtml(run, data);
  const path = opts.out ? resolve(opts.out) : join(dir, REPORT_FILE);
  try {
    writeFileAtomic(path, html);
  } catch (e) {
    throw new UserError(`${path}: cannot write the report (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return { path, bytes: statSync(path).size, state: data.state.kind, charts: data.charts.length };
}

/**
 * The stream folders of a several-stream run (streams.json in its root), or null for a
 * one-stream folder.
 */
export function streamFolders(dir: string): string[] | null {
  const index = join(dir, 'streams.json');
  if (!existsSync(index)) return null;
  let streams: unknown;
  try {
    streams = (JSON.parse(readFileSync(index, 'utf8')) as { streams?: unknown }).streams;
  } catch (e) {
    throw new UserError(`${index}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(streams)) throw new UserError(`${index}: no "streams" list`);
  return streams.map((s: { stream_id?: unknown }, i) => {
    if (typeof s?.stream_id !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(s.stream_id))
      throw new UserError(`${index}: streams[${i}].stream_id is not a folder name`);
    return join(dir, s.stream_id);
  });
}

/**
 * `myostream report [RUN]`: RUN defaults to the newest run under outputs.artifacts_root. A
 * several-stream run gets one page per stream, in each stream's folder.
 */
export function reportCommand(run: string | undefined, o: ReportCliOptions): number {
  let maxPoints: number | undefined;
  if (o.maxPoints !== undefined) {
    maxPoints = Number(o.maxPoints);
    if (!Number.isInteger(maxPoints) || maxPoints < 10)
      throw new UserError(`--max-points: expected an integer ≥ 10, got "${o.maxPoints}"`);
  }
  // The same search as `status`: from any directory, the configured root or the service's.
  const dir =
    run !== undefined
      ? resolve(run)
      : chooseRun({ set: o.set, ...(o.config !== undefined ? { config: o.config } : {}) }).dir;
  const streams = streamFolders(dir);
  if (streams && o.out !== undefined)
    throw new UserError(`--out: ${dir} holds ${streams.length} streams, each gets its own report.html`);
  for (const d of streams ?? [dir]) {
    const r = writeRunReport(d, {
      ...(o.out !== undefined ? { out: o.out } : {}),
      ...(maxPoints !== undefined ? { maxPoints } : {}),
    });
    process.stdout.write(`${r.path} (${(r.bytes / 1024).toFixed(0)} KiB, ${r.charts} charts, run ${r.state})\n`);
  }
  return 0;
}

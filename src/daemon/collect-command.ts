import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir, uptime } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../common/errors.js';
import { ARTIFACT_FILES, listRuns, readSummary, RUN_DIR, type RunEntry } from '../outputs/artifacts.js';
import { REPORT_FILE, writeRunReport } from './report-command.js';
import { runsRoot } from './status-command.js';
import { judgeRun, verdictLine } from '../runs/judge.js';
import { packageVersion } from './version.js';

export interface CollectCliOptions {
  config?: string;
  set: string[];
  artifacts?: string;
  since?: string;
  output?: string;
  unit: string;
}

/** "2026-12-01T20:00Z", "2026-12-01 20:00", or an age: 90s, 30m, 2h, 3d. */
export function parseSince(text: string, now = Date.now()): number {
  const rel = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(text.trim());
  if (rel) return now - Number(rel[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[rel[2] as 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(text);
  if (!Number.isFinite(t))
    throw new UserError(`--since ${text}: expected a time (2026-12-01T20:00Z) or an age (30m, 2h, 3d)`);
  return t;
}

/** A run's span: started_at (or the time in its folder name) to its last heartbeat. */
function span(r: RunEntry): { start: number; end: number } {
  const s = r.summary ?? {};
  const fromName = /^run-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(r.name);
  const nameTime = fromName
    ? Date.UTC(+fromName[1]!, +fromName[2]! - 1, +fromName[3]!, +fromName[4]!, +fromName[5]!, +fromName[6]!)
    : NaN;
  const start = typeof s['started_at'] === 'string' ? Date.parse(s['started_at']) : nameTime;
  const updated = typeof s['updated_at'] === 'string' ? Date.parse(s['updated_at']) : NaN;
  const st = Number.isFinite(start) ? start : Date.now();
  return {
    start: st,
    end:
      s['finished'] === true && Number.isFinite(updated)
        ? updated
        : Math.max(Date.now(), Number.isFinite(updated) ? updated : st),
  };
}

function chooseRuns(o: CollectCliOptions, named: string[]): { root: string; runs: RunEntry[] } {
  const { root, from } = runsRoot(o);
  if (named.length > 0) {
    const runs = named.map((n): RunEntry => {
      const dir = existsSync(join(root, n)) && RUN_DIR.test(basename(n)) ? join(root, n) : resolve(n);
      if (!existsSync(join(dir, ARTIFACT_FILES.summary)))
        throw new UserError(
          `${n}: not a run folder (looked for ${join(dir, ARTIFACT_FILES.summary)}; runs root ${root} from ${from})`,
        );
      return { name: basename(dir), dir, bytes: 0, summary: readSummary(dir) };
    });
    return { root, runs };
  }
  const all = listRuns(root);
  if (all.length === 0) throw new UserError(`no runs under ${root} (from ${from})`);
  if (o.since === undefined) return { root, runs: incidentRuns(all) };
  const since = parseSince(o.since);
  const runs = all.filter((r) => span(r).end >= since);
  if (runs.length === 0) throw new UserError(`no run under ${root} was active since ${new Date(since).toISOString()}`);
  return { root, runs };
}

/**
 * What a technician needs after an incident: every run since the machine last booted (when the
 * service last started with it) that did not end cleanly (died, crashed, exited by itself,
 * stale), the one the watchdog just killed included, and the latest run, in run order.
 */
export function incidentRuns(all: readonly RunEntry[], bootedAt = Date.now() - uptime() * 1000): RunEntry[] {
  const latest = all[all.length - 1];
  return all.filter((r) => {
    if (r === latest) return true;
    const updated = typeof r.summary?.['updated_at'] === 'string' ? Date.parse(r.summary['updated_at']) : NaN;
    // Its last heartbeat, not the span: an unfinished run's span reaches to now.
    if ((Number.isFinite(updated) ? updated : span(r).start) < bootedAt) return false;
    const state = r.summary ? judgeRun(r.summary).state : 'died';
    return state !== 'finished' && state !== 'running';
  });
}

/**
 * runs/<run>/ of the archive: links to every file of the run and a report.html made now (the
 * run's state as it stands), so the archive opens in a browser without myostream.
 */
function stageRun(r: RunEntry, into: string): string {
  mkdirSync(into);
  for (const f of readdirSync(r.dir)) {
    if (f !== REPORT_FILE) symlinkSync(join(r.dir, f), join(into, f));
  }
  try {
    writeRunReport(r.dir, { out: join(into, REPORT_FILE) });
    return `runs/${r.name}/${REPORT_FILE}`;
  } catch (e) {
    return `not made: ${e instanceof Error ? e.message : String(e)}`;
  }
}

interface JournalResult {
  file: string;
  status: string;
  command: string[] | null;
}

/** The unit's journal over [from, to], or a note saying why there is none. */
function journalExcerpt(into: string, unit: string, from: number, to: number): JournalResult {
  const args = [
    '-u',
    unit,
    '--since',
    `@${Math.floor(from / 1000)}`,
    '--until',
    `@${Math.ceil(to / 1000)}`,
    '--no-pager',
    '-o',
    'short-iso-precise',
  ];
  const note = (why: string): JournalResult => {
    writeFileSync(
      join(into, 'journal-none.txt'),
      `No journal excerpt: ${why}\nCommand: journalctl ${args.join(' ')}\n`,
    );
    return { file: 'journal-none.txt', status: why, command: ['journalctl', ...args] };
  };
  const r = spawnSync('journalctl', args, { encoding: 'utf8', maxBuffer: 512 * 1048576, timeout: 60_000 });
  if (r.error)
    return note(
      (r.error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'journalctl is not installed on this host'
        : `journalctl failed to start (${r.error.message})`,
    );
  if (r.status !== 0)
    return note(`journalctl exited ${String(r.status)}: ${(r.stderr || '').trim().split('\n')[0] ?? ''}`);
  const lines = r.stdout.split('\n').filter((l) => l.trim() !== '' && !/^-- No entries --$/.test(l.trim()));
  if (lines.length === 0) {
    const hint = (r.stderr || '').trim().split('\n')[0];
    return note(
      `journalctl has no entries for unit ${unit} in this span${hint ? ` (${hint})` : ''}; the service may not run under systemd here, or the journal was rotated away`,
    );
  }
  writeFileSync(join(into, 'journal.txt'), r.stdout);
  return { file: 'journal.txt', status: `${lines.length} lines`, command: ['journalctl', ...args] };
}

/**
 * `myostream collect`: the chosen runs (every file of each, config_snapshot.yaml included), the
 * unit's journal over the same span and a manifest, as one tar.gz for a technician to carry
 * off. Packed with the system's GNU tar; the archive appears under its name only when complete.
 */
export function collectCommand(o: CollectCliOptions, named: string[]): number {
  const { root, runs } = chooseRuns(o, named);
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const out = resolve(o.output ?? `myostream-collect-${hostname()}-${stamp}.tar.gz`);
  if (!existsSync(dirname(out))) throw new UserError(`-o ${out}: folder ${dirname(out)} does not exist`);
  const staging = mkdtempSync(join(tmpdir(), 'myostream-collect-'));
  const bundleName = `myostream-collect-${stamp}`;
  const bundle = join(staging, bundleName);
  const tmpOut = `${out}.${process.pid}.tmp`;
  try {
    mkdirSync(join(bundle, 'runs'), { recursive: true });
    const reports = runs.map((r) => stageRun(r, join(bundle, 'runs', r.name)));
    const spans = runs.map(span);
    const from = Math.min(...spans.map((s) => s.start)) - 60_000;
    const to = Math.max(...spans.map((s) => s.end)) + 60_000;
    const journal = journalExcerpt(bundle, o.unit, from, to);
    const manifest = {
      tool: 'myostream collect',
      version: packageVersion(),
      host: hostname(),
      created_at: new Date().toISOString(),
      runs_root: root,
      span: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
      runs: runs.map((r, i) => ({
        name: r.name,
        source_dir: r.dir,
        started_at: new Date(spans[i]!.start).toISOString(),
        state: r.summary ? judgeRun(r.summary).text : 'no summary.json',
        verdict: verdictLine(judgeRun(r.summary ?? null)),
        config_snapshot: existsSync(join(r.dir, ARTIFACT_FILES.config))
          ? `runs/${r.name}/${ARTIFACT_FILES.config}`
          : 'missing',
        report: reports[i],
      })),
      journal,
    };
    writeFileSync(join(bundle, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    // -h packs the run folders the links point at; a running run's files are replaced
    // atomically, so a file swapped mid-read is still whole (tar exits 1 and says so).
    const t = spawnSync(
      'tar',
      [
        '-czhf',
        tmpOut,
        '--exclude=.*.tmp',
        '--exclude=.space-reserve',
        '--warning=no-file-changed',
        '--warning=no-file-removed',
        '-C',
        staging,
        bundleName,
      ],
      { encoding: 'utf8' },
    );
    if (t.error)
      throw new UserError(`collect needs tar on PATH (${(t.error as NodeJS.ErrnoException).code ?? t.error.message})`);
    if (t.status !== 0 && t.status !== 1)
      throw new UserError(`tar exited ${String(t.status)}: ${t.stderr.trim().split('\n')[0] ?? ''}`);
    renameSync(tmpOut, out);
    process.stdout.write(
      `${out}: ${runs.length} run(s) (${runs.map((r) => r.name).join(', ')}), journal: ${journal.status}\n`,
    );
    return 0;
  } finally {
    rmSync(staging, { recursive: true, force: true });
    rmSync(tmpOut, { force: true });
  }
}

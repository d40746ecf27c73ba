import {
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { OutputError, UserError, errorMessage } from '../common/errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../common/atomic-write.js';
import type { Logger } from '../common/logger.js';
import { outputPathProblem } from '../config/path-check.js';
import { JsonlWriter, type JsonlOptions } from './jsonl-writer.js';
import type { ArtifactFailure, ArtifactStore } from '../domain/plugin.js';

/** Names of the files a run leaves behind (the names USAGE.md documents). */
export const ARTIFACT_FILES = {
  alignment: 'streaming_alignment.json',
  latency: 'latency_stats.json',
  metrics: 'streaming_metrics.jsonl',
  summary: 'summary.json',
  config: 'config_snapshot.yaml',
  modelInfo: 'model_info.json',
  events: 'events.jsonl',
} as const;

export type RootSource =
  | '--artifacts'
  | 'outputs.artifacts_root'
  | 'MYOSTREAM_ARTIFACTS'
  | 'STATE_DIRECTORY'
  | 'working directory'
  | "the service's state folder"
  | 'the package folder';

/**
 * Where runs go, and which setting said so. First that is set wins: outputs.artifacts_root
 * (config file or --set), $MYOSTREAM_ARTIFACTS, $STATE_DIRECTORY/runs (systemd's
 * StateDirectory=), else ./artifacts.
 */
export function artifactsRootFrom(configured: string): { root: string; from: RootSource } {
  if (configured) return { root: resolve(configured), from: 'outputs.artifacts_root' };
  const env = process.env['MYOSTREAM_ARTIFACTS'];
  if (env) return { root: resolve(env), from: 'MYOSTREAM_ARTIFACTS' };
  const state = process.env['STATE_DIRECTORY'];
  if (state) return { root: join(state.split(':')[0]!, 'runs'), from: 'STATE_DIRECTORY' };
  return { root: resolve('artifacts'), from: 'working directory' };
}

/** Where runs go when neither --artifacts nor outputs.artifacts_root says (see artifactsRootFrom). */
export function artifactsRoot(configured: string): string {
  return artifactsRootFrom(configured).root;
}

/** Run folder names: run-<UTC time>-<pid>; sorted by name = sorted by start. */
export const RUN_DIR = /^run-\d{8}T\d{6}Z-\d+$/;

export interface RotationSettings {
  /** Rotate streaming_metrics.jsonl past this many MB (0 = never). */
  rotate_mb: number;
  /** Rotated metrics files kept per run. */
  rotate_keep: number;
}

export type { ArtifactFailure } from '../domain/plugin.js';

/** Bytes set aside in each run folder for the summary that says the disk is full. */
export const RESERVE_BYTES = 32 * 1024;
const RESERVE_NAME = '.space-reserve';
const SPACE_CODES = new Set(['ENOSPC', 'EDQUOT']);

/**
 * One run's folder. Every JSON/YAML file is replaced atomically (temp, fsync, rename), so a
 * technician pulling files mid-run or after a crash always reads complete ones; the JSON-lines
 * files only ever grow by whole lines. Every write failure is an OutputError naming the file.
 *
 * A full disk must not silence the run's own account of it: the folder holds a small reserve
 * file, released at the first ENOSPC, so that summary.json can still be rewritten saying which
 * write failed and why (`artifacts_failures`, merged into every later summary), and `status`
 * can tell a technician.
 */
export class RunArtifacts implements ArtifactStore {
  private readonly failures: ArtifactFailure[] = [];
  private lastSummary: Record<string, unknown> | undefined;
  private reserveHeld = false;
  /** Folders this process opened whose summary does not yet record an end. */
  private static readonly unfinished = new Set<RunArtifacts>();
  private exitRecorded = false;

  private constructor(
    readonly dir: string,
    private readonly rotation: RotationSettings,
  ) {}

  /** The writes of this folder that failed, oldest first. */
  get failed(): readonly ArtifactFailure[] {
    return this.failures;
  }

  /** `explicitDir` (--artifacts) is used as is; otherwise a new run-<time>-<pid> folder under the root. */
  static create(
    root: string,
    explicitDir?: string,
    rotation: RotationSettings = { rotate_mb: 0, rotate_keep: 4 },
  ): RunArtifacts {
    const base = explicitDir ? { root: resolve(explicitDir), from: '--artifacts' as const } : artifactsRootFrom(root);
    const problem = outputPathProblem(base.root, 'dir');
    if (problem) throw new UserError(`artifacts folder ${base.root} (from ${base.from}): ${problem}`);
    const dir = explicitDir
      ? base.root
      : join(
          base.root,
          `run-${new Date()
            .toISOString()
            .replace(/[-:]/g, '')
            .replace(/\.\d+Z$/, 'Z')}-${process.pid}`,
        );
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new UserError(
        `artifacts folder ${dir} (from ${base.from}): cannot create (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      );
    }
    const a = new RunArtifacts(dir, rotation);
    a.holdReserve();
    if (!explicitDir) a.pointLatest();
    RunArtifacts.unfinished.add(a);
    return a;
  }

  /**
   * Records how this process ends in every run folder it opened and did not finish, so that a
   * run that stops itself after start (a configuration error found late, an output that cannot
   * go on) reads `exited <code>: <reason>` rather than looking as if it died. Later summary
   * writes (a heartbeat still due) leave the record alone.
   */
  static recordExit(code: number, reason: string): void {
    for (const a of RunArtifacts.unfinished) {
      RunArtifacts.unfinished.delete(a);
      const last = a.lastSummary ?? {};
      const hb = typeof last['heartbeat_interval_s'] === 'number' ? last['heartbeat_interval_s'] : 5;
      // On a full disk this write fails too; writeJson records that and the process still ends
      // with its one line: the folder then reads `ended unrecorded`.
      a.writeJson(ARTIFACT_FILES.summary, {
        ...last,
        ...heartbeatFields(hb, { exit: 'exited', error: reason, exitCode: code }),
      });
      a.exitRecorded = true;
    }
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Replaces a JSON file atomically. A write the disk refuses (ENOSPC, EIO, EROFS) is recorded
   * (artifacts_failures) and answered with false rather than thrown: the file keeps its previous
   * content and the run goes on; the next write may succeed once space is freed.
   */
  writeJson(name: string, value: unknown): boolean {
    if (name === ARTIFACT_FILES.summary && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      if (this.exitRecorded) return true;
      if ((value as Record<string, unknown>)['finished'] === true) RunArtifacts.unfinished.delete(this);
      this.lastSummary = value as Record<string, unknown>;
      return this.guarded(name, () => writeJsonAtomic(this.path(name), this.withFailures(this.lastSummary!), name));
    }
    return this.guarded(name, () => writeJsonAtomic(this.path(name), value, name));
  }

  writeYaml(name: string, value: unknown): boolean {
    return this.guarded(name, () => writeFileAtomic(this.path(name), stringifyYaml(value, { lineWidth: 0 }), name));
  }

  private withFailures(summary: Record<string, unknown>): Record<string, unknown> {
    return this.failures.length > 0 ? { ...summary, artifacts_failures: this.failures } : summary;
  }

  /**
   * Runs a write; on a full disk records it, releases the reserve and (for the summary) retries
   * once. False when the write failed (recorded).
   */
  private guarded(name: string, write: () => void): boolean {
    try {
      write();
      return true;
    } catch (e) {
      if (!(e instanceof OutputError)) throw e;
      const released = this.noteFailure(e, name !== ARTIFACT_FILES.summary);
      if (name === ARTIFACT_FILES.summary && released) {
        try {
          write();
          return true;
        } catch (again) {
          if (!(again instanceof OutputError)) throw again;
          this.noteFailure(again, false);
        }
      }
      return false;
    }
  }

  /**
   * Records a failed write. On the first full-disk failure the reserve is released and, unless
   * the summary is being written anyway, the last summary is rewritten with the failure in it.
   * Returns whether space was released.
   */
  private noteFailure(e: OutputError, rewriteSummary: boolean): boolean {
    const now = new Date().toISOString();
    const known = this.failures.find((f) => f.file === e.path && f.code === e.code);
    if (known) {
      known.count++;
      known.last_time = now;
    } else {
      this.failures.push({ file: e.path, code: e.code, message: e.message, time: now, count: 1, last_time: now });
    }
    if (!SPACE_CODES.has(e.code) || !this.reserveHeld) return false;
    this.reserveHeld = false;
    try {
      unlinkSync(this.path(RESERVE_NAME));
    } catch {
      return false;
    }
    if (rewriteSummary && this.lastSummary) {
      try {
        writeJsonAtomic(this.path(ARTIFACT_FILES.summary), this.withFailures(this.lastSummary), ARTIFACT_FILES.summary);
      } catch {
        // nothing more can be said on this disk
      }
    }
    return true;
  }

  private holdReserve(): void {
    const p = this.path(RESERVE_NAME);
    let fd: number | undefined;
    try {
      fd = openSync(p, 'w', 0o600);
      const zeros = Buffer.alloc(RESERVE_BYTES);
      let off = 0;
      while (off < zeros.length) off += writeSync(fd, zeros, off, zeros.length - off);
      fsyncSync(fd);
      this.reserveHeld = true;
    } catch {
      // No room even for the reserve: the run goes on without it.
      try {
        unlinkSync(p);
      } catch {
        /* never created */
      }
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /**
   * events.jsonl is durable (each record written and fdatasynced as it comes: an event that
   * happened is on disk before the next step); streaming_metrics.jsonl is batched and rotated
   * by size; `options` overrides either.
   */
  jsonl(name: string, options: JsonlOptions = {}): JsonlWriter {
    const defaults: JsonlOptions =
      name === ARTIFACT_FILES.events
        ? { durable: true }
        : name === ARTIFACT_FILES.metrics
          ? { rotateBytes: Math.round(this.rotation.rotate_mb * 1048576), rotateKeep: this.rotation.rotate_keep }
          : {};
    const own = options.onFailure;
    return new JsonlWriter(this.path(name), name, {
      ...defaults,
      ...options,
      onFailure: (e) => {
        this.noteFailure(e, true);
        own?.(e);
      },
    });
  }

  /** `latest` beside the run folders points at the newest run (replaced atomically). */
  private pointLatest(): void {
    const parent = resolve(this.dir, '..');
    const tmp = join(parent, `.latest.${process.pid}`);
    try {
      rmSync(tmp, { force: true });
      symlinkSync(basename(this.dir), tmp);
      renameSync(tmp, join(parent, 'latest'));
    } catch {
      // A filesystem without symlinks still gets the run folder itself.
    }
  }
}

/** Start time of a process in clock ticks since boot (/proc/PID/stat field 22): tells a pid reused by another process. */
export function processStartTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

const OWN_START = processStartTicks(process.pid);

/**
 * What summary.json must carry for `myostream status` to tell a live run from a dead one:
 * who writes it (pid, its start time, host), how often it promises to (the status interval),
 * when it last did, and how it ended. Spread into summary.json on every write; `end` once the
 * run has ended (exit: completed | interrupted | exited | error, error: the reason, exit_code:
 * the exit code this run ends the process with; null while it runs).
 */
export function heartbeatFields(
  heartbeatIntervalS: number,
  end?: { exit: string; error?: string | null; exitCode?: number | null },
): Record<string, unknown> {
  return {
    pid: process.pid,
    pid_start: OWN_START ?? null,
    host: hostname(),
    heartbeat_interval_s: heartbeatIntervalS,
    updated_at: new Date().toISOString(),
    finished: end !== undefined,
    exit: end?.exit ?? 'running',
    error: end?.error ?? null,
    exit_code: end?.exitCode ?? null,
  };
}

export type Liveness = 'alive' | 'gone' | 'other-host' | 'unknown';

/** Whether the process that wrote a summary still runs (same host, same pid, same start time). */
export function writerLiveness(summary: Record<string, unknown>): Liveness {
  const pid = summary['pid'];
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return 'unknown';
  if (typeof summary['host'] === 'string' && summary['host'] !== hostname()) return 'other-host';
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return 'gone';
  }
  const start = summary['pid_start'];
  if (typeof start === 'number') {
    const now = processStartTicks(pid);
    if (now !== undefined && now !== start) return 'gone';
  }
  return 'alive';
}

export interface RunEntry {
  name: string;
  dir: string;
  bytes: number;
  summary: Record<string, unknown> | undefined;
}

/** The run folders under `root`, oldest first. */
export function listRuns(root: string): RunEntry[] {
  let names: string[];
  try {
    names = readdirSync(root)
      .filter((n) => RUN_DIR.test(n))
      .sort();
  } catch {
    return [];
  }
  const runs: RunEntry[] = [];
  for (const name of names) {
    const dir = join(root, name);
    try {
      if (!lstatSync(dir).isDirectory()) continue;
    } catch {
      continue;
    }
    runs.push({ name, dir, bytes: treeBytes(dir), summary: readSummary(dir) });
  }
  return runs;
}

export function readSummary(dir: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(readFileSync(join(dir, ARTIFACT_FILES.summary), 'utf8')) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function treeBytes(dir: string): number {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    try {
      if (e.isDirectory()) total += treeBytes(p);
      else if (e.isFile()) total += lstatSync(p).size;
    } catch {
      // vanished while counting (an atomic replace): counted on the next prune
    }
  }
  return total;
}

export interface RetentionSettings {
  /** Keep at most this many run folders (0 = no limit). */
  max_runs: number;
  /** Keep the run folders' total under this many MB (0 = no limit). */
  max_total_mb: number;
}

export interface PruneResult {
  removed: { name: string; bytes: number }[];
  kept: number;
  keptBytes: number;
  /** Runs over the limits that were left because their writer still runs. */
  protectedRuns: string[];
}

/**
 * Retention: removes the oldest run folders under `root` until at most max_runs remain and
 * their total is under max_total_mb. Never removes this process's run nor any run whose
 * writer is alive (pid and start time match on this host; a run from another host is kept
 * unless it says it finished). Folders not named like a run are never touched.
 */
export function pruneRuns(root: string, limits: RetentionSettings, log?: Logger): PruneResult {
  const runs = listRuns(root);
  const maxBytes = limits.max_total_mb > 0 ? limits.max_total_mb * 1048576 : Infinity;
  const maxRuns = limits.max_runs > 0 ? limits.max_runs : Infinity;
  let count = runs.length;
  let bytes = runs.reduce((s, r) => s + r.bytes, 0);
  const result: PruneResult = { removed: [], kept: 0, keptBytes: 0, protectedRuns: [] };
  for (const r of runs) {
    if (count <= maxRuns && bytes <= maxBytes) break;
    if (isProtected(r)) {
      result.protectedRuns.push(r.name);
      continue;
    }
    try {
      rmSync(r.dir, { recursive: true, force: true });
    } catch (e) {
      log?.warn({ run: r.dir, error: errorMessage(e) }, 'retention: could not remove run folder');
      continue;
    }
    count--;
    bytes -= r.bytes;
    result.removed.push({ name: r.name, bytes: r.bytes });
    log?.info({ run: r.dir, bytes: r.bytes }, 'retention: removed old run folder');
  }
  result.kept = count;
  result.keptBytes = bytes;
  const latest = join(root, 'latest');
  if (result.removed.length > 0 && lstatExists(latest) && !existsSync(latest)) rmSync(latest, { force: true });
  return result;
}

function lstatExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function isProtected(r: RunEntry): boolean {
  const s = r.summary;
  if (!s) {
    // No summary yet: a run that has just started. Its folder name carries its pid.
    const pid = Number(r.name.slice(r.name.lastIndexOf('-') + 1));
    return pid === process.pid || writerLiveness({ pid }) === 'alive';
  }
  if (s['pid'] === process.pid && s['host'] === hostname()) return true;
  const live = writerLiveness(s);
  if (live === 'alive') return true;
  if (live === 'other-host') return s['finished'] !== true;
  return false;
}

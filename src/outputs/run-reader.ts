import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../common/errors.js';
import { ARTIFACT_FILES, writerLiveness, type Liveness } from './artifacts.js';
import { readJsonl as readJsonlContents } from './jsonl-writer.js';

/**
 * Reads a run folder as it is, finished, still running or left behind by a crash. JSON and YAML
 * files are replaced atomically, so they are whole or absent; JSON-lines files grow by batches,
 * so the last line of a running (or killed) run may be cut: that one line is skipped and
 * counted, a bad line anywhere else is an error naming the file and byte offset.
 */
export interface JsonlRead<T> {
  records: T[];
  /** 1 when the last line was incomplete (the writer was mid-batch), else 0. */
  tornTail: number;
}

export function readJsonl<T = Record<string, unknown>>(path: string): JsonlRead<T> {
  if (!existsSync(path)) return { records: [], tornTail: 0 };
  const c = readJsonlContents<T>(path);
  if (c.firstBad) throw new UserError(`${path}: line at byte offset ${c.firstBad.offset} is not valid JSON (${c.firstBad.reason})`);
  return { records: c.records, tornTail: c.torn ? 1 : 0 };
}

export function readJsonOrNull<T = Record<string, unknown>>(path: string): T | null {
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

export function readYamlOrNull(path: string): { text: string; value: Record<string, unknown> | null } | null {
  if (!existsSync(path)) return null;
  const text = readFileSync(path, 'utf8');
  try {
    return { text, value: (parseYaml(text) as Record<string, unknown> | null) ?? null };
  } catch (e) {
    throw new UserError(`${path}: not valid YAML (${(e as Error).message})`);
  }
}

export type RunStateKind = 'finished' | 'running' | 'crashed';

/** The report's three-way view of a run's state: finished, running or not (crashed, stale, died). */
export interface RunState {
  kind: RunStateKind;
  /** One line for the header: how the state was decided. */
  why: string;
  /** The verdict to show (runPassed); undefined when the summary holds none. */
  passed?: boolean | undefined;
}

export type RunStateName = 'running' | 'stale' | 'died' | 'crashed' | 'exited' | 'finished' | 'unknown';

export interface RunVerdict {
  state: RunStateName;
  /** One line for a person, e.g. "died (pid 123 gone, last heartbeat 2026-… , 41 s ago)". */
  text: string;
  heartbeat_age_s: number | null;
}

/**
 * The one judge of how a run stands, for status, collect and the report: from what summary.json
 * says and whether its writer still runs (`liveness`: same host, same pid, same start time).
 * An end the run recorded wins: `exited N: reason` when it stopped itself with exit code N,
 * `crashed` when it recorded an error. `died` only when nothing recorded an end and the writer is
 * gone. A heartbeat is late once it is three intervals old (at least 10 s): the writer rewrites
 * the summary every interval, so that is two missed in a row plus slack for a busy disk.
 */
export function judgeRun(s: Record<string, unknown> | null, now = Date.now(), defaultHeartbeatS = 5, liveness: (s: Record<string, unknown>) => Liveness = writerLiveness): RunVerdict {
  if (!s) return { state: 'died', text: 'died before its first summary.json (no end recorded)', heartbeat_age_s: null };
  const updated = typeof s['updated_at'] === 'string' ? Date.parse(s['updated_at']) : NaN;
  const age = Number.isFinite(updated) ? Math.max(0, Math.round((now - updated) / 100) / 10) : null;
  const last = `last heartbeat ${String(s['updated_at'] ?? '?')}${age !== null ? `, ${age} s ago` : ''}`;
  if (s['finished'] === true) {
    const reason = String(s['error'] ?? 'no reason recorded');
    if (s['exit'] === 'exited') return { state: 'exited', text: `exited ${String(s['exit_code'] ?? '?')}: ${reason}`, heartbeat_age_s: age };
    if (s['exit'] === 'error') return { state: 'crashed', text: `crashed: ${reason}`, heartbeat_age_s: age };
    return { state: 'finished', text: `finished (${String(s['exit'] ?? '?')}), ${last}`, heartbeat_age_s: age };
  }
  const interval = typeof s['heartbeat_interval_s'] === 'number' && s['heartbeat_interval_s'] > 0 ? s['heartbeat_interval_s'] : defaultHeartbeatS;
  const late = age === null || age > Math.max(3 * interval, 10);
  const pid = s['pid'];
  const failures = Array.isArray(s['artifacts_failures']) ? (s['artifacts_failures'] as { message?: string; time?: string }[]) : [];
  const diskFailed = failures.find((f) => / (ENOSPC|EDQUOT|EIO|EROFS) /.test(String(f.message)));
  switch (liveness(s)) {
    case 'gone':
      // The artifacts disk failed: the run may have gone on (publishing) and ended where it
      // could no longer write, so its end is unknown rather than a crash.
      if (diskFailed) return { state: 'died', text: `ended unrecorded (pid ${String(pid)} gone, ${last}; the run folder stopped taking writes at ${String(diskFailed.time)}: ${String(diskFailed.message)})`, heartbeat_age_s: age };
      return { state: 'died', text: `died (pid ${String(pid)} gone, ${last})`, heartbeat_age_s: age };
    case 'alive':
      return late
        ? { state: 'stale', text: `stale (last heartbeat ${age ?? '?'} s ago; pid ${String(pid)} still runs but has stopped writing)`, heartbeat_age_s: age }
        : { state: 'running', text: `running (pid ${String(pid)}, ${last})`, heartbeat_age_s: age };
    case 'other-host':
      return late
        ? { state: 'stale', text: `stale (last heartbeat ${age ?? '?'} s ago, written on host ${String(s['host'])})`, heartbeat_age_s: age }
        : { state: 'running', text: `running on host ${String(s['host'])} (pid ${String(pid)}, ${last})`, heartbeat_age_s: age };
    default:
      return late
        ? { state: 'stale', text: `stale (last heartbeat ${age ?? '?'} s ago; the summary records no pid)`, heartbeat_age_s: age }
        : { state: 'unknown', text: `unknown: not finished, the summary records no pid (${last})`, heartbeat_age_s: age };
  }
}

/** PASSED needs the run's own verdict, at least one pose, and no recorded error or failing exit. */
export function runPassed(s: Record<string, unknown> | null, v: RunVerdict): boolean | undefined {
  if (!s || typeof s['passed'] !== 'boolean') return undefined;
  const poses = (s['counts'] as Record<string, unknown> | undefined)?.['poses'];
  if (typeof poses !== 'number' || poses <= 0) return false;
  if (v.state === 'crashed' || (v.state === 'exited' && s['exit_code'] !== 0)) return false;
  return s['passed'];
}

/**
 * The report's view of judgeRun. `alive` and `thisHost` replace the process check for a test;
 * by default the writer is checked as status checks it (pid and its start time).
 */
export function runState(summary: Record<string, unknown> | null, now: Date, defaultHeartbeatS: number, alive: (pid: number) => boolean = pidAlive, thisHost = hostname()): RunState {
  const injected = alive !== pidAlive || thisHost !== hostname();
  const liveness = injected
    ? (s: Record<string, unknown>): Liveness => {
        const pid = s['pid'];
        if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return 'unknown';
        if (typeof s['host'] === 'string' && s['host'] !== thisHost) return 'other-host';
        return alive(pid) ? 'alive' : 'gone';
      }
    : writerLiveness;
  const v = judgeRun(summary, now.getTime(), defaultHeartbeatS, liveness);
  const kind: RunStateKind = v.state === 'finished' || v.state === 'exited' ? 'finished' : v.state === 'running' || v.state === 'unknown' ? 'running' : 'crashed';
  return { kind, why: v.text, passed: runPassed(summary, v) };
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Everything of a run folder the report draws. */
export interface RunFolder {
  dir: string;
  summary: Record<string, unknown> | null;
  latency: Record<string, unknown> | null;
  alignment: Record<string, unknown> | null;
  modelInfo: Record<string, unknown> | null;
  config: { text: string; value: Record<string, unknown> | null } | null;
  metrics: JsonlRead<Record<string, unknown>>;
  events: JsonlRead<Record<string, unknown>>;
}

export function readRunFolder(dir: string): RunFolder {
  if (!existsSync(dir)) throw new UserError(`${dir}: no such run folder`);
  const p = (n: string): string => join(dir, n);
  const folder: RunFolder = {
    dir,
    summary: readJsonOrNull(p(ARTIFACT_FILES.summary)),
    latency: readJsonOrNull(p(ARTIFACT_FILES.latency)),
    alignment: readJsonOrNull(p(ARTIFACT_FILES.alignment)),
    modelInfo: readJsonOrNull(p(ARTIFACT_FILES.modelInfo)),
    config: readYamlOrNull(p(ARTIFACT_FILES.config)),
    metrics: readJsonl(p(ARTIFACT_FILES.metrics)),
    events: readJsonl(p(ARTIFACT_FILES.events)),
  };
  if (!folder.summary && !folder.config && folder.metrics.records.length === 0) {
    throw new UserError(`${dir}: not a run folder (no summary.json, config_snapshot.yaml or streaming_metrics.jsonl)`);
  }
  return folder;
}

import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../common/errors.js';
import { ARTIFACT_FILES } from './artifacts.js';
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

export interface RunState {
  kind: RunStateKind;
  /** One line for the header: how the state was decided. */
  why: string;
}

/**
 * Finished runs say so (`finished`, `exit`). An unfinished one is running while its summary is
 * fresh and its process alive; it is taken as crashed when the process is gone (checked only on
 * the host that wrote the summary) or the summary has not been refreshed for three heartbeats
 * (a hung daemon is as good as a crashed one to the person reading the report).
 */
export function runState(summary: Record<string, unknown> | null, now: Date, defaultHeartbeatS: number, alive: (pid: number) => boolean = pidAlive, thisHost = hostname()): RunState {
  if (!summary) return { kind: 'crashed', why: 'no summary.json: the run ended before its first artifact refresh' };
  if (summary['finished'] === true) return { kind: 'finished', why: `finished (exit: ${String(summary['exit'] ?? '?')})` };
  const hb = typeof summary['heartbeat_interval_s'] === 'number' && summary['heartbeat_interval_s'] > 0 ? summary['heartbeat_interval_s'] : defaultHeartbeatS;
  const updated = typeof summary['updated_at'] === 'string' ? Date.parse(summary['updated_at']) : NaN;
  const ageS = Number.isFinite(updated) ? (now.getTime() - updated) / 1000 : NaN;
  // A pid means something only on the machine that wrote it (files are often pulled elsewhere).
  const sameHost = typeof summary['host'] !== 'string' || summary['host'] === thisHost;
  const pid = typeof summary['pid'] === 'number' && sameHost ? summary['pid'] : null;
  if (pid !== null && !alive(pid)) return { kind: 'crashed', why: `not finished and process ${pid} is gone (last update ${fmtAge(ageS)} ago)` };
  if (!Number.isFinite(ageS)) return { kind: 'crashed', why: 'not finished and summary.json has no readable updated_at' };
  if (ageS > 3 * hb) return { kind: 'crashed', why: `not finished and no update for ${fmtAge(ageS)} (heartbeat every ${hb} s)` };
  return { kind: 'running', why: `running: updated ${fmtAge(ageS)} ago (heartbeat every ${hb} s)${pid !== null ? `, pid ${pid} alive` : ''}` };
}

function fmtAge(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 120) return `${Math.max(0, Math.round(s))} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
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

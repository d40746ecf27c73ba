import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../common/errors.js';
import { ARTIFACT_FILES, writerLiveness, type Liveness } from './artifacts.js';
import { readJsonl as readJsonlContents } from './jsonl-writer.js';
import { judgeRun, type RunVerdict } from './run-judge.js';

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
  /** The verdict to show; undefined when the summary holds none. */
  passed?: boolean | undefined;
  /** The judge's whole answer: verdict word and its reason. */
  verdict: RunVerdict;
}

export { judgeRun, verdictLine, type RunStateName, type RunVerdict, type VerdictWord } from './run-judge.js';

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
  return { kind, why: v.text, passed: v.passed, verdict: v };
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

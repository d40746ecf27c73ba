import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../common/errors.js';
import { ARTIFACT_FILES } from '../outputs/artifacts.js';
import { readJsonl, type JsonlRead } from './jsonl.js';

/*
 * Reads a run folder as it is, finished, still running or left behind by a crash. JSON and YAML
 * files are replaced atomically, so they are whole or absent; JSON-lines files grow by batches
 * and are read by the one JSON-lines reader (runs/jsonl.ts: a torn last line is skipped and
 * flagged, a corrupt line inside is skipped and reported with its byte offset).
 */

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

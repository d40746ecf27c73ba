import { mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { UserError } from '../common/errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../common/atomic-write.js';
import { JsonlWriter } from './jsonl-writer.js';

/** Names of the files a run leaves behind (the plan's names). */
export const ARTIFACT_FILES = {
  alignment: 'streaming_alignment.json',
  latency: 'latency_stats.json',
  metrics: 'streaming_metrics.jsonl',
  summary: 'summary.json',
  config: 'config_snapshot.yaml',
  modelInfo: 'model_info.json',
  events: 'events.jsonl',
} as const;

/** Where runs go when neither --artifacts nor outputs.artifacts_root says. */
export function artifactsRoot(configured: string): string {
  if (configured) return resolve(configured);
  const state = process.env['STATE_DIRECTORY'];
  if (state) return join(state.split(':')[0]!, 'runs');
  return resolve('artifacts');
}

/**
 * One run's folder. Every JSON/YAML file is replaced atomically (temp, fsync, rename), so a
 * technician pulling files mid-run or after a crash always reads complete ones; the JSON-lines
 * files only ever grow by whole lines.
 */
export class RunArtifacts {
  private constructor(readonly dir: string) {}

  /** `explicitDir` (--artifacts) is used as is; otherwise a new run-<time>-<pid> folder under the root. */
  static create(root: string, explicitDir?: string): RunArtifacts {
    const dir = explicitDir ? resolve(explicitDir) : join(artifactsRoot(root), `run-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${process.pid}`);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new UserError(`artifacts folder ${dir}: cannot create (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    const a = new RunArtifacts(dir);
    if (!explicitDir) a.pointLatest();
    return a;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  writeJson(name: string, value: unknown): void {
    writeJsonAtomic(this.path(name), value);
  }

  writeYaml(name: string, value: unknown): void {
    writeFileAtomic(this.path(name), stringifyYaml(value, { lineWidth: 0 }));
  }

  jsonl(name: string): JsonlWriter {
    return new JsonlWriter(this.path(name), 'artifact');
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

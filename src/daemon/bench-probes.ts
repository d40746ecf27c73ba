import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PACKAGE_ROOT } from '../common/paths.js';
import type { Percentiles } from './bench-paths.js';

// What `myostream bench` measures in other processes: the PyTorch reference and a fresh start.

export interface TorchResult {
  skipped?: string;
  torch?: string;
  threads?: number;
  steps?: number;
  window?: Percentiles & { mean_ms: number };
  incremental?: Percentiles & { mean_ms: number };
}

/** The PyTorch reference's sliding-window step (refer/bench_torch.py), if python3 + torch work. */
export function torchReference(steps: number, threads: number, seed: number | undefined): TorchResult {
  const script = join(PACKAGE_ROOT, 'refer', 'bench_torch.py');
  if (!existsSync(script)) return { skipped: `${script} not found` };
  const python = process.env['MYOSTREAM_PYTHON'] ?? 'python3';
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
  if (probe.status !== 0) {
    const why = probe.error ? probe.error.message : (probe.stderr.trim().split('\n').pop() ?? `exit ${probe.status}`);
    return { skipped: `${python} -c 'import torch' failed (${why})` };
  }
  const args = [
    script,
    '--steps',
    String(steps),
    '--threads',
    String(threads),
    ...(seed !== undefined ? ['--seed', String(seed)] : []),
  ];
  const r = spawnSync(python, args, { encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 20 });
  const last = r.stdout?.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !last.startsWith('{')) {
    return {
      skipped: `refer/bench_torch.py failed (${r.error?.message ?? r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`})`,
    };
  }
  return JSON.parse(last) as TorchResult;
}

export interface FirstPose {
  imports_ms: number;
  config_ms: number;
  models_ms: number;
  source_ms: number;
  first_pose_ms: number;
  model_load_ms: number;
  digests: Record<string, string>;
  rss_mb?: number;
  precision?: string;
}

/**
 * Time to the first pose of a fresh process (first-pose-probe.js: run's module graph, config,
 * openModels, source, streaming predictor, first step), twice: the first may hash the models,
 * the second starts with a warm digest cache, as every start after the first does.
 */
export function timeToFirstPose(o: { config?: string | undefined; set: readonly string[] }): {
  cold?: FirstPose;
  warm?: FirstPose;
  skipped?: string;
} {
  const probe = join(dirname(fileURLToPath(import.meta.url)), 'first-pose-probe.js');
  const args = [
    probe,
    ...(o.config !== undefined ? ['--config', o.config] : []),
    ...o.set.flatMap((s) => ['--set', s]),
  ];
  const once = (): FirstPose | string => {
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000 });
    const last = r.stdout?.trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !last.startsWith('{'))
      return `probe failed (${r.error?.message ?? (r.stderr.trim().split('\n').pop() || `exit ${r.status}`)})`;
    return JSON.parse(last) as FirstPose;
  };
  const cold = once();
  if (typeof cold === 'string') return { skipped: cold };
  const warm = once();
  if (typeof warm === 'string') return { cold, skipped: warm };
  return { cold, warm };
}

export function statSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

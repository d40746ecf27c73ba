import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/common/paths.js';
import { readTensorBundle, requireArray, type TensorBundle } from '../src/common/tensor-bundle.js';
import { silentLogger } from '../src/common/logger.js';
import { loadModels, type LoadedModels } from '../src/inference/models.js';

export const ROOT = PACKAGE_ROOT;
export const GOLDEN_INPUT = join(ROOT, 'models', 'golden', 'input.mtb');
export const GOLDEN_REFERENCE = join(ROOT, 'models', 'golden', 'reference.mtb');
export const CLI = join(ROOT, 'dist', 'src', 'main.js');

let reference: TensorBundle | undefined;
export function golden(name: string): Float32Array {
  reference ??= readTensorBundle(GOLDEN_REFERENCE);
  return requireArray(reference, name, GOLDEN_REFERENCE).data;
}

export function goldenInput(): Float32Array {
  return requireArray(readTensorBundle(GOLDEN_INPUT), 'emg', GOLDEN_INPUT).data;
}

let models: Promise<LoadedModels> | undefined;
/** CPU sessions on the committed models, shared by the tests of one file. */
export function cpuModels(): Promise<LoadedModels> {
  models ??= loadModels(join(ROOT, 'models'), { executionProviders: ['cpu'], deviceId: 0, intraOpThreads: 1, interOpThreads: 1 }, silentLogger());
  return models;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], opts: { cwd?: string; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

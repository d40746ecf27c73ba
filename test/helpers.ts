import { spawnSync } from 'node:child_process';
import { test, type TestContext, type TestOptions } from 'node:test';
import { closeSync, mkdtempSync, openSync, readFileSync, statSync, utimesSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/common/paths.js';
import { readTensorBundle, requireArray, type TensorBundle } from '../src/common/tensor-bundle.js';
import { silentLogger } from '../src/common/logger.js';
import { loadModels, type LoadedModels } from '../src/inference/models.js';
import { MODEL_KEYS_WITH_INCREMENTAL } from '../src/inference/incremental-encoder.js';
import { STREAM_STEP_MODEL_KEY } from '../src/inference/stream-step.js';
import type { PoseEvent } from '../src/domain/pose.js';
import { RingBuffer } from '../src/acquisition/ring-buffer.js';
import { NUM_CHANNELS } from '../src/domain/geometry.js';

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
  models ??= loadModels(
    join(ROOT, 'models'),
    { executionProviders: ['cpu'], deviceId: 0, intraOpThreads: 1, interOpThreads: 1 },
    silentLogger(),
  );
  return models;
}

let incremental: Promise<LoadedModels> | undefined;
/** cpuModels plus the cached encoder step's graphs (streaming with the incremental encoder). */
export function incrementalCpuModels(): Promise<LoadedModels> {
  incremental ??= loadModels(
    join(ROOT, 'models'),
    { executionProviders: ['cpu'], deviceId: 0, intraOpThreads: 1, interOpThreads: 1 },
    silentLogger(),
    [...MODEL_KEYS_WITH_INCREMENTAL, STREAM_STEP_MODEL_KEY],
  );
  return incremental;
}

/** What a test drives a predictor through: its steps over a ring, as the pipeline does. */
export interface Steppable {
  nextReadyAt: number;
  advance(ring: RingBuffer, emit: (e: PoseEvent) => void): Promise<number>;
  endInputAt?(sample: number): void;
}

/**
 * Every unit the ring holds, then (as the pipeline at the end of its input) every unit that
 * was waiting only for look-ahead samples that will not come.
 */
export async function stepToEnd(p: Steppable, ring: RingBuffer, emit: (e: PoseEvent) => void): Promise<void> {
  while (ring.written >= p.nextReadyAt) await p.advance(ring, emit);
  p.endInputAt?.(ring.written);
  while (ring.written >= p.nextReadyAt) await p.advance(ring, emit);
}

/** The golden input (or its first `samples`) in a ring of exactly that size. */
export function goldenRing(samples?: number): RingBuffer {
  const emg = goldenInput();
  const n = samples ?? emg.length / NUM_CHANNELS;
  const ring = RingBuffer.create(n, NUM_CHANNELS);
  ring.append(emg.subarray(0, n * NUM_CHANNELS));
  return ring;
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

let scratch: string | undefined;
/**
 * A temporary runs root for this test process: every CLI a test starts gets it as
 * MYOSTREAM_ARTIFACTS, so a run without --artifacts never writes into the repository's
 * ./artifacts nor moves its `latest` link.
 */
export function scratchArtifacts(): string {
  scratch ??= mkdtempSync(join(tmpdir(), 'myo-test-runs-'));
  return scratch;
}

/** The environment for a CLI a test starts (see scratchArtifacts). */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MYOSTREAM_ARTIFACTS: scratchArtifacts() };
  delete env['STATE_DIRECTORY'];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function runCli(
  args: readonly string[],
  opts: { cwd?: string; timeoutMs?: number; env?: Record<string, string | undefined> } = {},
): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? ROOT,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    env: cliEnv(opts.env),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface SmallFs {
  dir: string;
  /** Remounts it read-only (writes then fail with EROFS). */
  readOnly(): void;
  unmount(): void;
}

/**
 * A real tmpfs of `sizeK` kB, for tests of a full disk; undefined (with the reason in `why`)
 * where mounting is not allowed (not root, no CAP_SYS_ADMIN, a container without mount).
 */
export function smallTmpfs(sizeK: number, why: { reason?: string } = {}): SmallFs | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'myo-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeK}k`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    why.reason = `mount -t tmpfs refused (${r.error ? r.error.message : r.stderr.trim() || `exit ${r.status}`})`;
    return undefined;
  }
  return {
    dir,
    readOnly: () => {
      const ro = spawnSync('mount', ['-o', 'remount,ro', dir], { encoding: 'utf8' });
      if (ro.status !== 0) throw new Error(`remount ro: ${ro.stderr}`);
    },
    unmount: () => {
      spawnSync('umount', ['-l', dir]);
    },
  };
}

/** Whether a missing prerequisite fails its test (CI=true) instead of skipping it. */
export const PREREQUISITES_REQUIRED = process.env.CI === 'true';

/**
 * A test whose prerequisite may be missing on this machine: `opts.skip` is the reason it is
 * missing, or false. Locally the test skips and says why; under CI=true it fails with that
 * reason, so a CI machine that lacks a package cannot pass by skipping what it was to prove.
 */
export function prerequisiteTest(
  name: string,
  opts: TestOptions & { skip: string | false },
  body: (t: TestContext) => void | Promise<void>,
): void {
  const missing = opts.skip;
  if (missing === false) {
    test(name, opts, body);
  } else if (PREREQUISITES_REQUIRED) {
    test(name, { ...opts, skip: false }, () => {
      throw new Error(`prerequisite missing under CI=true: ${missing}`);
    });
  } else {
    test(name, opts, body);
  }
}

/** Polls `cond` every 10 ms until it holds; past the deadline fails naming what it waited for. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 4000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Flips one byte in the middle of `path` (a weight, in an ONNX file) and puts its mtime back: same size, same mtime, other content. */
export function damageKeepingStat(path: string): void {
  const st = statSync(path);
  const at = Math.floor(st.size / 2);
  const byte = readFileSync(path).subarray(at, at + 1)[0]!;
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from([byte ^ 0x40]), 0, 1, at);
  closeSync(fd);
  utimesSync(path, st.atimeMs / 1000, st.mtimeMs / 1000);
}

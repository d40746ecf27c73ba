import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { cpus, platform, arch, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import ort from 'onnxruntime-node';
import { fileURLToPath } from 'node:url';
import { RingBuffer } from '../acquisition/ring-buffer.js';
import { writeJsonAtomic } from '../common/atomic-write.js';
import { UserError } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { PACKAGE_ROOT } from '../common/paths.js';
import { readTensorBundle } from '../common/tensor-bundle.js';
import { WindowFrameEncoder, type FrameEncoder, type FrameListener } from '../inference/frame-encoder.js';
import { LEFT_CONTEXT, NUM_CHANNELS, RECEPTIVE_FIELD, STEP_SAMPLES } from '../domain/geometry.js';
import { INCREMENTAL_MODEL_KEY, incrementalEncoderFrom, type IncrementalFrameEncoder } from '../inference/incremental-encoder.js';
import { STREAM_STEP_MODEL_KEY } from '../inference/stream-step.js';
import type { LoadedModels } from '../inference/models.js';
import { ExactPredictor } from '../inference/exact-predictor.js';
import { StreamingPredictor, type FeaturePolicy } from '../inference/streaming-predictor.js';
import { ShadowCompanion } from '../supervision/shadow-companion.js';
import { artifactsRoot } from '../outputs/artifacts.js';
import type { PoseEvent } from '../domain/pose.js';
import type { Predictor } from '../inference/predictor.js';
import { bandwidthFloor } from './bandwidth-floor.js';
import { configFromCli, openModels } from './bootstrap.js';

export interface BenchCliOptions {
  /** Last stdout line = one JSON object (the table goes to stderr). */
  json: boolean;
  /** Timed steps per path after warm-up (default 2000). */
  steps?: number | string;
  config?: string;
  set: string[];
  /** Results file (default: bench-<time>-<pid>.json under the artifacts root). */
  out?: string;
  /** Feature policy of both paths (default sliding_window: every step needs a new frame). */
  policy?: FeaturePolicy;
  /** Time the PyTorch reference too when python3 + torch are there (default true). */
  torch?: boolean;
  /**
   * Steps each path runs before the other takes over (default 200). 1 = strict step-by-step
   * alternation, where each path evicts the other's weights from the CPU caches: the window
   * path is compute-bound and hardly notices, the incremental step and the LSTM step are
   * weight-bandwidth-bound and slow down ≈ 2× (see docs/incremental-encoder.md). In service
   * only one path runs, so turns of a few seconds of signal give the representative figures.
   */
  alternate?: number | string;
}

export const DEFAULT_BENCH_STEPS = 2000;
export const DEFAULT_ALTERNATE = 200;
const WARMUP_STEPS = 100;
/** Exact blocks timed per rollout kind (after one untimed block each). */
const EXACT_BLOCKS = 6;
/** Matrix-vector products timed for the bandwidth floor (split before and after the steps). */
const FLOOR_RUNS = 200;
/**
 * Issue targets on the 2-core CPU development machine: absolute ones for the incremental step,
 * ratios (which hold across noisy days, unlike absolute times) for the rest.
 */
const TARGETS = {
  incremental_p50_ms: 1.5,
  incremental_p95_ms: 3,
  ratio_p50: 5,
  supervised_to_bare_p50_max: 1.2,
  exact_block_speedup_min: 4,
  torch_window_to_bare_min: 10,
  step_to_floor_max: 1.5,
  time_to_first_pose_max_ms: 1000,
} as const;

interface Percentiles {
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}

interface PathStats extends Percentiles {
  mean_ms: number;
  max_ms: number;
  /** The FrameEncoder's part of T_compute (frame() calls of the step). */
  encoder: Percentiles & { mean_ms: number };
  /** The rest: single point / interpolation + LSTM step. */
  lstm_and_rest: Percentiles & { mean_ms: number };
}

/** FrameEncoder wrapper that adds up the time spent in frame() during one predictor step. */
class TimedFrameEncoder implements FrameEncoder {
  ms = 0;
  constructor(readonly inner: FrameEncoder) {}
  get onFrame(): FrameListener | undefined {
    return this.inner.onFrame;
  }
  set onFrame(f: FrameListener | undefined) {
    this.inner.onFrame = f;
  }
  get kind(): FrameEncoder['kind'] {
    return this.inner.kind;
  }
  reset(origin: number): void {
    this.inner.reset(origin);
  }
  readyAt(q: number): number {
    return this.inner.readyAt(q);
  }
  oldestNeeded(q: number): number {
    return this.inner.oldestNeeded(q);
  }
  async frame(ring: RingBuffer, q: number, out: Float32Array, outOffset: number): Promise<void> {
    const t0 = performance.now();
    await this.inner.frame(ring, q, out, outOffset);
    this.ms += performance.now() - t0;
  }
}

class Path {
  /** Wall time of the predictor's advance() (for the supervised path: the step and its shadow work). */
  readonly wall: Float64Array;
  /** T_compute as the predictor reports it. */
  readonly total: Float64Array;
  readonly enc: Float64Array;
  n = 0;
  /** `timed`: the encoder's share is measured (two-run steps only; a one-run step cannot be split). */
  constructor(readonly name: string, readonly predictor: Predictor, readonly timed: TimedFrameEncoder | undefined, steps: number) {
    this.wall = new Float64Array(steps);
    this.total = new Float64Array(steps);
    this.enc = new Float64Array(steps);
  }
  async step(ring: RingBuffer, record: boolean, emit: (e: PoseEvent) => void): Promise<void> {
    if (this.timed) this.timed.ms = 0;
    const t0 = performance.now();
    const ms = await this.predictor.advance(ring, emit);
    const wall = performance.now() - t0;
    if (record) {
      this.wall[this.n] = wall;
      this.total[this.n] = ms;
      this.enc[this.n] = this.timed ? this.timed.ms : NaN;
      this.n++;
    }
  }
  stats(): PathStats & { wall: Percentiles & { mean_ms: number; max_ms: number } } {
    const rest = this.total.map((t, i) => t - this.enc[i]!);
    const t = summarize(this.total);
    return { ...pick(t), mean_ms: t.mean_ms, max_ms: t.max_ms, encoder: summarize(this.enc, false), lstm_and_rest: summarize(rest, false), wall: summarize(this.wall) };
  }
}

function summarize(values: Float64Array, withMax = true): Percentiles & { mean_ms: number; max_ms: number } {
  const s = Float64Array.from(values).sort();
  const at = (p: number): number => r4(s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const r: Percentiles & { mean_ms: number; max_ms: number } = { p50_ms: at(50), p95_ms: at(95), p99_ms: at(99), mean_ms: r4(mean), max_ms: r4(s[s.length - 1]!) };
  if (!withMax) delete (r as Partial<typeof r>).max_ms;
  return r;
}

const pick = (p: Percentiles): Percentiles => ({ p50_ms: p.p50_ms, p95_ms: p.p95_ms, p99_ms: p.p99_ms });
const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** A callable gc() without --expose-gc on the command line (for clean heap figures). */
function gcFunction(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** Bench input: the golden recording (or seeded noise), tiled with every other copy reversed. */
function benchSignal(modelDir: string, samples: number): { data: Float32Array; source: string } {
  const golden = join(modelDir, 'golden', 'input.mtb');
  let base: Float32Array | undefined;
  if (existsSync(golden)) {
    const emg = readTensorBundle(golden).arrays.get('emg');
    if (emg && emg.shape[1] === NUM_CHANNELS) base = emg.data;
  }
  const out = new Float32Array(samples * NUM_CHANNELS);
  if (!base) {
    let seed = 12345;
    for (let i = 0; i < out.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      out[i] = (seed / 0x1_0000_0000 - 0.5) * 3.4;
    }
    return { data: out, source: 'seeded uniform noise (no golden/input.mtb)' };
  }
  const n = base.length / NUM_CHANNELS;
  for (let t = 0; t < samples; t++) {
    const tile = Math.floor(t / n);
    const i = t % n;
    const src = tile % 2 === 0 ? i : n - 1 - i;
    out.set(base.subarray(src * NUM_CHANNELS, (src + 1) * NUM_CHANNELS), t * NUM_CHANNELS);
  }
  return { data: out, source: `${golden} tiled (every other copy time-reversed)` };
}

interface TorchResult {
  skipped?: string;
  torch?: string;
  threads?: number;
  steps?: number;
  window?: Percentiles & { mean_ms: number };
  incremental?: Percentiles & { mean_ms: number };
}

/** The PyTorch reference's sliding-window step (refer/bench_torch.py), if python3 + torch work. */
function torchReference(steps: number, threads: number, seed: number | undefined): TorchResult {
  const script = join(PACKAGE_ROOT, 'refer', 'bench_torch.py');
  if (!existsSync(script)) return { skipped: `${script} not found` };
  const python = process.env['MYOSTREAM_PYTHON'] ?? 'python3';
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
  if (probe.status !== 0) {
    const why = probe.error ? probe.error.message : (probe.stderr.trim().split('\n').pop() ?? `exit ${probe.status}`);
    return { skipped: `${python} -c 'import torch' failed (${why})` };
  }
  const args = [script, '--steps', String(steps), '--threads', String(threads), ...(seed !== undefined ? ['--seed', String(seed)] : [])];
  const r = spawnSync(python, args, { encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 20 });
  const last = r.stdout?.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !last.startsWith('{')) {
    return { skipped: `refer/bench_torch.py failed (${r.error?.message ?? r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`})` };
  }
  return JSON.parse(last) as TorchResult;
}

function parseCount(flag: string, v: number | string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new UserError(`${flag} ${v}: expected a whole number from 1 to 1000000`);
  return n;
}

interface FirstPose {
  imports_ms: number;
  config_ms: number;
  models_ms: number;
  source_ms: number;
  first_pose_ms: number;
  model_load_ms: number;
  digests: Record<string, string>;
}

/**
 * Time to the first pose of a fresh process (first-pose-probe.js: run's module graph, config,
 * openModels, source, streaming predictor, first step), twice: the first may hash the models,
 * the second starts with a warm digest cache, as every start after the first does.
 */
function timeToFirstPose(o: BenchCliOptions): { cold?: FirstPose; warm?: FirstPose; skipped?: string } {
  const probe = join(dirname(fileURLToPath(import.meta.url)), 'first-pose-probe.js');
  const args = [probe, ...(o.config !== undefined ? ['--config', o.config] : []), ...o.set.flatMap((s) => ['--set', s])];
  const once = (): FirstPose | string => {
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000 });
    const last = r.stdout?.trim().split('\n').pop() ?? '';
    if (r.status !== 0 || !last.startsWith('{')) return `probe failed (${r.error?.message ?? (r.stderr.trim().split('\n').pop() || `exit ${r.status}`)})`;
    return JSON.parse(last) as FirstPose;
  };
  const cold = once();
  if (typeof cold === 'string') return { skipped: cold };
  const warm = once();
  if (typeof warm === 'string') return { cold, skipped: warm };
  return { cold, warm };
}

/** Block compute of a rollout kind: the same blocks of the same ring, alternating with the other kind. */
async function timeExactBlocks(kinds: readonly ExactPredictor[], ring: RingBuffer): Promise<Float64Array[]> {
  const out = kinds.map(() => new Float64Array(EXACT_BLOCKS));
  const blocksInRing = Math.max(1, Math.floor((ring.written - LEFT_CONTEXT) / kinds[0]!.blockSamples));
  const order = kinds.map((_, k) => k);
  for (let i = -1; i < EXACT_BLOCKS; i++) {
    // Which kind goes first alternates; i = -1 is the untimed first block of each.
    for (const k of i % 2 === 0 ? order : [...order].reverse()) {
      const x = kinds[k]!;
      x.restartAt(((i + 1) % blocksInRing) * x.blockSamples);
      const r = await x.runBlock(ring);
      if (i >= 0) out[k]![i] = r.computeMs;
    }
  }
  return out;
}

/**
 * `myostream bench`: in one process, on the same input, side by side in turns of `alternate`
 * steps (which one goes first rotates; 1 = step by step), after WARMUP_STEPS untimed steps each:
 *   window      the plan's sliding window through the whole encoder (--policy, default sliding_window)
 *   incremental the cached encoder step (same policy)
 *   bare        the daemon's streaming step (the configured policy and encoder, one stream_step run
 *               per step when runtime.streaming.fused_step is on), no supervision
 *   bare_two_runs  the same step as two runs (encoder step, then decoder step)
 *   supervised  the same step as bare with its live shadow exact block (alignment check on), as the daemon runs
 * then exact blocks with the stepped and the one-run (Loop) decoder rollout, the memory-bandwidth
 * floor (a matrix-vector product over the bare step's weight bytes, timed before and after the
 * steps), the PyTorch reference when python3 has torch, and the time to the first pose of a fresh
 * process. Models come from openModels, as `run` opens them. T_compute is what the predictor
 * measures; `wall` is the time around its advance() (for supervised: its shadow work too).
 */
export async function benchCommand(o: BenchCliOptions): Promise<number> {
  const steps = parseCount('--steps', o.steps, DEFAULT_BENCH_STEPS);
  const alternate = Math.min(steps, parseCount('--alternate', o.alternate, DEFAULT_ALTERNATE));
  const policy: FeaturePolicy = o.policy ?? 'sliding_window';
  if (policy !== 'sliding_window' && policy !== 'exact_grid') throw new UserError(`--policy ${String(policy)}: expected sliding_window or exact_grid`);
  const cfg = configFromCli({ ...(o.config !== undefined ? { config: o.config } : {}), set: o.set });
  const log = createLogger(cfg.logging.level, cfg.logging.format);
  const threads = { intra: cfg.runtime.intra_op_threads, inter: cfg.runtime.inter_op_threads, spinning: cfg.runtime.intra_op_spinning };
  if (cfg.runtime.streaming.encoder !== 'incremental') {
    throw new UserError(`runtime.streaming.encoder is ${cfg.runtime.streaming.encoder}: bench compares the window path with the incremental one the daemon runs by default; drop that --set`);
  }
  const models: LoadedModels = await openModels(cfg, log, true);
  if (!models.sessions[INCREMENTAL_MODEL_KEY]) throw new UserError('bench: the incremental encoder graph was not loaded');

  const totalSteps = WARMUP_STEPS + steps;
  const samples = Math.max(RECEPTIVE_FIELD + 39 + STEP_SAMPLES * totalSteps + 2 * 80, LEFT_CONTEXT + 2 * cfg.runtime.exact.block_samples);
  const signal = benchSignal(models.dir, samples);
  const ring = RingBuffer.create(samples, NUM_CHANNELS);
  ring.append(signal.data);

  const windowSamples = policy === 'sliding_window' ? cfg.runtime.streaming.window_samples : RECEPTIVE_FIELD;
  const blockSamples = cfg.runtime.exact.block_samples;
  const opts = { policy, blockSamples };
  const liveOpts = { policy: cfg.runtime.streaming.feature_policy, blockSamples };
  const winEnc = new TimedFrameEncoder(new WindowFrameEncoder(models.encoder, windowSamples));
  const incInner = incrementalEncoderFrom(models);
  const incEnc = new TimedFrameEncoder(incInner);
  // The daemon's step is timed whole: a timing wrapper around its encoder would hide the
  // incremental encoder from the predictor, which then could neither fuse nor spread its steps.
  const fusedStep = cfg.runtime.streaming.fused_step ? models.sessions[STREAM_STEP_MODEL_KEY] : undefined;
  const liveFused = { ...liveOpts, fusedStep };
  const bareStreaming = new StreamingPredictor(incrementalEncoderFrom(models), models.decoder, liveFused);
  const shadow = new ExactPredictor(models.encoder, models.decoder, blockSamples, false);
  const supStreaming = new StreamingPredictor(incrementalEncoderFrom(models), models.decoder, liveFused);
  const supervised = new ShadowCompanion(supStreaming, shadow, { onBlock: () => undefined });
  supervised.attach();
  const paths = [
    new Path('window', new StreamingPredictor(winEnc, models.decoder, opts), winEnc, steps),
    new Path('incremental', new StreamingPredictor(incEnc, models.decoder, opts), incEnc, steps),
    new Path('bare', bareStreaming, undefined, steps),
    new Path('bare_two_runs', new StreamingPredictor(incrementalEncoderFrom(models), models.decoder, liveOpts), undefined, steps),
    new Path('supervised', supStreaming, undefined, steps),
  ] as const;
  for (const p of paths) p.predictor.restartAt(0);
  const emit = (): void => {};

  const say = (line: string): void => void (o.json ? process.stderr : process.stdout).write(line + '\n');
  say(`bench: ${steps} timed steps per path after ${WARMUP_STEPS} warm-up steps, alternating every ${alternate} step(s); window/incremental policy ${policy}, ` +
    `bare/supervised policy ${liveOpts.policy}; window ${windowSamples} samples, ${models.providers['encoder']} EP, intra/inter-op threads ${threads.intra}/${threads.inter}, spinning ${threads.spinning ? 'on' : 'off'}`);

  // The bandwidth floor over the bytes a bare step streams: its encoder step's and decoder's weights.
  const stepBytes = ['decoder_step', INCREMENTAL_MODEL_KEY].reduce((a, k) => a + statSize(join(models.dir, models.info.models[k]!.path.replace(/^models\//, ''))), 0);
  const floor = await bandwidthFloor(stepBytes, Math.max(1, threads.intra), threads.spinning);
  const floorMs: number[] = [];
  for (let i = 0; i < 20; i++) await floor.run();
  for (let i = 0; i < FLOOR_RUNS / 2; i++) floorMs.push(await floor.run());

  // Untimed warm-up (first runs, session warm-up of the incremental encoder: timed separately).
  for (let i = 0; i < WARMUP_STEPS; i++) for (const p of i % 2 ? [...paths].reverse() : paths) await p.step(ring, false, emit);
  const incWarmupMs = (incInner as IncrementalFrameEncoder).lastWarmupMs;

  const gc = gcFunction();
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const gcEntries: PerformanceEntry[] = [];
  const obs = new PerformanceObserver((list) => void gcEntries.push(...list.getEntries()));
  obs.observe({ entryTypes: ['gc'] });
  const tStart = performance.now();
  for (let i0 = 0, turn = 0; i0 < steps; i0 += alternate, turn++) {
    const n = Math.min(alternate, steps - i0);
    for (let k = 0; k < paths.length; k++) {
      const p = paths[(k + turn) % paths.length]!;
      for (let i = 0; i < n; i++) await p.step(ring, true, emit);
    }
  }
  const tEnd = performance.now();
  const heapEndRaw = process.memoryUsage().heapUsed;
  await new Promise((r) => setImmediate(r)); // let the observer deliver
  obs.disconnect();
  gc?.();
  const heap1 = process.memoryUsage().heapUsed;
  for (let i = 0; i < FLOOR_RUNS / 2; i++) floorMs.push(await floor.run());
  await floor.session.release();

  say('timing exact blocks (stepped and one-run rollout) …');
  const stepped = new ExactPredictor(models.encoder, models.decoder, blockSamples, false);
  const looped = models.rollout ? new ExactPredictor(models.encoder, models.decoder, blockSamples, false, models.rollout) : undefined;
  const [steppedMs, loopedMs] = await timeExactBlocks(looped ? [stepped, looped] : [stepped], ring);

  const inRun = gcEntries.filter((e) => e.startTime >= tStart && e.startTime <= tEnd);
  const kinds: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };
  const byKind: Record<string, { count: number; total_ms: number; max_ms: number }> = {};
  for (const e of inRun) {
    const kind = kinds[(e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other';
    const k = (byKind[kind] ??= { count: 0, total_ms: 0, max_ms: 0 });
    k.count++;
    k.total_ms = r4(k.total_ms + e.duration);
    k.max_ms = r4(Math.max(k.max_ms, e.duration));
  }
  const gcStats = {
    count: inRun.length,
    total_ms: r4(inRun.reduce((a, e) => a + e.duration, 0)),
    max_ms: r4(inRun.reduce((a, e) => Math.max(a, e.duration), 0)),
    by_kind: byKind,
  };
  const heap = {
    forced_gc: gc !== undefined,
    before_bytes: heap0,
    after_bytes: heap1,
    retained_growth_bytes: heap1 - heap0,
    retained_growth_per_step_bytes: r4((heap1 - heap0) / (paths.length * steps)),
    heap_used_at_end_before_gc_bytes: heapEndRaw,
  };

  const win = paths[0].stats();
  const inc = paths[1].stats();
  const bare = paths[2].stats();
  const twoRuns = paths[3].stats();
  const sup = paths[4].stats();
  const ratio = r4(win.p50_ms / inc.p50_ms);
  const floorStats = summarize(Float64Array.from(floorMs));
  const exactStepped = summarize(steppedMs!);
  const exactLooped = loopedMs ? summarize(loopedMs) : undefined;
  const machine = {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    platform: platform(),
    arch: arch(),
    memory_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    onnxruntime_node: ort.env.versions.node ?? ort.env.versions.common,
    execution_provider: models.providers['encoder'] ?? 'cpu',
    intra_op_threads: threads.intra,
    inter_op_threads: threads.inter,
    intra_op_spinning: threads.spinning,
  };

  let torch: TorchResult = { skipped: '--no-torch' };
  if (o.torch !== false) {
    say('timing the PyTorch reference (refer/bench_torch.py) …');
    const seed = typeof models.info.weights?.['seed'] === 'number' ? (models.info.weights['seed'] as number) : undefined;
    torch = torchReference(Math.min(steps, 1000), Math.max(1, threads.intra), seed);
  }
  say('time to the first pose of a fresh process (twice) …');
  const ttfp = timeToFirstPose(o);
  const ttfpMs = ttfp.warm?.first_pose_ms ?? ttfp.cold?.first_pose_ms ?? null;

  const supToBare = r4(sup.wall.p50_ms / bare.wall.p50_ms);
  const exactSpeedup = exactLooped ? r4(exactStepped.p50_ms / exactLooped.p50_ms) : null;
  const torchToBare = torch.window ? r4(torch.window.p50_ms / bare.p50_ms) : null;
  const stepToFloor = r4(bare.p50_ms / floorStats.p50_ms);
  const oneRunToTwo = bareStreaming.isFused ? r4(bare.p50_ms / twoRuns.p50_ms) : null;
  // What the weights alone cost at the bandwidth just measured: the exact block's 250 decoder
  // steps each stream decoder_step's bytes, so no rollout of this model runs faster on this core.
  const decoderBytes = statSize(join(models.dir, models.info.models['decoder_step']!.path.replace(/^models\//, '')));
  const floorGbPerS = floor.bytes / floorStats.p50_ms / 1e6;
  const exactFloorMs = r4((shadow.points * decoderBytes) / floorGbPerS / 1e6);
  const met = {
    incremental_p50: inc.p50_ms <= TARGETS.incremental_p50_ms,
    incremental_p95: inc.p95_ms <= TARGETS.incremental_p95_ms,
    ratio_p50: ratio >= TARGETS.ratio_p50,
    supervised_to_bare: supToBare <= TARGETS.supervised_to_bare_p50_max,
    exact_block_speedup: exactSpeedup !== null && exactSpeedup >= TARGETS.exact_block_speedup_min,
    torch_window_to_bare: torchToBare === null ? null : torchToBare >= TARGETS.torch_window_to_bare_min,
    step_to_floor: stepToFloor <= TARGETS.step_to_floor_max,
    time_to_first_pose: ttfpMs === null ? null : ttfpMs <= TARGETS.time_to_first_pose_max_ms,
  };
  const result = {
    command: 'bench',
    time: new Date().toISOString(),
    machine,
    policy,
    live_policy: liveOpts.policy,
    steps,
    alternate_steps: alternate,
    warmup_steps: WARMUP_STEPS,
    window_samples: windowSamples,
    input: signal.source,
    window: win,
    incremental: { ...inc, session_warmup_ms: r4(incWarmupMs), init_graph: incInner.hasInitGraph },
    bare: { ...bare, one_run_steps: bareStreaming.fusedSteps },
    bare_two_runs: twoRuns,
    one_run_to_two_runs_p50: oneRunToTwo,
    one_run_to_two_runs_mean: bareStreaming.isFused ? r4(bare.mean_ms / twoRuns.mean_ms) : null,
    supervised: { ...sup, shared_decoder_steps: supStreaming.sharedSteps, shadow_blocks_skipped: supervised.shadowBlocksSkipped },
    ratio_p50: ratio,
    ratio_p95: r4(win.p95_ms / inc.p95_ms),
    encoder_ratio_p50: r4(win.encoder.p50_ms / inc.encoder.p50_ms),
    lstm_share_of_incremental_p50: r4(inc.lstm_and_rest.p50_ms / inc.p50_ms),
    supervised_to_bare_p50: supToBare,
    supervised_to_bare_mean: r4(sup.wall.mean_ms / bare.wall.mean_ms),
    exact_block: {
      block_samples: blockSamples,
      blocks: EXACT_BLOCKS,
      stepped: exactStepped,
      one_run: exactLooped ?? null,
      speedup_p50: exactSpeedup,
      weight_floor_ms: exactFloorMs,
      weight_floor_method: `${shadow.points} decoder steps × ${decoderBytes} bytes of decoder_step weights at the bandwidth floor's GB/s`,
      one_run_to_weight_floor_p50: exactLooped ? r4(exactLooped.p50_ms / exactFloorMs) : null,
      goal_ms: r4(exactStepped.p50_ms / TARGETS.exact_block_speedup_min),
    },
    bandwidth_floor: {
      method: 'onnxruntime MatMul [rows, 512] x [512, 1] over the bare step\'s weight bytes (decoder_step + encoder_incremental files), same threads',
      bytes: floor.bytes,
      ...floorStats,
      gb_per_s_p50: r4(floor.bytes / floorStats.p50_ms / 1e6),
    },
    step_to_floor_p50: stepToFloor,
    heap,
    gc: gcStats,
    torch_reference: {
      ...torch,
      ratio_torch_window_to_incremental_p50: torch.window ? r4(torch.window.p50_ms / inc.p50_ms) : null,
      ratio_torch_window_to_window_p50: torch.window ? r4(torch.window.p50_ms / win.p50_ms) : null,
      ratio_torch_window_to_bare_p50: torchToBare,
      ratio_torch_incremental_to_bare_p50: torch.incremental ? r4(torch.incremental.p50_ms / bare.p50_ms) : null,
    },
    time_to_first_pose: { ...ttfp, first_pose_ms: ttfpMs },
    targets: { ...TARGETS, met, all_met: Object.values(met).every((v) => v !== false) },
    wall_s: r4((tEnd - tStart) / 1000),
  };

  const file = o.out ?? join(artifactsRoot(cfg.outputs.artifacts_root), `bench-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${process.pid}.json`);
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeJsonAtomic(file, result);
  } catch (e) {
    throw new UserError(`bench results ${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }

  const f = (x: number): string => (Number.isNaN(x) ? '—' : x.toFixed(3)).padStart(8);
  const row = (name: string, s: PathStats & { wall: Percentiles & { mean_ms: number } }): string =>
    `${name.padEnd(12)} ${f(s.p50_ms)} ${f(s.p95_ms)} ${f(s.p99_ms)} ${f(s.mean_ms)} │ ${f(s.encoder.p50_ms)} ${f(s.lstm_and_rest.p50_ms)} │ ${f(s.wall.p50_ms)} ${f(s.wall.mean_ms)}`;
  const yn = (v: boolean | null): string => (v === null ? 'n/a' : v ? 'met' : 'MISSED');
  say('');
  say(`T_compute (ms)      p50      p95      p99     mean │ enc p50 lstm+rest p50 │ wall p50 wall mean`);
  for (const [name, st] of [['window', win], ['incremental', inc], ['bare', bare], ['2 runs', twoRuns], ['supervised', sup]] as const) say(row(name, st));
  if (oneRunToTwo !== null) {
    say(`bare step, one stream_step run / two runs: p50 ${oneRunToTwo.toFixed(3)}×, mean ${result.one_run_to_two_runs_mean!.toFixed(3)}× (${bareStreaming.fusedSteps} one-run steps)`);
  }
  say(`ratio window/incremental: p50 ${ratio.toFixed(2)}×, p95 ${result.ratio_p95.toFixed(2)}×; encoder alone p50 ${result.encoder_ratio_p50.toFixed(2)}×`);
  say(`supervised/bare (wall): p50 ${supToBare.toFixed(3)}×, mean ${result.supervised_to_bare_mean.toFixed(3)}× (${supStreaming.sharedSteps} steps carried a shadow point) [goal ≤ ${TARGETS.supervised_to_bare_p50_max}: ${yn(met.supervised_to_bare)}]`);
  say(`exact block (${blockSamples} + ${LEFT_CONTEXT} samples): stepped p50 ${exactStepped.p50_ms.toFixed(1)} ms, one run ${exactLooped ? exactLooped.p50_ms.toFixed(1) + ' ms' : 'n/a (no decoder_rollout)'}; ` +
    `speedup ${exactSpeedup ?? 'n/a'}× [goal ≥ ${TARGETS.exact_block_speedup_min}: ${yn(met.exact_block_speedup)}]`);
  say(`exact block weight floor: ${shadow.points} × ${(decoderBytes / 1e6).toFixed(1)} MB at ${floorGbPerS.toFixed(1)} GB/s = ${exactFloorMs.toFixed(1)} ms` +
    (exactLooped ? `; one run = ${result.exact_block.one_run_to_weight_floor_p50}× that floor; the goal's ${result.exact_block.goal_ms.toFixed(1)} ms is ${result.exact_block.goal_ms < exactFloorMs ? 'below' : 'above'} it` : ''));
  say(`bandwidth floor: ${(floor.bytes / 1e6).toFixed(1)} MB matrix-vector p50 ${floorStats.p50_ms.toFixed(3)} ms (${result.bandwidth_floor.gb_per_s_p50.toFixed(1)} GB/s); bare step / floor ${stepToFloor.toFixed(2)}× [goal ≤ ${TARGETS.step_to_floor_max}: ${yn(met.step_to_floor)}]`);
  say(`incremental: LSTM step + rest = ${(result.lstm_share_of_incremental_p50 * 100).toFixed(0)} % of its p50; session warm-up (frame 0) ${incWarmupMs.toFixed(2)} ms ` +
    `(${incInner.hasInitGraph ? 'init graph' : '45 steps'})`);
  say(`targets: incremental p50 ≤ ${TARGETS.incremental_p50_ms} ms ${yn(met.incremental_p50)}, p95 ≤ ${TARGETS.incremental_p95_ms} ms ${yn(met.incremental_p95)}, ` +
    `ratio ≥ ${TARGETS.ratio_p50} ${yn(met.ratio_p50)}`);
  say(`heap: ${heap.retained_growth_per_step_bytes} B/step retained (${gc ? 'after forced GC' : 'no forced GC'}); GC during run: ${gcStats.count} pauses, ` +
    `total ${gcStats.total_ms.toFixed(2)} ms, longest ${gcStats.max_ms.toFixed(2)} ms`);
  if (torch.skipped !== undefined) say(`PyTorch reference: skipped (${torch.skipped})`);
  else if (torch.window) {
    say(`PyTorch reference (torch ${torch.torch}, ${torch.threads} thread(s), ${torch.steps} steps): sliding-window step p50 ${torch.window.p50_ms.toFixed(3)} ms, ` +
      `cached step p50 ${torch.incremental?.p50_ms.toFixed(3) ?? '?'} ms; torch window / our bare step = ${torchToBare}× [goal ≥ ${TARGETS.torch_window_to_bare_min}: ${yn(met.torch_window_to_bare)}], ` +
      `torch cached / our bare step = ${result.torch_reference.ratio_torch_incremental_to_bare_p50}×`);
  }
  if (ttfp.skipped) say(`time to first pose: ${ttfp.skipped}`);
  if (ttfpMs !== null) {
    const w = ttfp.warm ?? ttfp.cold!;
    say(`time to first pose (fresh process, unpaced): ${ttfpMs.toFixed(0)} ms [goal ≤ ${TARGETS.time_to_first_pose_max_ms}: ${yn(met.time_to_first_pose)}] — imports ${w.imports_ms.toFixed(0)}, ` +
      `models ${w.model_load_ms.toFixed(0)} (${Object.values(w.digests).every((d) => d === 'cached') ? 'cached digests' : 'hashed'}), first step ${(w.first_pose_ms - w.source_ms).toFixed(0)} ms; ` +
      `first start ${ttfp.cold?.first_pose_ms.toFixed(0) ?? '?'} ms`);
  }
  say(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.platform}/${machine.arch}, node ${machine.node}, onnxruntime-node ${machine.onnxruntime_node}`);
  say(`results: ${file}`);
  if (o.json) {
    process.stdout.write(JSON.stringify({
      window: pick(win),
      incremental: pick(inc),
      bare: pick(bare),
      supervised: pick(sup.wall),
      ratio_p50: ratio,
      supervised_to_bare_p50: supToBare,
      exact_block_stepped_p50_ms: exactStepped.p50_ms,
      exact_block_one_run_p50_ms: exactLooped?.p50_ms ?? null,
      exact_block_speedup_p50: exactSpeedup,
      bandwidth_floor_p50_ms: floorStats.p50_ms,
      step_to_floor_p50: stepToFloor,
      torch_window_p50_ms: torch.window?.p50_ms ?? null,
      torch_incremental_p50_ms: torch.incremental?.p50_ms ?? null,
      torch_window_to_bare_p50: torchToBare,
      torch_incremental_to_bare_p50: result.torch_reference.ratio_torch_incremental_to_bare_p50,
      bare_two_runs: pick(twoRuns),
      one_run_to_two_runs_p50: oneRunToTwo,
      exact_block_weight_floor_ms: exactFloorMs,
      time_to_first_pose_ms: ttfpMs,
      steps,
      machine,
      results: file,
    }) + '\n');
  }
  return 0;
}

function statSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { cpus, platform, arch, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import ort from 'onnxruntime-node';
import { RingBuffer } from '../acquisition/ring-buffer.js';
import { writeJsonAtomic } from '../common/atomic-write.js';
import { UserError } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { PACKAGE_ROOT } from '../common/paths.js';
import { readTensorBundle } from '../common/tensor-bundle.js';
import { WindowFrameEncoder, type FrameEncoder } from '../inference/frame-encoder.js';
import { NUM_CHANNELS, RECEPTIVE_FIELD, STEP_SAMPLES } from '../domain/geometry.js';
import { MODEL_KEYS_WITH_INCREMENTAL, incrementalEncoderFrom, type IncrementalFrameEncoder } from '../inference/incremental-encoder.js';
import { loadModels, type LoadedModels } from '../inference/models.js';
import { StreamingPredictor, type FeaturePolicy } from '../inference/streaming-predictor.js';
import { artifactsRoot } from '../outputs/artifacts.js';
import type { PoseEvent } from '../domain/pose.js';
import { configFromCli } from './bootstrap.js';

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
/** Issue targets on the 2-core CPU development machine. */
const TARGETS = { incremental_p50_ms: 1.5, incremental_p95_ms: 3, ratio_p50: 5 } as const;

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
  readonly total: Float64Array;
  readonly enc: Float64Array;
  n = 0;
  constructor(readonly name: string, readonly predictor: StreamingPredictor, readonly timed: TimedFrameEncoder, steps: number) {
    this.total = new Float64Array(steps);
    this.enc = new Float64Array(steps);
  }
  async step(ring: RingBuffer, record: boolean, emit: (e: PoseEvent) => void): Promise<void> {
    this.timed.ms = 0;
    const ms = await this.predictor.advance(ring, emit);
    if (record) {
      this.total[this.n] = ms;
      this.enc[this.n] = this.timed.ms;
      this.n++;
    }
  }
  stats(): PathStats {
    const rest = this.total.map((t, i) => t - this.enc[i]!);
    const t = summarize(this.total);
    return { ...pick(t), mean_ms: t.mean_ms, max_ms: t.max_ms, encoder: summarize(this.enc, false), lstm_and_rest: summarize(rest, false) };
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

/**
 * `myostream bench`: the same input through the window and the incremental encoder, side by
 * side in one process, alternating in turns of `alternate` steps (which one goes first
 * alternates too; 1 = step by step), after WARMUP_STEPS untimed steps each. T_compute is what StreamingPredictor measures (frame +
 * single point + LSTM step); its encoder part is timed around the FrameEncoder's frame().
 */
export async function benchCommand(o: BenchCliOptions): Promise<number> {
  const steps = parseCount('--steps', o.steps, DEFAULT_BENCH_STEPS);
  const alternate = Math.min(steps, parseCount('--alternate', o.alternate, DEFAULT_ALTERNATE));
  const policy: FeaturePolicy = o.policy ?? 'sliding_window';
  if (policy !== 'sliding_window' && policy !== 'exact_grid') throw new UserError(`--policy ${String(policy)}: expected sliding_window or exact_grid`);
  const cfg = configFromCli({ ...(o.config !== undefined ? { config: o.config } : {}), set: o.set });
  const log = createLogger(cfg.logging.level, cfg.logging.format);
  const threads = { intra: cfg.runtime.intra_op_threads, inter: cfg.runtime.inter_op_threads };
  const models: LoadedModels = await loadModels(cfg.model.dir, {
    executionProviders: cfg.runtime.execution_providers,
    deviceId: cfg.runtime.device_id,
    intraOpThreads: threads.intra,
    interOpThreads: threads.inter,
  }, log, MODEL_KEYS_WITH_INCREMENTAL);

  const totalSteps = WARMUP_STEPS + steps;
  const samples = RECEPTIVE_FIELD + 39 + STEP_SAMPLES * totalSteps + 2 * 80;
  const signal = benchSignal(models.dir, samples);
  const ring = RingBuffer.create(samples, NUM_CHANNELS);
  ring.append(signal.data);

  const windowSamples = policy === 'sliding_window' ? cfg.runtime.streaming.window_samples : RECEPTIVE_FIELD;
  const opts = { policy, blockSamples: cfg.runtime.exact.block_samples };
  const winEnc = new TimedFrameEncoder(new WindowFrameEncoder(models.encoder, windowSamples));
  const incInner = incrementalEncoderFrom(models);
  const incEnc = new TimedFrameEncoder(incInner);
  const paths = [
    new Path('window', new StreamingPredictor(winEnc, models.decoder, opts), winEnc, steps),
    new Path('incremental', new StreamingPredictor(incEnc, models.decoder, opts), incEnc, steps),
  ] as const;
  for (const p of paths) p.predictor.restartAt(0);
  const emit = (): void => {};

  const say = (line: string): void => void (o.json ? process.stderr : process.stdout).write(line + '\n');
  say(`bench: ${steps} timed steps per path after ${WARMUP_STEPS} warm-up steps, alternating every ${alternate} step(s), policy ${policy}, window ${windowSamples} samples, ` +
    `${models.providers['encoder']} EP, intra/inter-op threads ${threads.intra}/${threads.inter}`);

  // Untimed warm-up (first runs, session warm-up of the incremental encoder: timed separately).
  for (let i = 0; i < WARMUP_STEPS; i++) for (const p of i % 2 ? [...paths].reverse() : paths) await p.step(ring, false, emit);
  const order = [paths, [paths[1], paths[0]]] as const;
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
    for (const p of order[turn % 2]!) for (let i = 0; i < n; i++) await p.step(ring, true, emit);
  }
  const tEnd = performance.now();
  const heapEndRaw = process.memoryUsage().heapUsed;
  await new Promise((r) => setImmediate(r)); // let the observer deliver
  obs.disconnect();
  gc?.();
  const heap1 = process.memoryUsage().heapUsed;

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
    retained_growth_per_step_bytes: r4((heap1 - heap0) / (2 * steps)),
    heap_used_at_end_before_gc_bytes: heapEndRaw,
  };

  const win = paths[0].stats();
  const inc = paths[1].stats();
  const ratio = r4(win.p50_ms / inc.p50_ms);
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
  };

  let torch: TorchResult = { skipped: '--no-torch' };
  if (o.torch !== false) {
    say('timing the PyTorch reference (refer/bench_torch.py) …');
    const seed = typeof models.info.weights?.['seed'] === 'number' ? (models.info.weights['seed'] as number) : undefined;
    torch = torchReference(Math.min(steps, 1000), Math.max(1, threads.intra), seed);
  }

  const met = {
    incremental_p50: inc.p50_ms <= TARGETS.incremental_p50_ms,
    incremental_p95: inc.p95_ms <= TARGETS.incremental_p95_ms,
    ratio_p50: ratio >= TARGETS.ratio_p50,
  };
  const result = {
    command: 'bench',
    time: new Date().toISOString(),
    machine,
    policy,
    steps,
    alternate_steps: alternate,
    warmup_steps: WARMUP_STEPS,
    window_samples: windowSamples,
    input: signal.source,
    window: win,
    incremental: { ...inc, session_warmup_ms: r4(incWarmupMs), init_graph: incInner.hasInitGraph },
    ratio_p50: ratio,
    ratio_p95: r4(win.p95_ms / inc.p95_ms),
    encoder_ratio_p50: r4(win.encoder.p50_ms / inc.encoder.p50_ms),
    lstm_share_of_incremental_p50: r4(inc.lstm_and_rest.p50_ms / inc.p50_ms),
    heap,
    gc: gcStats,
    torch_reference: {
      ...torch,
      ratio_torch_window_to_incremental_p50: torch.window ? r4(torch.window.p50_ms / inc.p50_ms) : null,
      ratio_torch_window_to_window_p50: torch.window ? r4(torch.window.p50_ms / win.p50_ms) : null,
    },
    targets: { ...TARGETS, met, all_met: met.incremental_p50 && met.incremental_p95 && met.ratio_p50 },
    wall_s: r4((tEnd - tStart) / 1000),
  };

  const file = o.out ?? join(artifactsRoot(cfg.outputs.artifacts_root), `bench-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${process.pid}.json`);
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeJsonAtomic(file, result);
  } catch (e) {
    throw new UserError(`bench results ${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }

  const f = (x: number): string => x.toFixed(3).padStart(8);
  const row = (name: string, s: PathStats): string =>
    `${name.padEnd(12)} ${f(s.p50_ms)} ${f(s.p95_ms)} ${f(s.p99_ms)} ${f(s.mean_ms)} │ ${f(s.encoder.p50_ms)} ${f(s.lstm_and_rest.p50_ms)}`;
  say('');
  say(`T_compute (ms)      p50      p95      p99     mean │ enc p50 lstm+rest p50`);
  say(row('window', win));
  say(row('incremental', inc));
  say(`ratio window/incremental: p50 ${ratio.toFixed(2)}×, p95 ${result.ratio_p95.toFixed(2)}×; encoder alone p50 ${result.encoder_ratio_p50.toFixed(2)}×`);
  say(`incremental: LSTM step + rest = ${(result.lstm_share_of_incremental_p50 * 100).toFixed(0)} % of its p50; session warm-up (frame 0) ${incWarmupMs.toFixed(2)} ms ` +
    `(${incInner.hasInitGraph ? 'init graph' : '45 steps'})`);
  say(`targets: incremental p50 ≤ ${TARGETS.incremental_p50_ms} ms ${met.incremental_p50 ? 'met' : 'MISSED'}, p95 ≤ ${TARGETS.incremental_p95_ms} ms ${met.incremental_p95 ? 'met' : 'MISSED'}, ` +
    `ratio ≥ ${TARGETS.ratio_p50} ${met.ratio_p50 ? 'met' : 'MISSED'}`);
  say(`heap: ${heap.retained_growth_per_step_bytes} B/step retained (${gc ? 'after forced GC' : 'no forced GC'}); GC during run: ${gcStats.count} pauses, ` +
    `total ${gcStats.total_ms.toFixed(2)} ms, longest ${gcStats.max_ms.toFixed(2)} ms`);
  if (torch.skipped !== undefined) say(`PyTorch reference: skipped (${torch.skipped})`);
  else if (torch.window) {
    say(`PyTorch reference (torch ${torch.torch}, ${torch.threads} thread(s), ${torch.steps} steps): sliding-window step p50 ${torch.window.p50_ms.toFixed(3)} ms, ` +
      `cached step p50 ${torch.incremental?.p50_ms.toFixed(3) ?? '?'} ms; torch window / our incremental p50 = ${result.torch_reference.ratio_torch_window_to_incremental_p50}×, ` +
      `torch window / our window = ${result.torch_reference.ratio_torch_window_to_window_p50}×`);
  }
  say(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.platform}/${machine.arch}, node ${machine.node}, onnxruntime-node ${machine.onnxruntime_node}`);
  say(`results: ${file}`);
  if (o.json) {
    process.stdout.write(JSON.stringify({
      window: pick(win),
      incremental: pick(inc),
      ratio_p50: ratio,
      steps,
      machine,
    }) + '\n');
  }
  return 0;
}

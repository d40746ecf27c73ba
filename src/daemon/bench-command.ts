import { mkdirSync } from 'node:fs';
import { cpus, platform, arch, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import ort from 'onnxruntime-node';
import { writeJsonAtomic } from '../common/atomic-write.js';
import { UserError } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { LEFT_CONTEXT } from '../domain/geometry.js';
import type { FeaturePolicy } from '../inference/streaming-predictor.js';
import { artifactsRoot } from '../outputs/artifacts.js';
import { bandwidthFloor } from './bandwidth-floor.js';
import {
  int8Results,
  requireIncremental,
  stepWeightBytes,
  streamsPerCore,
  type StreamsPerCore,
} from './bench-precision.js';
import { configFromCli, openModels } from './bootstrap.js';
import { benchInput, benchPaths } from './bench-setup.js';
import {
  EXACT_BLOCKS,
  gcFunction,
  pick,
  r4,
  summarize,
  timeExactRollouts,
  type PathStats,
  type Percentiles,
} from './bench-paths.js';
import { statSize, timeToFirstPose, torchReference, type FirstPose, type TorchResult } from './bench-probes.js';

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
  /** Count the bands one core carries at 50 Hz (bench-streams.ts), fp32 and int8. */
  streamsPerCore?: boolean;
}

export const DEFAULT_BENCH_STEPS = 2000;
export const DEFAULT_ALTERNATE = 200;
const WARMUP_STEPS = 100;
/** Matrix-vector products timed for the bandwidth floor (split before and after the steps). */
const FLOOR_RUNS = 200;
/**
 * Issue targets on the 2-core CPU development machine: absolute ones for the incremental step,
 * ratios (which hold across noisy days, unlike absolute times) for the rest.
 */
export const TARGETS = {
  incremental_p50_ms: 1.5,
  incremental_p95_ms: 3,
  ratio_p50: 5,
  supervised_to_bare_p50_max: 1.2,
  exact_block_speedup_min: 4,
  torch_window_to_bare_min: 10,
  step_to_floor_max: 1.5,
  time_to_first_pose_max_ms: 1000,
} as const;

function parseCount(flag: string, v: number | string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000)
    throw new UserError(`${flag} ${v}: expected a whole number from 1 to 1000000`);
  return n;
}

/**
 * `myostream bench`: in one process, on the same input, side by side in turns of `alternate`
 * steps (which one goes first rotates; 1 = step by step), after WARMUP_STEPS untimed steps each:
 *   window      the sliding window through the whole encoder (--policy, default sliding_window)
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
  const { result, say, table, artifactsRoot: root } = await runBench(o);
  const file =
    o.out ??
    join(
      artifactsRoot(root),
      `bench-${new Date()
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d+Z$/, 'Z')}-${process.pid}.json`,
    );
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeJsonAtomic(file, result);
  } catch (e) {
    throw new UserError(`bench results ${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  printBenchTable(say, result, { ...table, file });
  if (o.json) process.stdout.write(JSON.stringify(headline(result, file)) + '\n');
  return 0;
}

/** Everything `bench` measures, as the results file holds it. */
async function runBench(o: BenchCliOptions) {
  const steps = parseCount('--steps', o.steps, DEFAULT_BENCH_STEPS);
  const alternate = Math.min(steps, parseCount('--alternate', o.alternate, DEFAULT_ALTERNATE));
  const policy: FeaturePolicy = o.policy ?? 'sliding_window';
  if (policy !== 'sliding_window' && policy !== 'exact_grid')
    throw new UserError(`--policy ${String(policy)}: expected sliding_window or exact_grid`);
  const cfg = configFromCli({ ...(o.config !== undefined ? { config: o.config } : {}), set: o.set });
  const log = createLogger(cfg.logging.level, cfg.logging.format);
  const threads = {
    intra: cfg.runtime.intra_op_threads,
    inter: cfg.runtime.inter_op_threads,
    spinning: cfg.runtime.intra_op_spinning,
  };
  if (cfg.runtime.streaming.encoder !== 'incremental') {
    throw new UserError(
      `runtime.streaming.encoder is ${cfg.runtime.streaming.encoder}: bench compares the window path with the incremental one the daemon runs by default; drop that --set`,
    );
  }
  const models = await openModels(cfg, log, true, true);
  requireIncremental(models);

  const { ring, signal } = benchInput(models, cfg.runtime.exact.block_samples, WARMUP_STEPS + steps);
  const blockSamples = cfg.runtime.exact.block_samples;
  const { paths, windowSamples, liveOpts, incInner, bareStreaming, supStreaming, supervised, shadow, int8 } =
    benchPaths(cfg, models, policy, steps);
  const allPaths = [...paths, ...(int8?.paths ?? [])];
  const emit = (): void => {};

  const say = (line: string): void => void (o.json ? process.stderr : process.stdout).write(line + '\n');
  say(
    `bench: ${steps} timed steps per path after ${WARMUP_STEPS} warm-up steps, alternating every ${alternate} step(s); window/incremental policy ${policy}, ` +
      `bare/supervised policy ${liveOpts.policy}; window ${windowSamples} samples, ${models.providers['encoder']} EP, intra/inter-op threads ${threads.intra}/${threads.inter}, spinning ${threads.spinning ? 'on' : 'off'}`,
  );

  // The bandwidth floor over the bytes a bare step streams: its encoder step's and decoder's weights.
  const stepBytes = stepWeightBytes(models, 'fp32');
  const floor = await bandwidthFloor(stepBytes, Math.max(1, threads.intra), threads.spinning);
  const floorMs: number[] = [];
  for (let i = 0; i < 20; i++) await floor.run();
  for (let i = 0; i < FLOOR_RUNS / 2; i++) floorMs.push(await floor.run());
  // ...and over the int8 step's bytes (its encoder step's and decoder's int8 files), same method.
  const int8Bytes = int8 ? stepWeightBytes(models, 'int8') : 0;
  const floorInt8 = int8 ? await bandwidthFloor(int8Bytes, Math.max(1, threads.intra), threads.spinning) : undefined;
  const floorInt8Ms: number[] = [];
  if (floorInt8) {
    for (let i = 0; i < 20; i++) await floorInt8.run();
    for (let i = 0; i < FLOOR_RUNS / 2; i++) floorInt8Ms.push(await floorInt8.run());
  }

  // Untimed warm-up (first runs, session warm-up of the incremental encoder: timed separately).
  for (let i = 0; i < WARMUP_STEPS; i++)
    for (const p of i % 2 ? [...allPaths].reverse() : allPaths) await p.step(ring, false, emit);
  const incWarmupMs = incInner.lastWarmupMs;

  const gc = gcFunction();
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const gcEntries: PerformanceEntry[] = [];
  const obs = new PerformanceObserver((list) => void gcEntries.push(...list.getEntries()));
  obs.observe({ entryTypes: ['gc'] });
  const tStart = performance.now();
  for (let i0 = 0, turn = 0; i0 < steps; i0 += alternate, turn++) {
    const n = Math.min(alternate, steps - i0);
    for (let k = 0; k < allPaths.length; k++) {
      const p = allPaths[(k + turn) % allPaths.length]!;
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
  if (floorInt8) {
    for (let i = 0; i < FLOOR_RUNS / 2; i++) floorInt8Ms.push(await floorInt8.run());
    await floorInt8.session.release();
  }

  say('timing exact blocks (stepped and one-run rollout) …');
  const [steppedMs, loopedMs] = await timeExactRollouts(models, blockSamples, ring);

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
    retained_growth_per_step_bytes: r4((heap1 - heap0) / (allPaths.length * steps)),
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
    const seed = typeof models.info.weights?.['seed'] === 'number' ? models.info.weights['seed'] : undefined;
    torch = torchReference(Math.min(steps, 1000), Math.max(1, threads.intra), seed);
  }
  say('time to the first pose of a fresh process (twice per precision) …');
  const ttfpOf = (precision: 'fp32' | 'int8'): ReturnType<typeof timeToFirstPose> =>
    timeToFirstPose({ ...o, set: [...o.set, `model.precision=${precision}`] });
  const ttfpFp32 = ttfpOf('fp32');
  const ttfpInt8 = int8 ? ttfpOf('int8') : undefined;
  const ttfp = cfg.model.precision === 'int8' && ttfpInt8 ? ttfpInt8 : ttfpFp32;
  const ttfpMs = ttfp.warm?.first_pose_ms ?? ttfp.cold?.first_pose_ms ?? null;
  const ttfpInt8Ms = ttfpInt8 ? (ttfpInt8.warm?.first_pose_ms ?? ttfpInt8.cold?.first_pose_ms ?? null) : null;
  const ttfpFp32Ms = ttfpFp32.warm?.first_pose_ms ?? ttfpFp32.cold?.first_pose_ms ?? null;
  const int8Figures = int8 ? int8Results(int8, floorInt8Ms, int8Bytes, bare, torch) : null;
  let perCore: { fp32: StreamsPerCore; int8: StreamsPerCore | null } | null = null;
  if (o.streamsPerCore) {
    say('streams per core: bands at 50 Hz on this thread until the P99 passes 10 ms, fp32 then int8 …');
    const so = {
      policy: liveOpts.policy,
      blockSamples,
      fused: cfg.runtime.streaming.fused_step,
      ticks: 150,
      maxBands: 24,
    };
    perCore = {
      fp32: await streamsPerCore(models, ring, 'fp32', so),
      int8: int8 ? await streamsPerCore(models, ring, 'int8', so) : null,
    };
  }

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
    supervised: {
      ...sup,
      shared_decoder_steps: supStreaming.sharedSteps,
      shadow_blocks_skipped: supervised.shadowBlocksSkipped,
    },
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
      method:
        "onnxruntime MatMul [rows, 512] x [512, 1] over the bare step's weight bytes (decoder_step + encoder_incremental files), same threads",
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
    streams_per_core: perCore,
    // The int8 variant (model.precision int8) beside the fp32 figures above; null without its graphs.
    int8:
      int8Figures === null
        ? null
        : {
            ...int8Figures,
            time_to_first_pose: {
              fp32: { ...ttfpFp32, first_pose_ms: ttfpFp32Ms },
              int8: { ...ttfpInt8, first_pose_ms: ttfpInt8Ms },
            },
          },
    targets: { ...TARGETS, met, all_met: Object.values(met).every((v) => v !== false) },
    wall_s: r4((tEnd - tStart) / 1000),
  };

  return {
    result,
    say,
    table: { points: shadow.points, decoderBytes, floorGbPerS },
    artifactsRoot: cfg.outputs.artifacts_root,
  };
}

type BenchResult = Awaited<ReturnType<typeof runBench>>['result'];

/** The one-line JSON `bench --json` prints last: the headline figures of `r`. */
function headline(r: BenchResult, file: string): Record<string, unknown> {
  return {
    window: pick(r.window),
    incremental: pick(r.incremental),
    bare: pick(r.bare),
    supervised: pick(r.supervised.wall),
    ratio_p50: r.ratio_p50,
    supervised_to_bare_p50: r.supervised_to_bare_p50,
    exact_block_stepped_p50_ms: r.exact_block.stepped.p50_ms,
    exact_block_one_run_p50_ms: r.exact_block.one_run?.p50_ms ?? null,
    exact_block_speedup_p50: r.exact_block.speedup_p50,
    bandwidth_floor_p50_ms: r.bandwidth_floor.p50_ms,
    step_to_floor_p50: r.step_to_floor_p50,
    torch_window_p50_ms: r.torch_reference.window?.p50_ms ?? null,
    torch_incremental_p50_ms: r.torch_reference.incremental?.p50_ms ?? null,
    torch_window_to_bare_p50: r.torch_reference.ratio_torch_window_to_bare_p50,
    torch_incremental_to_bare_p50: r.torch_reference.ratio_torch_incremental_to_bare_p50,
    bare_two_runs: pick(r.bare_two_runs),
    one_run_to_two_runs_p50: r.one_run_to_two_runs_p50,
    exact_block_weight_floor_ms: r.exact_block.weight_floor_ms,
    time_to_first_pose_ms: r.time_to_first_pose.first_pose_ms,
    bare_int8: r.int8 ? pick(r.int8.bare) : null,
    supervised_int8: r.int8 ? pick(r.int8.supervised.wall) : null,
    bandwidth_floor_int8_p50_ms: r.int8?.bandwidth_floor.p50_ms ?? null,
    int8_step_to_floor_p50: r.int8?.step_to_floor_p50 ?? null,
    int8_to_fp32_bare_p50: r.int8?.int8_to_fp32_bare_p50 ?? null,
    torch_window_to_int8_p50: r.int8?.torch_window_to_int8_p50 ?? null,
    time_to_first_pose_int8_ms: r.int8?.time_to_first_pose.int8.first_pose_ms ?? null,
    time_to_first_pose_fp32_ms: r.int8?.time_to_first_pose.fp32.first_pose_ms ?? null,
    streams_per_core_fp32: r.streams_per_core?.fp32.streams ?? null,
    streams_per_core_int8: r.streams_per_core?.int8?.streams ?? null,
    steps: r.steps,
    machine: r.machine,
    results: file,
  };
}

/** The table `bench` prints (stderr with --json), from the results file's figures. */
function printBenchTable(
  say: (line: string) => void,
  r: BenchResult,
  x: { points: number; decoderBytes: number; floorGbPerS: number; file: string },
): void {
  const f = (x: number): string => (Number.isNaN(x) ? '—' : x.toFixed(3)).padStart(8);
  const row = (name: string, s: PathStats & { wall: Percentiles & { mean_ms: number } }): string =>
    `${name.padEnd(12)} ${f(s.p50_ms)} ${f(s.p95_ms)} ${f(s.p99_ms)} ${f(s.mean_ms)} │ ${f(s.encoder.p50_ms)} ${f(s.lstm_and_rest.p50_ms)} │ ${f(s.wall.p50_ms)} ${f(s.wall.mean_ms)}`;
  const yn = (v: boolean | null): string => (v === null ? 'n/a' : v ? 'met' : 'MISSED');
  say('');
  say(`T_compute (ms)      p50      p95      p99     mean │ enc p50 lstm+rest p50 │ wall p50 wall mean`);
  for (const [name, st] of [
    ['window', r.window],
    ['incremental', r.incremental],
    ['bare', r.bare],
    ['2 runs', r.bare_two_runs],
    ['supervised', r.supervised],
  ] as const)
    say(row(name, st));
  if (r.one_run_to_two_runs_p50 !== null) {
    say(
      `bare step, one stream_step run / two runs: p50 ${r.one_run_to_two_runs_p50.toFixed(3)}×, mean ${r.one_run_to_two_runs_mean!.toFixed(3)}× (${r.bare.one_run_steps} one-run steps)`,
    );
  }
  say(
    `ratio window/incremental: p50 ${r.ratio_p50.toFixed(2)}×, p95 ${r.ratio_p95.toFixed(2)}×; encoder alone p50 ${r.encoder_ratio_p50.toFixed(2)}×`,
  );
  say(
    `supervised/bare (wall): p50 ${r.supervised_to_bare_p50.toFixed(3)}×, mean ${r.supervised_to_bare_mean.toFixed(3)}× (${r.supervised.shared_decoder_steps} steps carried a shadow point) [goal ≤ ${r.targets.supervised_to_bare_p50_max}: ${yn(r.targets.met.supervised_to_bare)}]`,
  );
  say(
    `exact block (${r.exact_block.block_samples} + ${LEFT_CONTEXT} samples): stepped p50 ${r.exact_block.stepped.p50_ms.toFixed(1)} ms, one run ${r.exact_block.one_run ? r.exact_block.one_run.p50_ms.toFixed(1) + ' ms' : 'n/a (no decoder_rollout)'}; ` +
      `speedup ${r.exact_block.speedup_p50 ?? 'n/a'}× [goal ≥ ${r.targets.exact_block_speedup_min}: ${yn(r.targets.met.exact_block_speedup)}]`,
  );
  say(
    `exact block weight floor: ${x.points} × ${(x.decoderBytes / 1e6).toFixed(1)} MB at ${x.floorGbPerS.toFixed(1)} GB/s = ${r.exact_block.weight_floor_ms.toFixed(1)} ms` +
      (r.exact_block.one_run
        ? `; one run = ${r.exact_block.one_run_to_weight_floor_p50}× that floor; the goal's ${r.exact_block.goal_ms.toFixed(1)} ms is ${r.exact_block.goal_ms < r.exact_block.weight_floor_ms ? 'below' : 'above'} it`
        : ''),
  );
  say(
    `bandwidth floor: ${(r.bandwidth_floor.bytes / 1e6).toFixed(1)} MB matrix-vector p50 ${r.bandwidth_floor.p50_ms.toFixed(3)} ms (${r.bandwidth_floor.gb_per_s_p50.toFixed(1)} GB/s); bare step / floor ${r.step_to_floor_p50.toFixed(2)}× [goal ≤ ${r.targets.step_to_floor_max}: ${yn(r.targets.met.step_to_floor)}]`,
  );
  say(
    `incremental: LSTM step + rest = ${(r.lstm_share_of_incremental_p50 * 100).toFixed(0)} % of its p50; session warm-up (frame 0) ${r.incremental.session_warmup_ms.toFixed(2)} ms ` +
      `(${r.incremental.init_graph ? 'init graph' : '45 steps'})`,
  );
  say(
    `targets: incremental p50 ≤ ${r.targets.incremental_p50_ms} ms ${yn(r.targets.met.incremental_p50)}, p95 ≤ ${r.targets.incremental_p95_ms} ms ${yn(r.targets.met.incremental_p95)}, ` +
      `ratio ≥ ${r.targets.ratio_p50} ${yn(r.targets.met.ratio_p50)}`,
  );
  say(
    `heap: ${r.heap.retained_growth_per_step_bytes} B/step retained (${r.heap.forced_gc ? 'after forced GC' : 'no forced GC'}); GC during run: ${r.gc.count} pauses, ` +
      `total ${r.gc.total_ms.toFixed(2)} ms, longest ${r.gc.max_ms.toFixed(2)} ms`,
  );
  if (r.torch_reference.skipped !== undefined) say(`PyTorch reference: skipped (${r.torch_reference.skipped})`);
  else if (r.torch_reference.window) {
    say(
      `PyTorch reference (torch ${r.torch_reference.torch}, ${r.torch_reference.threads} thread(s), ${r.torch_reference.steps} steps): sliding-window step p50 ${r.torch_reference.window.p50_ms.toFixed(3)} ms, ` +
        `cached step p50 ${r.torch_reference.incremental?.p50_ms.toFixed(3) ?? '?'} ms; torch window / our bare step = ${r.torch_reference.ratio_torch_window_to_bare_p50}× [goal ≥ ${r.targets.torch_window_to_bare_min}: ${yn(r.targets.met.torch_window_to_bare)}], ` +
        `torch cached / our bare step = ${r.torch_reference.ratio_torch_incremental_to_bare_p50}×`,
    );
  }
  if (r.time_to_first_pose.skipped) say(`time to first pose: ${r.time_to_first_pose.skipped}`);
  if (r.time_to_first_pose.first_pose_ms !== null) {
    const w = r.time_to_first_pose.warm ?? r.time_to_first_pose.cold!;
    say(
      `time to first pose (fresh process, unpaced): ${r.time_to_first_pose.first_pose_ms.toFixed(0)} ms [goal ≤ ${r.targets.time_to_first_pose_max_ms}: ${yn(r.targets.met.time_to_first_pose)}] — imports ${w.imports_ms.toFixed(0)}, ` +
        `models ${w.model_load_ms.toFixed(0)} (${Object.values(w.digests).every((d) => d === 'cached') ? 'cached digests' : 'hashed'}), first step ${(w.first_pose_ms - w.source_ms).toFixed(0)} ms; ` +
        `first start ${r.time_to_first_pose.cold?.first_pose_ms.toFixed(0) ?? '?'} ms`,
    );
  }
  if (r.int8) {
    const i = r.int8;
    say(
      `int8 (model.precision int8): bare p50 ${i.bare.p50_ms.toFixed(3)} p99 ${i.bare.p99_ms.toFixed(3)} ms = ${i.int8_to_fp32_bare_p50}× fp32's; supervised (fp32 shadow) wall p50 ${i.supervised.wall.p50_ms.toFixed(3)} ms; ` +
        `floor ${(i.bandwidth_floor.bytes / 1e6).toFixed(1)} MB p50 ${i.bandwidth_floor.p50_ms.toFixed(3)} ms, step / floor ${i.step_to_floor_p50}×; torch window / int8 step ${i.torch_window_to_int8_p50 ?? 'n/a'}×`,
    );
    const tf = (x: { warm?: FirstPose; cold?: FirstPose; first_pose_ms: number | null }): string =>
      `${x.first_pose_ms?.toFixed(0) ?? '?'} ms, RSS ${(x.warm ?? x.cold)?.rss_mb?.toFixed(0) ?? '?'} MB`;
    say(`time to first pose / RSS at it: fp32 ${tf(i.time_to_first_pose.fp32)}; int8 ${tf(i.time_to_first_pose.int8)}`);
  }
  if (r.streams_per_core) {
    const line = (x: StreamsPerCore): string =>
      `${x.precision} ${x.streams} (${x.tried.map((t) => `${t.bands}: ${t.tick_p99_ms.toFixed(1)}`).join(', ')} ms)`;
    say(
      `streams per core at 50 Hz, P99 ≤ ${r.streams_per_core.fp32.bound_ms} ms: ${line(r.streams_per_core.fp32)}${r.streams_per_core.int8 ? `; ${line(r.streams_per_core.int8)}` : ''}`,
    );
  }
  say(
    `machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.platform}/${r.machine.arch}, node ${r.machine.node}, onnxruntime-node ${r.machine.onnxruntime_node}`,
  );
  say(`results: ${x.file}`);
}

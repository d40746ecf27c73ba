/**
 * Run by the arm64 Node under qemu-user (see arm64.test.ts): the arm64 onnxruntime library's
 * numbers on what the device runs, against the same references as the x64 golden tests. Only
 * what proves the target: one exact block (encoder and the one-run rollout, as exact mode runs
 * it) and the first steps of the default streaming path (incremental encoder, one stream_step
 * run per step, exact_grid); the JavaScript around the graphs is the same on every
 * architecture and the x64 tests cover the rest.
 *
 *   node arm64-parity-probe.js [--steps N (5)] [--only check,check]
 *
 * Under emulation a step takes seconds: a "progress:" line goes to stderr at least once per
 * graph run, so the test judges a stall by silence rather than by a total time. stdout holds
 * one JSON line per check, then one summary line; the x64 test judges them.
 */
import { parseArgs } from 'node:util';
import { RingBuffer } from '../../src/acquisition/ring-buffer.js';
import { NUM_CHANNELS, POSE_DIM } from '../../src/domain/geometry.js';
import type { PoseEvent } from '../../src/domain/pose.js';
import { ExactPredictor } from '../../src/inference/exact-predictor.js';
import { incrementalEncoderFrom } from '../../src/inference/incremental-encoder.js';
import { loadModels, type LoadedModels } from '../../src/inference/models.js';
import { silentLogger } from '../../src/common/logger.js';
import { readTensorBundle, requireArray } from '../../src/common/tensor-bundle.js';
import { join } from 'node:path';
import { StreamingPredictor } from '../../src/inference/streaming-predictor.js';
import { golden, goldenInput, incrementalCpuModels, maxAbsDiff, ROOT } from '../helpers.js';

export interface CheckResult {
  check: string;
  /** Poses compared with the reference. */
  poses: number;
  maxAbsDiff: number;
  /** What maxAbsDiff may be for the check to pass. */
  bound: number;
  /** Anything else the test asserts on (which graphs ran, how many times). */
  detail?: Record<string, number | string | boolean>;
}

interface Check {
  name: string;
  run(m: LoadedModels, ring: RingBuffer, steps: number): Promise<CheckResult>;
}

const progress = (msg: string): void => void process.stderr.write(`progress: ${msg}\n`);

/**
 * The checks, in order. A new one (another graph, another precision) is one more entry: a name,
 * and a run that compares poses with a reference and reports progress per graph run.
 */
const CHECKS: readonly Check[] = [
  {
    name: 'exact_block',
    async run(m, ring) {
      const exact = new ExactPredictor(m.encoder, m.decoder, 10000, false, m.rollout);
      progress(
        `exact_block: encoder over ${exact.windowSamples} samples, then the ${exact.points}-step rollout${exact.oneRunRollout ? ' in one run' : ''}`,
      );
      const block = await exact.runBlock(ring);
      const ref = golden('exact_poses').subarray(0, block.points * POSE_DIM);
      return {
        check: 'exact_block',
        poses: block.points,
        maxAbsDiff: maxAbsDiff(block.poses, ref),
        bound: 1e-5,
        detail: { one_run_rollout: exact.oneRunRollout },
      };
    },
  },
  {
    name: 'streaming_default',
    async run(m, ring, steps) {
      const p = new StreamingPredictor(incrementalEncoderFrom(m), m.decoder, {
        policy: 'exact_grid',
        blockSamples: 10000,
        fusedStep: m.sessions['stream_step'],
      });
      p.restartAt(0);
      const out: number[] = [];
      while (p.stepsDone < steps && ring.written >= p.nextReadyAt) {
        await p.advance(ring, (e: PoseEvent) => out.push(...e.angles));
        progress(`streaming_default: step ${p.stepsDone}/${steps}`);
      }
      if (out.length < steps * POSE_DIM)
        throw new Error(`streaming_default: only ${out.length / POSE_DIM} of ${steps} steps`);
      const ref = golden('streaming_exact_grid_poses').subarray(0, out.length);
      return {
        check: 'streaming_default',
        poses: out.length / POSE_DIM,
        maxAbsDiff: maxAbsDiff(out, ref),
        bound: 1e-5,
        detail: { one_run_steps: p.fusedSteps },
      };
    },
  },
  {
    /**
     * The int8 variant on this onnxruntime build: its graphs need the contrib kernels
     * DynamicQuantizeLSTM, DynamicQuantizeLinear and MatMulInteger (a session fails to open
     * without them). The first steps of the golden int8 session (refer/quantize.py: incremental
     * encoder from zero state, sliding window, two runs per step) against its reference.
     */
    name: 'streaming_int8',
    async run(_m, ring, steps) {
      progress('streaming_int8: loading the int8 graphs');
      const mi = await loadModels(
        join(ROOT, 'models'),
        { executionProviders: ['cpu'], deviceId: 0, intraOpThreads: 1, interOpThreads: 1 },
        silentLogger(),
        ['encoder', 'decoder_step', 'encoder_incremental', 'decoder_step_int8', 'encoder_incremental_int8'],
      );
      const p = new StreamingPredictor(
        incrementalEncoderFrom(mi, { precision: 'int8', useInit: false }),
        mi.sessions['decoder_step_int8']!,
        { policy: 'sliding_window', blockSamples: 10000 },
      );
      p.restartAt(0);
      const out: number[] = [];
      while (p.stepsDone < steps && ring.written >= p.nextReadyAt) {
        await p.advance(ring, (e: PoseEvent) => out.push(...e.angles));
        progress(`streaming_int8: step ${p.stepsDone}/${steps}`);
      }
      if (out.length < steps * POSE_DIM)
        throw new Error(`streaming_int8: only ${out.length / POSE_DIM} of ${steps} steps`);
      const path = join(ROOT, 'models', 'golden', 'reference_int8.mtb');
      const want = requireArray(readTensorBundle(path), 'streaming_sliding_window_poses_int8', path).data;
      // Same graphs on another CPU's kernels (x64 test: 2e-5); and how far int8 moves these poses from fp32's.
      const vsFp32 = maxAbsDiff(out, golden('streaming_sliding_window_poses').subarray(0, out.length));
      return {
        check: 'streaming_int8',
        poses: out.length / POSE_DIM,
        maxAbsDiff: maxAbsDiff(out, want.subarray(0, out.length)),
        bound: 2e-5,
        detail: { vs_fp32: vsFp32 },
      };
    },
  },
];

const { values: opt } = parseArgs({ options: { steps: { type: 'string', default: '5' }, only: { type: 'string' } } });
const steps = Number(opt.steps);
if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps must be an integer ≥ 1, got ${opt.steps}`);
const only = opt.only?.split(',').filter(Boolean);
for (const n of only ?? [])
  if (!CHECKS.some((c) => c.name === n))
    throw new Error(`--only: no check ${n} (${CHECKS.map((c) => c.name).join(', ')})`);

progress('loading the models');
const m = await incrementalCpuModels();
const emg = goldenInput();
const ring = RingBuffer.create(emg.length / NUM_CHANNELS, NUM_CHANNELS);
ring.append(emg);
const results: CheckResult[] = [];
for (const c of CHECKS.filter((x) => !only || only.includes(x.name))) {
  const t0 = performance.now();
  const r = await c.run(m, ring, steps);
  progress(`${c.name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(JSON.stringify(r));
  results.push(r);
}
console.log(JSON.stringify({ arch: process.arch, node: process.version, steps, checks: results.map((r) => r.check) }));

/**
 * Run by the arm64 Node under qemu-user (see arm64.test.ts): the exact block and the first steps
 * of both streaming policies on the golden input, compared with the same references as the x64
 * golden tests. Prints one JSON line; the x64 test judges it.
 */
import { RingBuffer } from '../../src/acquisition/ring-buffer.js';
import { NUM_CHANNELS, POSE_DIM } from '../../src/domain/geometry.js';
import type { PoseEvent } from '../../src/domain/pose.js';
import { ExactPredictor } from '../../src/inference/exact-predictor.js';
import { WindowFrameEncoder } from '../../src/inference/frame-encoder.js';
import { StreamingPredictor, type FeaturePolicy } from '../../src/inference/streaming-predictor.js';
import { cpuModels, golden, goldenInput, maxAbsDiff, ROOT } from '../helpers.js';
import { join } from 'node:path';
import { silentLogger } from '../../src/common/logger.js';
import { readTensorBundle, requireArray } from '../../src/common/tensor-bundle.js';
import { incrementalEncoderFrom } from '../../src/inference/incremental-encoder.js';
import { loadModels } from '../../src/inference/models.js';

const steps = Number(process.argv[2] ?? '40');
const m = await cpuModels();
const emg = goldenInput();
const ring = RingBuffer.create(emg.length / NUM_CHANNELS, NUM_CHANNELS);
ring.append(emg);

const exact = new ExactPredictor(m.encoder, m.decoder, 10000, true);
const block0 = await exact.runBlock(ring);
const exactDiff = maxAbsDiff(block0.poses, golden('exact_poses').subarray(0, 250 * POSE_DIM));

async function streamed(policy: FeaturePolicy, windowSamples: number, reference: string): Promise<number> {
  const p = new StreamingPredictor(new WindowFrameEncoder(m.encoder, windowSamples), m.decoder, { policy, blockSamples: 10000 });
  p.restartAt(0);
  const out: number[] = [];
  while (out.length < steps * POSE_DIM && ring.written >= p.nextReadyAt) {
    await p.advance(ring, (e: PoseEvent) => out.push(...e.angles));
  }
  const n = Math.min(out.length, steps * POSE_DIM);
  if (n < steps * POSE_DIM) throw new Error(`${policy}: only ${n / POSE_DIM} steps`);
  return maxAbsDiff(out.slice(0, n), golden(reference).subarray(0, n));
}

const slidingDiff = await streamed('sliding_window', 1830, 'streaming_sliding_window_poses');
const gridDiff = await streamed('exact_grid', 1791, 'streaming_exact_grid_poses');

/**
 * The int8 variant on this onnxruntime build: its graphs need the contrib kernels
 * DynamicQuantizeLSTM, DynamicQuantizeLinear and MatMulInteger (a session fails to open
 * without them). The first steps of the golden int8 session (refer/quantize.py: incremental
 * encoder from zero state, sliding window, two runs per step) against its reference.
 */
async function int8Steps(): Promise<{ int8Diff: number; int8VsFp32Diff?: number; int8Error?: string }> {
  try {
    const mi = await loadModels(join(ROOT, 'models'), { executionProviders: ['cpu'], deviceId: 0, intraOpThreads: 1, interOpThreads: 1 }, silentLogger(), ['encoder', 'decoder_step', 'encoder_incremental', 'decoder_step_int8', 'encoder_incremental_int8']);
    const p = new StreamingPredictor(incrementalEncoderFrom(mi, { precision: 'int8', useInit: false }), mi.sessions['decoder_step_int8']!, { policy: 'sliding_window', blockSamples: 10000 });
    p.restartAt(0);
    const out: number[] = [];
    while (out.length < steps * POSE_DIM && ring.written >= p.nextReadyAt) await p.advance(ring, (e: PoseEvent) => out.push(...e.angles));
    const path = join(ROOT, 'models', 'golden', 'reference_int8.mtb');
    const want = requireArray(readTensorBundle(path), 'streaming_sliding_window_poses_int8', path).data;
    const got = out.slice(0, steps * POSE_DIM);
    // ...and how far int8 moves this build's poses from fp32's (x64: 4.8e-6 rad over 10 steps).
    return { int8Diff: maxAbsDiff(got, want.subarray(0, steps * POSE_DIM)), int8VsFp32Diff: maxAbsDiff(got, golden('streaming_sliding_window_poses').subarray(0, steps * POSE_DIM)) };
  } catch (e) {
    return { int8Diff: NaN, int8Error: String((e as Error).message ?? e).split('\n')[0]! };
  }
}
const int8 = await int8Steps();
console.log(JSON.stringify({ arch: process.arch, node: process.version, exactPoses: block0.points, exactDiff, steps, slidingDiff, gridDiff, ...int8 }));

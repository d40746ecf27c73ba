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
import { cpuModels, golden, goldenInput, maxAbsDiff } from '../helpers.js';

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
console.log(JSON.stringify({ arch: process.arch, node: process.version, exactPoses: block0.points, exactDiff, steps, slidingDiff, gridDiff }));

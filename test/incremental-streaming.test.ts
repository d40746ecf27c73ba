import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { RingBuffer } from '../src/acquisition/ring-buffer.js';
import { WindowFrameEncoder, type FrameEncoder } from '../src/inference/frame-encoder.js';
import { FEATURE_DIM, NUM_CHANNELS, POSE_DIM } from '../src/domain/geometry.js';
import {
  CHUNK_SAMPLES,
  IncrementalFrameEncoder,
  WARMUP_STEPS,
  incrementalEncoderFrom,
  incrementalInfoMismatch,
} from '../src/inference/incremental-encoder.js';
import { readModelInfo, type LoadedModels } from '../src/inference/models.js';
import { StreamingPredictor, type FeaturePolicy } from '../src/inference/streaming-predictor.js';
import type { PoseEvent } from '../src/domain/pose.js';
import { golden, goldenInput, goldenRing, incrementalCpuModels, maxAbsDiff, ROOT, stepToEnd } from './helpers.js';

async function streamAll(
  encoder: FrameEncoder,
  decoder: LoadedModels['decoder'],
  policy: FeaturePolicy,
  ring: RingBuffer,
  fusedStep?: LoadedModels['decoder'],
): Promise<{ poses: Float32Array; times: number[]; p: StreamingPredictor }> {
  const p = new StreamingPredictor(encoder, decoder, { policy, blockSamples: 10000, fusedStep });
  p.restartAt(0);
  const out: number[] = [];
  const times: number[] = [];
  await stepToEnd(p, ring, (e: PoseEvent) => {
    for (let i = 0; i < POSE_DIM; i++) out.push(e.angles[i]!);
    times.push(e.t);
  });
  return { poses: new Float32Array(out), times, p };
}

for (const [policy, windowSamples, goldenName] of [
  ['sliding_window', 1830, 'streaming_sliding_window_poses'],
  ['exact_grid', 1791, 'streaming_exact_grid_poses'],
] as const) {
  test(`${policy}: StreamingPredictor poses with the incremental encoder = window encoder = reference (≤ 1e-5)`, async () => {
    const m = await incrementalCpuModels();
    const ring = goldenRing();
    const ref = golden(goldenName);
    const win = await streamAll(new WindowFrameEncoder(m.encoder, windowSamples), m.decoder, policy, ring);
    const inc = await streamAll(incrementalEncoderFrom(m), m.decoder, policy, ring);
    const stepped = await streamAll(incrementalEncoderFrom(m, { useInit: false }), m.decoder, policy, ring);
    assert.equal(inc.poses.length, ref.length);
    assert.equal(win.poses.length, ref.length);
    assert.deepEqual(inc.times, win.times, 'same step times');
    const dWin = maxAbsDiff(inc.poses, win.poses);
    const dRef = maxAbsDiff(inc.poses, ref);
    const dStepped = maxAbsDiff(stepped.poses, ref);
    console.log(
      `# ${policy}: ${ref.length / POSE_DIM} steps; incremental vs window max|Δpose| ${dWin.toExponential(3)}, vs reference ${dRef.toExponential(3)}, stepped warm-up vs reference ${dStepped.toExponential(3)}`,
    );
    assert.ok(dWin <= 1e-5, `incremental vs window ${dWin}`);
    assert.ok(dRef <= 1e-5, `incremental vs reference ${dRef}`);
    assert.ok(dStepped <= 1e-5, `stepped warm-up vs reference ${dStepped}`);
  });

  test(`${policy}: one stream_step run per step gives the two-run poses bit for bit, and every step runs one encoder step`, async () => {
    const m = await incrementalCpuModels();
    const ring = goldenRing();
    const twoEnc = incrementalEncoderFrom(m);
    const two = await streamAll(twoEnc, m.decoder, policy, ring);
    const oneEnc = incrementalEncoderFrom(m);
    const one = await streamAll(oneEnc, m.decoder, policy, ring, m.sessions['stream_step']);
    assert.ok(one.p.isFused && !two.p.isFused);
    assert.equal(one.poses.length, golden(goldenName).length);
    assert.deepEqual(one.times, two.times);
    assert.equal(maxAbsDiff(one.poses, two.poses), 0, 'the one-run step reproduces the two-run step exactly');
    // One step ran as two: sliding_window's first (its frame 0 comes from the warm-up graph),
    // exact_grid's last (its look-ahead frame lies past the end of the input).
    assert.equal(one.p.fusedSteps, 999);
    // The same encoder steps in both: one per 40 samples, no step left out, none repeated.
    assert.equal(oneEnc.stepsRun, twoEnc.stepsRun);
  });
}

test('exact_grid with the incremental encoder runs one encoder step per streaming step (not two every other step)', async () => {
  const m = await incrementalCpuModels();
  const ring = goldenRing();
  for (const fused of [undefined, m.sessions['stream_step']]) {
    const enc = incrementalEncoderFrom(m);
    const p = new StreamingPredictor(enc, m.decoder, { policy: 'exact_grid', blockSamples: 10000, fusedStep: fused });
    p.restartAt(0);
    const perStep: number[] = [];
    const noop = (): void => undefined;
    // Step 0 runs the warm-up (frame 0) and the look-ahead step of frame 1; then one step each.
    while (ring.written >= p.nextReadyAt && p.stepsDone < 600) {
      const before = enc.stepsRun;
      await p.advance(ring, noop);
      perStep.push(enc.stepsRun - before);
    }
    assert.equal(perStep.length, 600);
    assert.deepEqual(
      [...new Set(perStep.slice(1))],
      [1],
      `${fused ? 'one run' : 'two runs'}: encoder steps per streaming step ${JSON.stringify(perStep.slice(0, 8))}`,
    );
    // The look-ahead waits one sample past the step's window (frame j + 1 completes there).
    assert.equal(p.nextReadyAt, p.stepBoundary(p.stepsDone) + 1);
    // Told that the input ends at the boundary, the step runs without its look-ahead.
    p.endInputAt(p.stepBoundary(p.stepsDone));
    assert.equal(p.nextReadyAt, p.stepBoundary(p.stepsDone));
  }
});

test('reset: a new origin anywhere gives the window encoder frames again, bit-identical to a fresh encoder', async () => {
  const m = await incrementalCpuModels();
  const ring = goldenRing();
  const reused = incrementalEncoderFrom(m);
  const win = new WindowFrameEncoder(m.encoder, 1830);
  const a = new Float32Array(FEATURE_DIM);
  const b = new Float32Array(FEATURE_DIM);
  const w = new Float32Array(FEATURE_DIM);
  reused.reset(0);
  for (let q = 0; q < 30; q++) await reused.frame(ring, q, a, 0); // leave state behind
  let dWin = 0;
  for (const origin of [7_777, 20_001, 3]) {
    const fresh = incrementalEncoderFrom(m);
    reused.reset(origin);
    fresh.reset(origin);
    win.reset(origin);
    assert.equal(reused.readyAt(0), origin + 1791);
    assert.equal(reused.oldestNeeded(0), origin, 'the warm-up reads from the origin');
    for (let q = 0; q < 40; q++) {
      await reused.frame(ring, q, a, 0);
      await fresh.frame(ring, q, b, 0);
      await win.frame(ring, q, w, 0);
      assert.deepEqual(a, b, `origin ${origin} frame ${q}: reset is complete`);
      dWin = Math.max(dWin, maxAbsDiff(a, w));
    }
    assert.equal(
      reused.oldestNeeded(40),
      origin + 40 * 40 + 1791 - CHUNK_SAMPLES,
      'afterwards only the next chunk is needed',
    );
  }
  assert.ok(dWin <= 1e-5, `vs window after reset ${dWin}`);
});

test('contract: readyAt, repeats, non-decreasing order, ring bounds', async () => {
  const m = await incrementalCpuModels();
  const ring = goldenRing();
  const enc = incrementalEncoderFrom(m);
  assert.equal(enc.kind, 'incremental');
  enc.reset(100);
  assert.equal(enc.readyAt(0), 100 + 1791);
  assert.equal(enc.readyAt(5), 100 + 200 + 1791);
  const f = new Float32Array(2 * FEATURE_DIM);
  await enc.frame(ring, 4, f, 0); // skips ahead: warm-up, then steps 1..4
  assert.equal(enc.stepsRun, 4);
  await enc.frame(ring, 2, f, FEATURE_DIM); // kept: no new step
  await enc.frame(ring, 4, f, FEATURE_DIM);
  assert.deepEqual(f.subarray(0, FEATURE_DIM), f.subarray(FEATURE_DIM));
  assert.equal(enc.stepsRun, 4);
  await enc.frame(ring, 10, f, 0);
  await assert.rejects(enc.frame(ring, 3, f, 0), /no longer kept/);
  await assert.rejects(enc.frame(ring, -1, f, 0), RangeError);
  // a frame whose samples are not written yet
  const short = RingBuffer.create(4000, NUM_CHANNELS);
  short.append(goldenInput().subarray(0, 1800 * NUM_CHANNELS));
  enc.reset(0);
  await enc.frame(short, 0, f, 0);
  await assert.rejects(enc.frame(short, 1, f, 0), /not written yet/);
  assert.equal(WARMUP_STEPS, 44);
});

test('model_info.json describes the state layout this runtime drives; a wrong graph is refused', async () => {
  const m = await incrementalCpuModels();
  assert.throws(() => new IncrementalFrameEncoder(m.decoder), /not those of the cached encoder step/);
  assert.throws(
    () => new IncrementalFrameEncoder(m.sessions['encoder_incremental']!, m.encoder),
    /not those of the cached encoder step/,
  );
  const { info } = readModelInfo(join(ROOT, 'models'));
  assert.equal(incrementalInfoMismatch(info), null);
  const bad = structuredClone(info);
  (bad.models['encoder_incremental'] as unknown as { incremental: { warmup_steps: number } }).incremental.warmup_steps =
    43;
  assert.match(incrementalInfoMismatch(bad) ?? '', /warm-up/);
});

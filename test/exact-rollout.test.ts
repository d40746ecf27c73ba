import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExactMode } from '../src/inference/exact-mode.js';
import { ExactPredictor } from '../src/inference/exact-predictor.js';
import { LEFT_CONTEXT, POSE_DIM, SAMPLE_RATE, STEP_SAMPLES } from '../src/domain/geometry.js';
import type { PoseEvent } from '../src/domain/pose.js';
import { cpuModels, golden, goldenRing, maxAbsDiff } from './helpers.js';

test("the one-run Loop rollout gives the stepped rollout's poses and the reference's (golden input, 4 blocks)", async () => {
  const m = await cpuModels();
  assert.ok(m.rollout, 'models/ ships decoder_rollout.onnx and loadModels opens it');
  const ring = goldenRing();
  const stepped = new ExactPredictor(m.encoder, m.decoder, 10000, true);
  const looped = new ExactPredictor(m.encoder, m.decoder, 10000, true, m.rollout);
  assert.equal(looped.oneRunRollout, true);
  assert.equal(stepped.oneRunRollout, false);
  const ref = golden('exact_poses');
  let vsStepped = 0;
  let vsRef = 0;
  let vsUp = 0;
  for (let b = 0; b < 4; b++) {
    const s = await stepped.runBlock(ring);
    const sPoses = s.poses.slice();
    const sUp = s.upsampled!.slice();
    const l = await looped.runBlock(ring);
    assert.equal(l.block, b);
    assert.equal(l.points, 250);
    assert.equal(l.samples, 10000);
    vsStepped = Math.max(vsStepped, maxAbsDiff(l.poses, sPoses));
    vsUp = Math.max(vsUp, maxAbsDiff(l.upsampled!, sUp));
    vsRef = Math.max(vsRef, maxAbsDiff(l.poses, ref.subarray(b * 250 * POSE_DIM, (b + 1) * 250 * POSE_DIM)));
  }
  assert.ok(vsStepped <= 1e-6, `Loop vs stepped max |diff| ${vsStepped}`);
  assert.ok(vsUp <= 1e-6, `upsampled Loop vs stepped max |diff| ${vsUp}`);
  assert.ok(vsRef <= 1e-5, `Loop vs reference max |diff| ${vsRef}`);
});

test('the last partial exact block at the end of a source is emitted, as one shorter exact window', async () => {
  const m = await cpuModels();
  // Block 0 = [0, 11790); the input ends 7000 samples into block 1's new samples.
  const end = 10000 + LEFT_CONTEXT + 7000;
  const ring = goldenRing(end);
  for (const rollout of [m.rollout, undefined]) {
    const mode = new ExactMode(new ExactPredictor(m.encoder, m.decoder, 10000, false, rollout));
    mode.restartAt(0);
    const poses: { t: number; step: number; angles: Float32Array }[] = [];
    const emit = (e: PoseEvent): void => void poses.push({ t: e.t, step: e.step, angles: e.angles.slice() });
    assert.ok(ring.written >= mode.nextReadyAt);
    await mode.advance(ring, emit);
    assert.ok(ring.written < mode.nextReadyAt, 'block 1 is incomplete');
    assert.equal(poses.length, 250);
    await mode.finish();
    // round((8790 − 1790) / 2000 × 50) = 175 points for the partial window.
    assert.equal(poses.length, 250 + 175);
    for (let i = 1; i < poses.length; i++) {
      assert.equal(poses[i]!.step, i);
      assert.ok(
        Math.abs(poses[i]!.t - poses[i - 1]!.t - STEP_SAMPLES / SAMPLE_RATE) < 1e-9,
        `pose ${i} continues the 50 Hz timeline`,
      );
    }
    assert.equal(poses[poses.length - 1]!.t, end / SAMPLE_RATE, "the last pose sits at the input's end");
    // The same samples as a whole block of a 7000-sample exact predictor: the same poses.
    const whole = new ExactPredictor(m.encoder, m.decoder, 7000, false, rollout);
    whole.restartAt(10000);
    const w = await whole.runBlock(ring);
    assert.equal(w.points, 175);
    const got = new Float32Array(poses.slice(250).flatMap((p) => [...p.angles]));
    assert.ok(
      maxAbsDiff(got, w.poses) <= 1e-7,
      `partial block vs whole 7000-sample block (${rollout ? 'Loop' : 'stepped'})`,
    );
    assert.ok(got.every(Number.isFinite));
    // A second finish has nothing left to emit.
    await mode.finish();
    assert.equal(poses.length, 425);
  }
});

test('a partial block too short for one encoder frame emits nothing', async () => {
  const m = await cpuModels();
  const ring = goldenRing(10000 + 1790);
  const mode = new ExactMode(new ExactPredictor(m.encoder, m.decoder, 10000, false, m.rollout));
  mode.restartAt(0);
  let n = 0;
  await mode.advance(ring, () => {
    n++;
  });
  await mode.finish(ring, () => {
    n++;
  });
  assert.equal(n, 250);
});

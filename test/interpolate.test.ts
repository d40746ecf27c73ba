import { test } from 'node:test';
import assert from 'node:assert/strict';
import { POSITION_STEPS, framesFor, roundHalfEven, rolloutPointsFor } from '../src/domain/geometry.js';
import {
  alignCornersSource,
  halfPixelSource,
  resizeAlignCorners,
  upsampleHalfPixel,
} from '../src/inference/interpolate.js';
import { PoseIntegrator } from '../src/inference/decoder.js';

test('round half to even matches Python round()', () => {
  const cases: [number, number][] = [
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [12.5, 12],
    [13.5, 14],
    [-0.5, 0],
    [-1.5, -2],
    [2.4999, 2],
    [2.5001, 3],
    [7, 7],
  ];
  for (const [x, want] of cases) assert.equal(roundHalfEven(x), want, `round(${x})`);
  assert.equal(POSITION_STEPS, 12, 'round(500 × 50 / 2000) = round(12.5) = 12, not Math.round’s 13');
  assert.equal(Math.round(12.5), 13);
});

test('geometry: frames and rollout points', () => {
  assert.equal(framesFor(1790), 0);
  assert.equal(framesFor(1791), 1);
  assert.equal(framesFor(1830), 1);
  assert.equal(framesFor(1870), 1);
  assert.equal(framesFor(1871), 2);
  assert.equal(framesFor(11790), 125);
  assert.equal(rolloutPointsFor(11790), 250);
  assert.equal(rolloutPointsFor(1830), 1);
});

test('align_corners=true: end points land on the end frames, n = 1 takes frame 0', () => {
  assert.equal(alignCornersSource(0, 125, 250), 0);
  assert.ok(Math.abs(alignCornersSource(249, 125, 250) - 124) < 1e-4);
  assert.equal(alignCornersSource(0, 3, 1), 0, 'n = 1 → frame 0 (left edge, no half step)');
  const src = new Float32Array([10, 20, 30, /* ch1 */ 1, 2, 3]); // [2 ch, 3 frames]
  const one = new Float32Array(2);
  resizeAlignCorners(src, 2, 3, 1, one);
  assert.deepEqual([...one], [10, 1]);
  const five = new Float32Array(10);
  resizeAlignCorners(src, 2, 3, 5, five);
  assert.deepEqual([...five], [10, 1, 15, 1.5, 20, 2, 25, 2.5, 30, 3]);
  const same = new Float32Array(6);
  resizeAlignCorners(src, 2, 3, 3, same);
  assert.deepEqual([...same], [10, 1, 20, 2, 30, 3]);
});

test('align_corners=false upsampling: half-pixel centres, clamped at both ends', () => {
  assert.equal(halfPixelSource(0, 2, 4), 0, 'clamped at 0');
  assert.equal(halfPixelSource(1, 2, 4), 0.25);
  assert.equal(halfPixelSource(3, 2, 4), 1.25);
  const src = new Float32Array([0, 100, 4, 200]); // [2 points, 2 dims]
  const out = new Float32Array(8);
  upsampleHalfPixel(src, 2, 2, 4, out);
  assert.deepEqual([...out], [0, 100, 1, 125, 3, 175, 4, 200]);
});

test('pose integrator: positions for the first 12 steps, then velocity integration', () => {
  const p = new PoseIntegrator();
  const out = new Float32Array(40);
  for (let s = 0; s < 14; s++) {
    out.fill(s + 1, 0, 20); // position
    out.fill(0.5, 20, 40); // velocity
    const pose = p.update(out);
    if (s < 12) assert.equal(pose[0], s + 1);
    else assert.equal(pose[0], 12 + 0.5 * (s - 11));
  }
  p.reset();
  assert.equal(p.stepCount, 0);
  assert.equal(p.pose[3], 0);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RingBuffer } from '../src/acquisition/ring-buffer.js';
import { ExactPredictor } from '../src/inference/exact-predictor.js';
import { NUM_CHANNELS, POSE_DIM } from '../src/domain/geometry.js';
import { cpuModels, golden, goldenInput, maxAbsDiff, runCli } from './helpers.js';

test('exact mode reproduces the reference exact rollout on the golden input (every pose, ≤ 1e-5)', async () => {
  const m = await cpuModels();
  const emg = goldenInput();
  const samples = emg.length / NUM_CHANNELS;
  const ring = RingBuffer.create(samples, NUM_CHANNELS);
  ring.append(emg);
  const exact = new ExactPredictor(m.encoder, m.decoder, 10000, true);
  const ref = golden('exact_poses');
  const blocks = ref.length / (250 * POSE_DIM);
  assert.equal(blocks, 4);
  let worst = 0;
  for (let b = 0; b < blocks; b++) {
    assert.ok(ring.written >= exact.nextReadyAt);
    const r = await exact.runBlock(ring);
    assert.equal(r.block, b);
    assert.equal(r.points, 250);
    worst = Math.max(worst, maxAbsDiff(r.poses, ref.subarray(b * 250 * POSE_DIM, (b + 1) * 250 * POSE_DIM)));
    if (b === 0) {
      const up = golden('exact_poses_2khz_block0');
      assert.ok(maxAbsDiff(r.upsampled!, up) <= 1e-5, 'upsampled block 0 matches F.interpolate(align_corners=False)');
    }
  }
  assert.ok(ring.written < exact.nextReadyAt, 'no fifth block in 41790 samples');
  assert.ok(worst <= 1e-5, `max |diff| ${worst}`);
});

test('myostream run --set model.mode=exact --poses-out reproduces the golden exact poses', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-exact-'));
  const out = join(dir, 'poses.jsonl');
  const r = runCli([
    'run',
    '--speed',
    '0',
    '--set',
    'outputs.mqtt.embedded_port=0',
    '--set',
    'model.mode=exact',
    '--source',
    'replay:models/golden/input.mtb',
    '--poses-out',
    out,
    '--quiet',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const lines = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { t: number; step: number; mode: string; angles: number[] });
  assert.equal(lines.length, 1000);
  assert.deepEqual(Object.keys(lines[0]!), ['t', 'step', 'mode', 't_capture', 'age_ms', 'angles']);
  assert.equal(lines[0]!.mode, 'exact');
  assert.equal(lines[0]!.t, 1830 / 2000);
  assert.equal(lines[999]!.step, 999);
  const got = new Float32Array(lines.flatMap((l) => l.angles));
  const d = maxAbsDiff(got, golden('exact_poses'));
  assert.ok(d <= 1e-5, `max |diff| ${d}`);
});

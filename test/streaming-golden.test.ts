import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RingBuffer } from '../src/acquisition/ring-buffer.js';
import { NUM_CHANNELS, POSE_DIM } from '../src/domain/geometry.js';
import { WindowFrameEncoder } from '../src/inference/frame-encoder.js';
import { StreamingPredictor, type FeaturePolicy } from '../src/inference/streaming-predictor.js';
import type { PoseEvent } from '../src/domain/pose.js';
import { cpuModels, golden, goldenInput, maxAbsDiff } from './helpers.js';

/**
 * Feeds the golden input in chunks of `chunk` samples and runs every step as soon as the
 * predictor says it is ready, as the pipeline does with a live source.
 */
async function streamAll(
  policy: FeaturePolicy,
  windowSamples: number,
  chunk = 41790,
): Promise<{ poses: Float32Array; steps: number; times: number[] }> {
  const m = await cpuModels();
  const emg = goldenInput();
  const total = emg.length / NUM_CHANNELS;
  const ring = RingBuffer.create(total, NUM_CHANNELS);
  const p = new StreamingPredictor(new WindowFrameEncoder(m.encoder, windowSamples), m.decoder, {
    policy,
    blockSamples: 10000,
  });
  p.restartAt(0);
  const out: number[] = [];
  const times: number[] = [];
  for (let start = 0; start < total; start += chunk) {
    const n = Math.min(chunk, total - start);
    ring.append(emg, n, start * NUM_CHANNELS);
    while (ring.written >= p.nextReadyAt) {
      await p.advance(ring, (e: PoseEvent) => {
        out.push(...e.angles);
        times.push(e.t);
      });
    }
  }
  return { poses: new Float32Array(out), steps: out.length / POSE_DIM, times };
}

test('sliding_window streaming matches the reference streaming rollout at every step (≤ 1e-5)', async () => {
  const ref = golden('streaming_sliding_window_poses');
  const r = await streamAll('sliding_window', 1830);
  assert.equal(r.steps, ref.length / POSE_DIM);
  assert.equal(r.times[0], 1830 / 2000);
  assert.equal(r.times[1], 1870 / 2000);
  const d = maxAbsDiff(r.poses, ref);
  assert.ok(d <= 1e-5, `max |diff| ${d}`);
});

test('exact_grid streaming matches the reference exact-grid rollout at every step (≤ 1e-5)', async () => {
  const ref = golden('streaming_exact_grid_poses');
  const r = await streamAll('exact_grid', 1791);
  assert.equal(r.steps, ref.length / POSE_DIM);
  const d = maxAbsDiff(r.poses, ref);
  assert.ok(d <= 1e-5, `max |diff| ${d}`);
});

test('fed a few samples at a time, both policies step only when their samples exist and give the same poses', async () => {
  for (const [policy, ref] of [
    ['exact_grid', 'streaming_exact_grid_poses'],
    ['sliding_window', 'streaming_sliding_window_poses'],
  ] as const) {
    const r = await streamAll(policy, policy === 'exact_grid' ? 1791 : 1830, 7);
    const want = golden(ref);
    assert.equal(r.steps, want.length / POSE_DIM, policy);
    assert.ok(maxAbsDiff(r.poses, want) <= 1e-5, policy);
  }
});

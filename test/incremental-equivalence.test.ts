import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RingBuffer } from '../src/acquisition/ring-buffer.js';
import { WindowEncoder } from '../src/inference/encoder.js';
import { WindowFrameEncoder } from '../src/inference/frame-encoder.js';
import { ENCODER_STRIDE, FEATURE_DIM, NUM_CHANNELS, RECEPTIVE_FIELD, STEP_SAMPLES } from '../src/domain/geometry.js';
import { IncrementalFrameEncoder, incrementalEncoderFrom } from '../src/inference/incremental-encoder.js';
import type { LoadedModels } from '../src/inference/models.js';
import { goldenInput, incrementalCpuModels } from './helpers.js';

/**
 * Incremental encoder vs the sliding window over > 3 minutes of signal (10,200 steps).
 *
 * Reference: the sliding-window feature of step q is the encoder frame of [40q, 40q + 1791).
 * Rather than 10,200 runs of the 1830-sample window (≈ 4–7 ms each), the reference is computed
 * in chunks with the same encoder graph on long windows: a window starting at 80g gives native
 * frames g, g+1, … (even q = 2g), and a window starting at 40 + 80g gives the frames of the
 * input shifted by 40 samples (odd q = 2g + 1). That is mathematically the same feature; the
 * first and last 300 steps are also checked against the real 1830-sample WindowFrameEncoder.
 */

const STEPS = 10_200;
const TOTAL = RECEPTIVE_FIELD + STEP_SAMPLES * (STEPS - 1) + 39; // every step's 1830-sample window fits
const TOL = 1e-5;

/** Deterministic long EMG-like signal [TOTAL, 16]: the golden input tiled, every other tile
 * time-reversed (no jump at the seams), channels rotated and gains varied per tile, plus a
 * little seeded noise, so no stretch repeats exactly. */
function longSignal(): Float32Array {
  const g = goldenInput();
  const n = g.length / NUM_CHANNELS;
  const out = new Float32Array(TOTAL * NUM_CHANNELS);
  let seed = 0x2026_0104;
  const rand = (): number => {
    // xorshift32
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x1_0000_0000 - 0.5;
  };
  for (let t = 0; t < TOTAL; t++) {
    const tile = Math.floor(t / n);
    const i = t % n;
    const src = tile % 2 === 0 ? i : n - 1 - i;
    const gain = 0.6 + 0.15 * (tile % 5) + 0.2 * Math.sin((2 * Math.PI * t) / 37_000);
    for (let c = 0; c < NUM_CHANNELS; c++) {
      const sc = (c + tile) % NUM_CHANNELS;
      out[t * NUM_CHANNELS + c] = gain * g[src * NUM_CHANNELS + sc]! + 0.05 * rand();
    }
  }
  return out;
}

/** Sliding-window features [STEPS, 64] from long-window runs of the full encoder graph. */
async function referenceFeatures(m: LoadedModels, signal: Float32Array): Promise<Float32Array> {
  const K = 200; // native frames per long window
  const W = RECEPTIVE_FIELD + ENCODER_STRIDE * (K - 1);
  const enc = new WindowEncoder(m.encoder, W);
  const ref = new Float32Array(STEPS * FEATURE_DIM);
  for (const phase of [0, 1]) {
    const frames = Math.floor((STEPS - phase + 1) / 2); // q = 2g + phase < STEPS
    for (let g0 = 0; g0 < frames; g0 += K) {
      // long window starting at 40·phase + 80·g0 (clipped windows at the end read zeros past TOTAL: unused frames)
      const start = STEP_SAMPLES * phase + ENCODER_STRIDE * g0;
      for (let t = 0; t < W; t++) {
        const s = start + t;
        for (let c = 0; c < NUM_CHANNELS; c++) enc.input[c * W + t] = s < TOTAL ? signal[s * NUM_CHANNELS + c]! : 0;
      }
      const f = await enc.run();
      for (let k = 0; k < K && g0 + k < frames; k++) {
        const q = 2 * (g0 + k) + phase;
        for (let c = 0; c < FEATURE_DIM; c++) ref[q * FEATURE_DIM + c] = f[c * K + k]!;
      }
    }
  }
  return ref;
}

test('incremental encoder = sliding window over 10,200 consecutive steps (> 3 min), no drift', async () => {
  const m = await incrementalCpuModels();
  const signal = longSignal();
  assert.ok(TOTAL / 2000 > 180, 'more than 3 minutes of signal');
  const t0 = performance.now();
  const ref = await referenceFeatures(m, signal);
  const refMs = performance.now() - t0;

  // Streamed like the pipeline does: a 10 s ring, 40 samples appended at a time, frames as
  // soon as ready, the ring's oldest sample always at or before what the encoder still needs.
  const enc = incrementalEncoderFrom(m);
  const ring = RingBuffer.create(20_000, NUM_CHANNELS);
  enc.reset(0);
  const out = new Float32Array(FEATURE_DIM);
  const perStep = new Float64Array(STEPS);
  const meanPerStep = new Float64Array(STEPS);
  let q = 0;
  const t1 = performance.now();
  for (let t = 0; t < TOTAL && q < STEPS; t += STEP_SAMPLES) {
    ring.append(signal, Math.min(STEP_SAMPLES, TOTAL - t), t * NUM_CHANNELS);
    while (q < STEPS && ring.written >= enc.readyAt(q)) {
      assert.ok(enc.oldestNeeded(q) >= ring.oldest, `step ${q}: ring no longer holds what the encoder needs`);
      await enc.frame(ring, q, out, 0);
      let d = 0;
      let s = 0;
      for (let c = 0; c < FEATURE_DIM; c++) {
        const e = Math.abs(out[c]! - ref[q * FEATURE_DIM + c]!);
        d = Math.max(d, e);
        s += e;
      }
      perStep[q] = d;
      meanPerStep[q] = s / FEATURE_DIM;
      q++;
    }
  }
  const incMs = performance.now() - t1;
  assert.equal(q, STEPS);
  const maxOf = (a: Float64Array, from: number, to: number): number =>
    a.subarray(from, to).reduce((x, y) => Math.max(x, y), 0);
  const meanOf = (a: Float64Array, from: number, to: number): number =>
    a.subarray(from, to).reduce((x, y) => x + y, 0) / (to - from);
  const all = maxOf(perStep, 0, STEPS);
  const first = maxOf(perStep, 0, 1000);
  const last = maxOf(perStep, STEPS - 1000, STEPS);
  const firstMean = meanOf(meanPerStep, 0, 1000);
  const lastMean = meanOf(meanPerStep, STEPS - 1000, STEPS);
  const blocks = Array.from({ length: Math.ceil(STEPS / 1000) }, (_, b) =>
    maxOf(perStep, b * 1000, Math.min(STEPS, (b + 1) * 1000)).toExponential(2),
  );
  console.log(
    `# incremental vs sliding window, ${STEPS} steps (${(TOTAL / 2000).toFixed(1)} s): max|diff| ${all.toExponential(3)}; ` +
      `first 1000 max ${first.toExponential(3)} mean ${firstMean.toExponential(3)}; last 1000 max ${last.toExponential(3)} mean ${lastMean.toExponential(3)}; ` +
      `per 1000 steps [${blocks.join(', ')}]; reference ${refMs.toFixed(0)} ms, incremental ${incMs.toFixed(0)} ms (${enc.stepsRun} cached steps)`,
  );
  assert.ok(all <= TOL, `max |feature diff| ${all}`);
  // No growth: the state is a finite window of recent values, so the error is float noise
  // of the same size at the end as at the start.
  assert.ok(
    last <= TOL && lastMean <= 1.5 * firstMean,
    `growth: first 1000 (max ${first}, mean ${firstMean}) vs last 1000 (max ${last}, mean ${lastMean})`,
  );
  assert.equal(enc.stepsRun, STEPS - 1, 'one cached step per frame after the one-run warm-up');

  // The real sliding-window path on the first and last 300 steps.
  const full = RingBuffer.create(TOTAL, NUM_CHANNELS);
  full.append(signal);
  const win = new WindowFrameEncoder(m.encoder, 1830);
  win.reset(0);
  let dWin = 0;
  const wout = new Float32Array(FEATURE_DIM);
  for (const q0 of [0, STEPS - 300]) {
    for (let k = q0; k < q0 + 300; k++) {
      await win.frame(full, k, wout, 0);
      for (let c = 0; c < FEATURE_DIM; c++) dWin = Math.max(dWin, Math.abs(wout[c]! - ref[k * FEATURE_DIM + c]!));
    }
  }
  console.log(
    `# 1830-sample WindowFrameEncoder vs the chunked reference (600 steps): max|diff| ${dWin.toExponential(3)}`,
  );
  assert.ok(dWin <= TOL, `window encoder vs chunked reference ${dWin}`);
});

test('stepped warm-up (no init graph) gives the same frames from the first step on', async () => {
  const m = await incrementalCpuModels();
  const signal = goldenInput();
  const ring = RingBuffer.create(signal.length / NUM_CHANNELS, NUM_CHANNELS);
  ring.append(signal);
  const a = incrementalEncoderFrom(m);
  const b = new IncrementalFrameEncoder(m.sessions['encoder_incremental']!);
  assert.equal(a.hasInitGraph, true);
  assert.equal(b.hasInitGraph, false);
  const fa = new Float32Array(FEATURE_DIM);
  const fb = new Float32Array(FEATURE_DIM);
  let d = 0;
  for (const origin of [0, 12_345]) {
    a.reset(origin);
    b.reset(origin);
    for (let q = 0; q < 100; q++) {
      await a.frame(ring, q, fa, 0);
      await b.frame(ring, q, fb, 0);
      for (let c = 0; c < FEATURE_DIM; c++) d = Math.max(d, Math.abs(fa[c]! - fb[c]!));
    }
  }
  assert.equal(b.stepsRun, 2 * (44 + 100));
  assert.ok(d <= 1e-5, `init graph vs stepped warm-up ${d}`);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isUserError } from '../src/common/errors.js';
import { silentLogger } from '../src/common/logger.js';
import { readTensorBundle, requireArray } from '../src/common/tensor-bundle.js';
import { alignmentTolerance } from '../src/config/schema.js';
import { loadConfig } from '../src/daemon/config.js';
import { POSE_DIM } from '../src/domain/geometry.js';
import { openModels } from '../src/daemon/bootstrap.js';
import { buildExact, buildStreaming } from '../src/daemon/predictors.js';
import { precisionStudy, syntheticEmg } from '../src/daemon/precision-study.js';
import type { BlockFigures } from '../src/domain/events.js';
import { incrementalEncoderFrom, MODEL_KEYS_WITH_INCREMENTAL } from '../src/inference/incremental-encoder.js';
import { StreamingPredictor } from '../src/inference/streaming-predictor.js';
import { checkPrecisionKeys, loadModels, type LoadedModels } from '../src/inference/models.js';
import { PairedStreamingPredictor } from '../src/inference/paired-streaming.js';
import { ShadowRollout } from '../src/inference/shadow-rollout.js';
import type { BlockResult } from '../src/inference/exact-predictor.js';
import { golden, goldenInput, goldenRing, maxAbsDiff, ROOT, stepToEnd } from './helpers.js';

const INT8_KEYS = ['decoder_step_int8', 'encoder_incremental_int8', 'stream_step_int8'];
const DEG = 180 / Math.PI;

// The bounds USAGE.md states ("int8 streaming"), in degrees.
/** Continuous int8 session against the continuous fp32 one: the first minute. */
const BOUND_VS_FP32_STREAMING_FIRST_MINUTE_DEG = 0.25;
/** A fresh int8 session against fp32 exact over its first block (the shadow's aligned check). */
const BOUND_RESET_BLOCK_VS_EXACT_DEG = 0.05;

let models: Promise<LoadedModels> | undefined;
function int8Models(): Promise<LoadedModels> {
  models ??= loadModels(
    join(ROOT, 'models'),
    { executionProviders: ['cpu'], deviceId: 0, intraOpThreads: 1, interOpThreads: 1 },
    silentLogger(),
    [...MODEL_KEYS_WITH_INCREMENTAL, 'stream_step', ...INT8_KEYS],
  );
  return models;
}

test('int8 streaming (two runs per step) reproduces the golden int8 session written by refer/quantize.py', async () => {
  const m = await int8Models();
  // As the golden session: 44 zero-state warm-up steps through the int8 step (not the fp32 init graph).
  const p = new StreamingPredictor(
    incrementalEncoderFrom(m, { precision: 'int8', useInit: false }),
    m.sessions['decoder_step_int8']!,
    { policy: 'sliding_window', blockSamples: 10000 },
  );
  const out: number[] = [];
  p.restartAt(0);
  await stepToEnd(p, goldenRing(), (e) => void out.push(...e.angles));
  const path = join(ROOT, 'models', 'golden', 'reference_int8.mtb');
  const want = requireArray(readTensorBundle(path), 'streaming_sliding_window_poses_int8', path).data;
  assert.equal(out.length, want.length);
  const d = maxAbsDiff(out, want);
  // Same graphs, same onnxruntime; only the kernels of another CPU may round differently.
  assert.ok(d <= 2e-5, `int8 session vs golden int8: max |diff| ${d} rad`);
  // ...and int8 is not fp32: the golden fp32 session differs by more than float rounding.
  const fp32 = maxAbsDiff(out, golden('streaming_sliding_window_poses'));
  assert.ok(fp32 > 1e-5 && fp32 * DEG < BOUND_VS_FP32_STREAMING_FIRST_MINUTE_DEG, `int8 vs fp32 golden: ${fp32} rad`);
  console.log(`# int8 vs golden int8 ${d.toExponential(2)} rad; vs golden fp32 ${(fp32 * DEG).toFixed(4)} deg`);
});

test('with model.precision int8 the streaming step runs int8 and the live shadow stays fp32 exact', async () => {
  const m = await int8Models();
  const cfg = loadConfig(undefined, ['model.precision=int8']);
  const streaming = buildStreaming(cfg, m);
  assert.equal(streaming.isFused, true);
  const exactBlocks: Float32Array[] = [];
  const blocks: BlockFigures[] = [];
  const shadow = new ShadowRollout(buildExact(cfg, m, false), {
    onShadowBlock: (r: BlockResult) => void exactBlocks.push(r.poses.slice()),
    onBlock: (b: BlockFigures) => void blocks.push({ ...b }),
  });
  const sup = new PairedStreamingPredictor(streaming, shadow, {
    onShadowFailed: (during, error) => assert.fail(`the shadow failed (${during}): ${String(error)}`),
  });
  const out: number[] = [];
  sup.restartAt(0);
  await stepToEnd(sup, goldenRing(), (e) => void out.push(...e.angles));
  await sup.finish();
  assert.equal(sup.shadowState, 'on');
  assert.equal(blocks.length, 4);
  assert.equal(streaming.sharedSteps, 0, 'no shadow row may ride in an int8 run');
  // The shadow's blocks are PyTorch's fp32 exact blocks (parity bound), not int8 ones.
  const exact = golden('exact_poses');
  for (let b = 0; b < 4; b++) {
    const d = maxAbsDiff(exactBlocks[b]!, exact.subarray(b * 250 * POSE_DIM, (b + 1) * 250 * POSE_DIM));
    assert.ok(d <= 1e-5, `shadow block ${b} vs fp32 exact: ${d}`);
  }
  // The aligned block sees the int8 deviation, inside the int8 tolerance and outside fp32's.
  const b0 = blocks[0]!;
  assert.equal(b0.aligned, true);
  assert.ok(b0.main.max_diff > cfg.eval.streaming_tolerance.max_diff, `block 0 max_diff ${b0.main.max_diff}`);
  assert.ok(b0.main.max_diff <= alignmentTolerance(cfg).max_diff, `block 0 max_diff ${b0.main.max_diff}`);
  // The streaming poses are the same with and without the shadow riding along.
  const bare = buildStreaming(cfg, m);
  const plain: number[] = [];
  bare.restartAt(0);
  await stepToEnd(bare, goldenRing(), (e) => void plain.push(...e.angles));
  assert.equal(maxAbsDiff(out, plain), 0);
});

test('published deviation: int8 against fp32 streaming and fp32 exact stays inside the bounds of USAGE.md', async () => {
  const m = await int8Models();
  // Golden 21 s and 40 s of synthetic input; scripts/int8-deviation.mjs runs the minutes of USAGE.md.
  for (const [name, emg] of [
    ['golden', goldenInput()],
    ['synthetic 40 s', syntheticEmg(40, 11)],
  ] as const) {
    let last = 0;
    const r = await precisionStudy(m, emg, { segmentS: 20, onProgress: () => void (last = performance.now()) });
    assert.ok(last > 0);
    const s = r.int8_vs_fp32_streaming;
    assert.ok(s.max_deg > 1e-3, `${name}: int8 indistinguishable from fp32 (${s.max_deg} deg): not the int8 graphs?`);
    assert.ok(
      s.max_deg <= BOUND_VS_FP32_STREAMING_FIRST_MINUTE_DEG,
      `${name}: int8 vs fp32 streaming max ${s.max_deg} deg`,
    );
    assert.ok(s.p99_deg <= s.max_deg);
    assert.equal(s.per_joint_max_deg.length, POSE_DIM);
    const blk = r.int8_reset_per_block_vs_fp32_exact;
    assert.ok(
      blk.max_deg <= BOUND_RESET_BLOCK_VS_EXACT_DEG,
      `${name}: int8 fresh block vs exact max ${blk.max_deg} deg`,
    );
    assert.ok(
      r.fp32_reset_per_block_vs_fp32_exact.max_deg <= 1e-4,
      `${name}: fp32 reset per block vs exact ${r.fp32_reset_per_block_vs_fp32_exact.max_deg} deg`,
    );
    console.log(
      `# ${name}: int8 vs fp32 streaming max ${s.max_deg} P99 ${s.p99_deg} deg (per 20 s: ${s.segment_max_deg.join(', ')}); fresh block vs exact max ${blk.max_deg} P99 ${blk.p99_deg} deg`,
    );
  }
});

test('model.precision int8 against a model folder without the int8 variant: one line naming the fix', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'myostream-int8-'));
  const info = JSON.parse(readFileSync(join(ROOT, 'models', 'model_info.json'), 'utf8')) as {
    models: Record<string, unknown>;
  };
  for (const k of INT8_KEYS) delete info.models[k];
  writeFileSync(join(dir, 'model_info.json'), JSON.stringify(info));
  assert.throws(
    () => checkPrecisionKeys(dir, 'int8', ['decoder_step_int8']),
    (e: unknown) =>
      isUserError(e) &&
      /model\.precision is int8 .*no decoder_step_int8; .*refer\/quantize\.py/.test((e as Error).message) &&
      !(e as Error).message.includes('\n'),
  );
  checkPrecisionKeys(dir, 'fp32', ['decoder_step_int8']);
  const cfg = loadConfig(undefined, ['model.precision=int8', `model.dir=${dir}`]);
  await assert.rejects(
    openModels(cfg, silentLogger()),
    (e: unknown) => isUserError(e) && /model\.precision is int8/.test((e as Error).message),
  );
  assert.throws(
    () => loadConfig(undefined, ['model.precision=int4']),
    (e: unknown) => isUserError(e) && /model\.precision/.test((e as Error).message),
  );
});

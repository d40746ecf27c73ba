import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { bandwidthFloor, matVecGraph } from '../src/daemon/bandwidth-floor.js';
import { runCli } from './helpers.js';

test('the bandwidth-floor graph is a real matrix-vector product', async () => {
  const s = await ort.InferenceSession.create(matVecGraph(), { executionProviders: ['cpu'] });
  const w = Float32Array.from([1, 2, 3, 4, 5, 6]); // [3, 2]
  const x = Float32Array.from([10, 100]); // [2, 1]
  const out = await s.run({ w: new ort.Tensor('float32', w, [3, 2]), x: new ort.Tensor('float32', x, [2, 1]) });
  assert.deepEqual([...(out['y']!.data as Float32Array)], [210, 430, 650]);
  assert.deepEqual(out['y']!.dims, [3, 1]);
  const f = await bandwidthFloor(1 << 20, 1, false);
  assert.equal(f.bytes, 1 << 20);
  assert.ok((await f.run()) >= 0);
});

test('bench --json prints every side-by-side key from one run (no timing asserted)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-bench-'));
  const out = join(dir, 'bench.json');
  const r = runCli(['bench', '--json', '--steps', '30', '--alternate', '10', '--no-torch', '--out', out], {
    timeoutMs: 300_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const line = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  for (const k of [
    'window',
    'incremental',
    'bare',
    'supervised',
    'ratio_p50',
    'supervised_to_bare_p50',
    'exact_block_stepped_p50_ms',
    'exact_block_one_run_p50_ms',
    'exact_block_speedup_p50',
    'bandwidth_floor_p50_ms',
    'step_to_floor_p50',
    'torch_window_p50_ms',
    'torch_window_to_bare_p50',
    'time_to_first_pose_ms',
    'machine',
    'bare_two_runs',
    'one_run_to_two_runs_p50',
    'exact_block_weight_floor_ms',
  ]) {
    assert.ok(k in line, `stdout JSON has ${k}`);
  }
  assert.equal(line['torch_window_p50_ms'], null, '--no-torch: the PyTorch figures are null, not made up');
  const full = JSON.parse(readFileSync(out, 'utf8')) as {
    supervised: { shared_decoder_steps: number; shadow_blocks_skipped: number };
    bare: { one_run_steps: number };
    exact_block: { stepped: { p50_ms: number }; one_run: { p50_ms: number } | null; weight_floor_ms: number };
    bandwidth_floor: { bytes: number; gb_per_s_p50: number };
    time_to_first_pose: {
      warm?: { first_pose_ms: number; digests: Record<string, string> };
      cold?: { first_pose_ms: number };
    };
    torch_reference: { skipped?: string };
  };
  // 30 timed + 100 warm-up steps, each one stream_step run (exact_grid: frame j + 1 at step j).
  assert.equal(full.bare.one_run_steps, 130);
  assert.equal(typeof line['one_run_to_two_runs_p50'], 'number');
  // All but step 1 carried a shadow point: step 1 computes native frame 1 in its own run, and the
  // shadow's point 1 needs that frame, so the shadow rides one point behind from then on.
  assert.equal(full.supervised.shared_decoder_steps, 129);
  assert.ok(full.exact_block.weight_floor_ms > 0);
  assert.ok(full.exact_block.one_run !== null && full.exact_block.stepped.p50_ms > 0);
  assert.ok(full.bandwidth_floor.bytes > 20e6 && full.bandwidth_floor.gb_per_s_p50 > 0);
  assert.ok(full.time_to_first_pose.warm && full.time_to_first_pose.warm.first_pose_ms > 0, r.stderr);
  assert.ok(
    Object.values(full.time_to_first_pose.warm.digests).every((d) => d === 'cached'),
    'the second start found every digest cached',
  );
  assert.equal(full.torch_reference.skipped, '--no-torch');

  // The int8 variant beside fp32, from the same run.
  for (const k of [
    'bare_int8',
    'supervised_int8',
    'bandwidth_floor_int8_p50_ms',
    'int8_step_to_floor_p50',
    'int8_to_fp32_bare_p50',
    'torch_window_to_int8_p50',
    'time_to_first_pose_int8_ms',
    'time_to_first_pose_fp32_ms',
  ]) {
    assert.ok(k in line, `stdout JSON has ${k}`);
  }
  assert.equal(line['torch_window_to_int8_p50'], null);
  const int8 = (
    JSON.parse(readFileSync(out, 'utf8')) as {
      int8: {
        bare: { one_run_steps: number };
        supervised: { shared_decoder_steps: number };
        bandwidth_floor: { bytes: number };
        time_to_first_pose: { int8: { warm?: { rss_mb: number; precision: string } } };
      };
    }
  ).int8;
  assert.equal(int8.bare.one_run_steps, 130);
  // The fp32 shadow never rides in an int8 run.
  assert.equal(int8.supervised.shared_decoder_steps, 0);
  assert.ok(int8.bandwidth_floor.bytes > 5e6 && int8.bandwidth_floor.bytes < 0.3 * full.bandwidth_floor.bytes);
  assert.equal(int8.time_to_first_pose.int8.warm?.precision, 'int8');
  assert.ok((int8.time_to_first_pose.int8.warm?.rss_mb ?? 0) > 0);
});

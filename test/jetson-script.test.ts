import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { arch } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

const script = join(ROOT, 'scripts', 'build-onnxruntime-jetson.sh');

test(
  'the Jetson build script refuses to run off a Jetson with one clear line and exit 2',
  { skip: arch() === 'arm64' ? 'an arm64 machine may be a Jetson: the script would start a real build' : false },
  () => {
    const r = spawnSync('bash', [script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^build-onnxruntime-jetson: not aarch64 \(\w+\): this script builds on a Jetson/);
  },
);

test('the Jetson build script rejects an unknown argument the same way, and --help prints its usage', () => {
  const bad = spawnSync('bash', [script, '--frobnicate'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr.trim(), /^build-onnxruntime-jetson: unknown argument --frobnicate \(see --help\)$/);
  const help = spawnSync('bash', [script, '--help'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--arch\s+CMAKE_CUDA_ARCHITECTURES/);
});

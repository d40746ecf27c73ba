import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../src/common/errors.js';
import { loadConfig, validateConfig } from '../src/daemon/config.js';
import { resolveStreams } from '../src/config/streams.js';
import { DEFAULT_CONFIG } from '../src/daemon/bootstrap.js';
import { runCli } from './helpers.js';

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('expected the configuration to be refused');
}

test('the shipped configuration loads and holds every key of the plan', () => {
  const c = loadConfig(DEFAULT_CONFIG);
  assert.equal(c.runtime.streaming.step_ms, 20);
  assert.equal(c.runtime.streaming.warmup_samples, 1790);
  assert.equal(c.runtime.streaming.window_samples, 1830);
  assert.equal(c.runtime.streaming.step_samples, 40);
  assert.equal(c.runtime.streaming.feature_single_point_interpolation, true);
  assert.equal(c.runtime.streaming.max_buffer_seconds, 10);
  assert.equal(c.eval.streaming_alignment_check, true);
  assert.deepEqual(c.eval.streaming_tolerance, { mse: 1e-5, max_diff: 5e-5 });
  assert.deepEqual(c.logging.latency, { enabled: true, percentiles: [50, 95, 99] });
});

test('--set overrides are typed by the schema', () => {
  const c = loadConfig(undefined, [
    'model.mode=exact',
    'runtime.streaming.max_buffer_seconds=12.5',
    'logging.latency.percentiles=[50, 90]',
    'input.source=replay:123',
    'eval.streaming_alignment_check=false',
  ]);
  assert.equal(c.model.mode, 'exact');
  assert.equal(c.runtime.streaming.max_buffer_seconds, 12.5);
  assert.deepEqual(c.logging.latency.percentiles, [50, 90]);
  assert.equal(c.input.source, 'replay:123', 'a string key keeps its text');
  assert.equal(c.eval.streaming_alignment_check, false);
});

test('refusals name the key, the value and why', () => {
  assert.match(
    refusal(() => loadConfig(undefined, ['model.mdoe=exact'])),
    /unknown key model\.mdoe/,
  );
  assert.match(
    refusal(() => loadConfig(undefined, ['model.mode=fast'])),
    /model\.mode = "fast"/,
  );
  assert.match(
    refusal(() => loadConfig(undefined, ['runtime.streaming.step_ms=fast'])),
    /runtime\.streaming\.step_ms = "fast".*number/,
  );
  assert.match(
    refusal(() => loadConfig(undefined, ['runtime.streaming.window_samples=1790'])),
    /window_samples = 1790: must equal warmup_samples \+ step_samples \(1830\); a shorter window/,
  );
  assert.match(
    refusal(() => loadConfig(undefined, ['runtime.streaming.window_samples=2000'])),
    /window_samples = 2000: must equal warmup_samples \+ step_samples \(1830\); a longer window would make single-point sampling take a stale frame/,
  );
  assert.match(
    refusal(() => loadConfig(undefined, ['runtime.exact.block_samples=10040'])),
    /block_samples = 10040: must be a multiple of the encoder stride 80/,
  );
  assert.match(
    refusal(() => loadConfig(undefined, ['runtime.streaming.step_samples=30'])),
    /step_samples = 30: must be 40/,
  );
  assert.match(
    refusal(() => loadConfig(undefined, ['runtime.streaming.warmup_samples=1000'])),
    /warmup_samples = 1000: must equal/,
  );
  assert.match(
    refusal(() => loadConfig(undefined, ['runtime.streaming.step_ms=25'])),
    /step_ms = 25: must equal/,
  );
  assert.match(
    refusal(() => loadConfig(undefined, ['eval.streaming_tolerance.mse=-1'])),
    /eval\.streaming_tolerance\.mse = -1/,
  );
  assert.match(
    refusal(() => loadConfig(undefined, ['runtime.streaming.max_buffer_seconds=0.5'])),
    /max_buffer_seconds = 0\.5: too small/,
  );
  assert.match(
    refusal(() => loadConfig(undefined, ['nonsense'])),
    /--set nonsense: expected key=value/,
  );
  assert.doesNotThrow(() => loadConfig(undefined, ['runtime.exact.block_samples=8000']));
});

test('a bad config file is refused with its name and position', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-cfg-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'model:\n  mode: [exact\n');
  assert.match(
    refusal(() => loadConfig(bad)),
    new RegExp(`config file ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: not valid YAML`),
  );
  const wrong = join(dir, 'wrong.yaml');
  writeFileSync(wrong, 'runtime:\n  streaming:\n    step_samples: 41\n');
  assert.match(
    refusal(() => loadConfig(wrong)),
    /wrong\.yaml: runtime\.streaming\.step_samples = 41/,
  );
  assert.match(
    refusal(() => loadConfig(join(dir, 'missing.yaml'))),
    /cannot read \(ENOENT\)/,
  );
});

test('the CLI answers bad configuration with one line and exit code 2', () => {
  const r = runCli(['run', '--set', 'runtime.streaming.window_samples=2000']);
  assert.equal(r.status, 2);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    lines[0]!,
    /^myostream: --set runtime\.streaming\.window_samples=2000: runtime\.streaming\.window_samples = 2000: must equal/,
  );
  const u = runCli(['run', '--bogus']);
  assert.equal(u.status, 2);
  const m = runCli(['run', '--source', 'replay:/nonexistent/file.mtb']);
  assert.equal(m.status, 2);
  assert.match(m.stderr, /nonexistent\/file\.mtb: cannot read recording \(ENOENT\)/);
});

test('outputs.mqtt.smoothing moved to outputs.smoothing: an old configuration is told where, in one line, exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myostream-moved-'));
  const old = join(dir, 'old.yaml');
  writeFileSync(old, 'outputs:\n  mqtt:\n    smoothing:\n      enabled: true\n');
  assert.equal(
    refusal(() => loadConfig(old)),
    `config file ${old}: outputs.mqtt.smoothing moved to outputs.smoothing`,
  );
  assert.equal(
    refusal(() => loadConfig(undefined, ['outputs.mqtt.smoothing.beta=1'])),
    '--set outputs.mqtt.smoothing.beta=1: outputs.mqtt.smoothing.beta moved to outputs.smoothing.beta',
  );
  const streams = join(dir, 'streams.yaml');
  writeFileSync(
    streams,
    'streams:\n  - stream_id: left\n    outputs:\n      mqtt:\n        smoothing: {enabled: true}\n',
  );
  assert.equal(
    refusal(() => resolveStreams(loadConfig(streams), validateConfig)),
    'config file streams[0] (left): outputs.mqtt.smoothing moved to outputs.smoothing',
  );
  assert.equal(loadConfig(undefined, ['outputs.smoothing.enabled=true']).outputs.smoothing.beta, 0.5);
  const r = runCli(['run', '--config', old]);
  assert.equal(r.status, 2);
  assert.deepEqual(r.stderr.trim().split('\n'), [
    `myostream: config file ${old}: outputs.mqtt.smoothing moved to outputs.smoothing`,
  ]);
});

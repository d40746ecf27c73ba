import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../src/common/logger.js';
import { loadConfig } from '../src/daemon/config.js';
import { createSource } from '../src/acquisition/sources.js';
import { DEFAULT_ALIGN_SECONDS, readAlignSignal } from '../src/daemon/align-signal.js';
import { SAMPLE_RATE } from '../src/domain/geometry.js';

// A live ADC writes from its worker thread and never asks the reader for room: before the
// progress poll, `align --source ads1299` without --duration read forever.
test('align reads a live ADC without --duration: stops after the default length, from its first sample', async () => {
  const cfg = loadConfig(undefined, ['input.source=ads1299-sim', 'input.speed=0']);
  const source = await createSource(cfg, silentLogger());
  assert.equal(source.info.live, true);
  assert.equal(source.info.totalSamples, undefined, 'no end of its own');
  const { ring, truth } = await readAlignSignal(source, cfg, silentLogger());
  const want = DEFAULT_ALIGN_SECONDS * SAMPLE_RATE;
  assert.ok(ring.written >= want, `${ring.written} samples, want ${want}`);
  assert.equal(ring.oldest, 0, 'the first sample is still held');
  assert.equal(ring.overwritten, 0);
  assert.equal(truth, undefined);
});

test('align with --duration reads that much of a recording and no more than the buffer holds', async () => {
  const cfg = loadConfig(undefined, ['input.duration_s=6']);
  const source = await createSource(cfg, silentLogger());
  const { ring } = await readAlignSignal(source, cfg, silentLogger());
  assert.ok(ring.written >= 6 * SAMPLE_RATE && ring.oldest === 0, `${ring.written} samples from ${ring.oldest}`);
});

test('align refuses a signal shorter than one exact block before reading it', async () => {
  const cfg = loadConfig(undefined, ['input.duration_s=1']);
  const source = await createSource(cfg, silentLogger());
  await assert.rejects(readAlignSignal(source, cfg, silentLogger()), /align needs at least one exact block/);
});

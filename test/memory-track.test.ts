import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryTrack } from '../src/supervision/memory.js';

test('the memory series stays bounded and evenly spaced however long the run', () => {
  const m = new MemoryTrack();
  for (let i = 0; i < 5000; i++) m.sample();
  assert.ok(m.samples.length < 240, `${m.samples.length} samples kept`);
  assert.ok(m.samples.length >= 100);
});

test('growth is the slope after the first minute, in MB per hour', () => {
  const m = new MemoryTrack();
  // A synthetic series: 100 MB of start-up, then 1 MB per minute.
  for (let k = 0; k < 20; k++)
    m.samples.push({
      t_s: k * 30,
      rss_mb: k < 2 ? 50 + 50 * k : 150 + (k * 30 - 60) / 60,
      heap_used_mb: 10,
      external_mb: 5,
    });
  const g = m.growth()!;
  assert.equal(g.rss_mb_per_hour, 60);
  assert.equal(g.heap_used_mb_per_hour, 0);
  assert.equal(new MemoryTrack().growth(), null);
});

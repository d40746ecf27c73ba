import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RingBuffer } from '../src/acquisition/ring-buffer.js';

test('the ring remembers when each of its last 512 appends arrived', async () => {
  const ring = RingBuffer.create(1000, 2, { stampArrivals: true });
  assert.ok(Number.isNaN(ring.arrivalTimeOf(0)), 'nothing written yet');
  const chunk = new Float32Array(2 * 10);
  const times: number[] = [];
  for (let a = 0; a < 600; a++) {
    const before = performance.timeOrigin + performance.now();
    ring.append(chunk);
    const after = performance.timeOrigin + performance.now();
    times.push((before + after) / 2);
    if (a % 100 === 0) await new Promise((r) => setTimeout(r, 2));
  }
  // Append a delivered samples [10a, 10a + 10).
  for (const a of [599, 598, 400, 100, 89]) {
    for (const sample of [10 * a, 10 * a + 9]) {
      const t = ring.arrivalTimeOf(sample);
      assert.ok(Math.abs(t - times[a]!) < 1, `sample ${sample}: ${t} vs append ${a} at ${times[a]}`);
    }
  }
  // Append 88 is the oldest held, but where it began is gone with append 87: unknown.
  assert.ok(Number.isNaN(ring.arrivalTimeOf(10 * 88 + 5)), 'older than the log can place');
  assert.ok(Number.isNaN(ring.arrivalTimeOf(10 * 87)), 'older than the last 512 appends');
  assert.ok(Number.isNaN(ring.arrivalTimeOf(6000)), 'not written yet');
});

test('a ring without arrival stamps answers NaN', () => {
  const ring = RingBuffer.create(100, 2);
  ring.append(new Float32Array(20));
  assert.ok(Number.isNaN(ring.arrivalTimeOf(5)));
});

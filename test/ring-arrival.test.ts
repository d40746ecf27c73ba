import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RingBuffer } from '../src/acquisition/ring-buffer.js';

const epochNow = (): number => performance.timeOrigin + performance.now();

/** Appends `appends` chunks of `size` samples, pausing now and then so that times differ; returns each append's time. */
async function appendTimed(ring: RingBuffer, appends: number, size: number): Promise<number[]> {
  const chunk = new Float32Array(ring.channels * size);
  const times: number[] = [];
  for (let a = 0; a < appends; a++) {
    const before = epochNow();
    ring.append(chunk);
    times.push((before + epochNow()) / 2);
    if (a % 100 === 0) await new Promise((r) => setTimeout(r, 2));
  }
  return times;
}

test('the ring remembers when each sample it holds arrived (10-sample appends)', async () => {
  const ring = RingBuffer.create(1000, 2, { stampArrivals: true });
  assert.ok(Number.isNaN(ring.arrivalTimeOf(0)), 'nothing written yet');
  const times = await appendTimed(ring, 600, 10);
  // Append a delivered samples [10a, 10a + 10); the ring holds [5000, 6000).
  for (const a of [599, 598, 550, 501, 500]) {
    for (const sample of [10 * a, 10 * a + 9]) {
      const t = ring.arrivalTimeOf(sample);
      assert.ok(Math.abs(t - times[a]!) < 1, `sample ${sample}: ${t} vs append ${a} at ${times[a]}`);
    }
  }
  assert.ok(Number.isNaN(ring.arrivalTimeOf(4999)), 'no longer held');
  assert.ok(Number.isNaN(ring.arrivalTimeOf(6000)), 'not written yet');
});

test('with 1-sample appends the arrival log still covers the whole ring', async () => {
  // The ADC worker appends frame by frame: far more appends than any fixed log of appends holds.
  const capacity = 4000;
  const ring = RingBuffer.create(capacity, 3, { stampArrivals: true });
  const times = await appendTimed(ring, 2 * capacity + 123, 1);
  const written = ring.written;
  let missing = 0;
  let worst = 0;
  for (let sample = written - capacity; sample < written; sample++) {
    const t = ring.arrivalTimeOf(sample);
    if (Number.isNaN(t)) missing++;
    else worst = Math.max(worst, Math.abs(t - times[sample]!));
  }
  assert.equal(missing, 0, `${missing} of ${capacity} held samples have no arrival time`);
  assert.ok(worst < 1, `arrival times off by up to ${worst} ms`);
  assert.ok(Number.isNaN(ring.arrivalTimeOf(written - capacity - 1)), 'the sample just overwritten');
});

test('an append larger than the ring stamps the samples it keeps', () => {
  const ring = RingBuffer.create(100, 2, { stampArrivals: true });
  ring.append(new Float32Array(2 * 30));
  const before = epochNow();
  ring.append(new Float32Array(2 * 250));
  const after = epochNow();
  assert.equal(ring.written, 280);
  for (let sample = 180; sample < 280; sample++) {
    const t = ring.arrivalTimeOf(sample);
    assert.ok(t >= before - 1 && t <= after + 1, `sample ${sample}: ${t} not within [${before}, ${after}]`);
  }
  assert.ok(Number.isNaN(ring.arrivalTimeOf(179)));
});

test('a ring attached from its layout reads the same stamps', async () => {
  const ring = RingBuffer.create(500, 2, { stampArrivals: true });
  await appendTimed(ring, 700, 1);
  const other = RingBuffer.attach(ring.layout());
  for (const s of [200, 450, 699]) assert.equal(other.arrivalTimeOf(s), ring.arrivalTimeOf(s));
});

test('a ring without arrival stamps answers NaN', () => {
  const ring = RingBuffer.create(100, 2);
  ring.append(new Float32Array(20));
  assert.ok(Number.isNaN(ring.arrivalTimeOf(5)));
});

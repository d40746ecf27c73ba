import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newPoseEvent } from '../src/domain/pose.js';
import { PoseSmoother, PoseSmoothingPlugin } from '../src/outputs/pose-smoothing.js';
import { OneEuroFilter } from '../src/outputs/one-euro.js';
import { hostPlugins } from './live-host.js';

const SETTINGS = { min_cutoff: 2, beta: 0.5, d_cutoff: 1 };

test('One Euro: a constant passes unchanged, a step is followed with lag, faster with a higher beta', () => {
  const run = (beta: number): number[] => {
    const f = new OneEuroFilter(1, { ...SETTINGS, beta }, 50);
    const x = new Float32Array(1);
    const y = new Float32Array(1);
    const out: number[] = [];
    for (let k = 0; k < 40; k++) {
      x[0] = k < 10 ? 0.5 : 1.5;
      f.apply(x, y);
      out.push(y[0]!);
    }
    return out;
  };
  const slow = run(0);
  const fast = run(5);
  assert.ok(slow.slice(0, 10).every((v) => Math.abs(v - 0.5) < 1e-6));
  assert.ok(slow[10]! > 0.5 && slow[10]! < 1.5, 'the step is followed, not copied');
  assert.ok(fast[10]! > slow[10]!, 'speed raises the cutoff');
  assert.ok(Math.abs(slow[39]! - 1.5) < 0.01, 'and it settles');
});

test('the smoothed stream starts afresh on a jump in stream time, a mode switch and reset()', () => {
  const s = new PoseSmoother(2, SETTINGS);
  const e = newPoseEvent('streaming', new Float32Array(2));
  const feed = (t: number, v: number, mode: 'streaming' | 'exact' = 'streaming'): number => {
    e.t = t;
    e.mode = mode;
    e.angles.fill(v);
    return s.update(e).angles[0]!;
  };
  assert.equal(feed(0.915, 0), 0);
  assert.ok(feed(0.935, 1) < 1, 'continuous: filtered');
  assert.equal(feed(2.0, 1), 1, 'a gap: passed through');
  assert.ok(feed(2.02, 0) > 0);
  assert.equal(feed(2.04, 0.3, 'exact'), Math.fround(0.3), 'a mode switch: passed through');
  s.reset();
  assert.equal(feed(2.06, 0.7, 'exact'), Math.fround(0.7), 'reset: passed through');
  assert.equal(s.restarts, 4);
  const out = s.update(e);
  assert.equal(out.t, e.t);
  assert.equal(out.step, e.step);
  assert.notEqual(out.angles, e.angles, 'its own reused angles');
});

test('the smoothing stage: every pose on the bus as `smoothed` (same step, t, arrival), started afresh by a gap event', async () => {
  const stage = new PoseSmoothingPlugin(SETTINGS);
  const host = await hostPlugins([stage]);
  try {
    const got: { step: number; t: number; arrived: number; a: number }[] = [];
    host.bus.on({ name: 'probe' }, 'smoothed', (s) =>
      got.push({ step: s.step, t: s.t, arrived: s.inputArrivedAt, a: s.angles[0]! }),
    );
    const e = newPoseEvent('streaming', new Float32Array(20));
    const feed = (step: number, v: number): void => {
      e.step = step;
      e.t = 0.915 + step * 0.02;
      e.inputArrivedAt = 100 + step;
      e.angles.fill(v);
      host.bus.emit('pose', e);
    };
    feed(0, 0);
    feed(1, 1);
    host.record('gap', 0, 'a hole in the input');
    feed(2, 1);
    assert.deepEqual(
      got.map((g) => [g.step, g.t, g.arrived]),
      [
        [0, 0.915, 100],
        [1, 0.915 + 0.02, 101],
        [2, 0.915 + 2 * 0.02, 102],
      ],
    );
    assert.ok(got[1]!.a > 0 && got[1]!.a < 1, 'continuous: filtered');
    assert.equal(got[2]!.a, 1, 'after the gap event: passed through');
    assert.deepEqual(host.report().sections['smoothing'], { ...SETTINGS, restarts: 2 });
  } finally {
    await host.stop();
  }
});

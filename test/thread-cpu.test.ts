import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ThreadCpuClock, threadCpuClock } from '../src/common/thread-cpu.js';

const clock = threadCpuClock();
const linux = process.platform === 'linux';

test('thread CPU time grows while this thread computes, read with sub-millisecond resolution', { skip: !linux }, () => {
  assert.ok(clock.available);
  const start = clock.nowMs();
  let prev = start;
  let steps = 0;
  let subMs = 0;
  const wallLimit = performance.now() + 20_000;
  let x = 0;
  // Spin until the clock has counted 30 ms of CPU: however busy the machine, the thread gets
  // there; a clock that did not advance would hit the wall limit.
  while (clock.nowMs() - start < 30 && performance.now() < wallLimit) {
    for (let i = 0; i < 20_000; i++) x += Math.sqrt(i + x);
    const now = clock.nowMs();
    if (now > prev) {
      steps++;
      // The kernel advances this counter at its ticks and context switches (how often depends on
      // its HZ and on the load beside the test), but in nanoseconds: readings are not whole ms.
      if (now % 1 !== 0) subMs++;
    }
    prev = now;
  }
  assert.ok(Number.isFinite(x));
  assert.ok(clock.nowMs() - start >= 30, `CPU time advanced only ${(clock.nowMs() - start).toFixed(3)} ms`);
  assert.ok(steps >= 2, `the clock advanced ${steps} times`);
  assert.ok(subMs >= steps / 2, `${subMs} of ${steps} readings had a fraction of a millisecond`);
});

test('thread CPU time stays flat while the thread sleeps', { skip: !linux }, () => {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const before = clock.nowMs();
  const wall0 = performance.now();
  Atomics.wait(sleeper, 0, 0, 300);
  const wall = performance.now() - wall0;
  const cpu = clock.nowMs() - before;
  assert.ok(wall >= 250, `slept ${wall} ms`);
  assert.ok(cpu < 10, `${cpu.toFixed(3)} ms of CPU during a ${wall.toFixed(0)} ms sleep`);
});

test('a missing or unreadable clock file reads NaN, never throws', () => {
  const c = new ThreadCpuClock('/nonexistent/schedstat');
  assert.equal(c.available, false);
  assert.ok(Number.isNaN(c.nowMs()));
  const notDigits = new ThreadCpuClock('/proc/self/status');
  assert.equal(notDigits.available, false);
  assert.ok(Number.isNaN(notDigits.nowMs()));
});

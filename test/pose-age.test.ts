import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBroker } from '../src/outputs/embedded-broker.js';
import { encodePose } from '../src/outputs/mqtt-messages.js';
import { PoseAgeStats, captureTime, publishedAge } from '../src/outputs/pose-age.js';
import { newPoseEvent } from '../src/domain/pose.js';
import { CLI, ROOT, cliEnv } from './helpers.js';
import { Subscriber, assertSchema, waitFor } from './mqtt-helpers.js';

interface PoseMsg {
  seq: number;
  step: number;
  mode: string;
  ts: number;
  t_capture: number | null;
  age_ms: number | null;
  angles: number[];
}

function meanAbsStep(poses: readonly PoseMsg[]): number {
  let s = 0;
  let n = 0;
  for (let i = 1; i < poses.length; i++) {
    for (let j = 0; j < poses[i]!.angles.length; j++) s += Math.abs(poses[i]!.angles[j]! - poses[i - 1]!.angles[j]!);
    n += poses[i]!.angles.length;
  }
  return s / n;
}

test('a live run: every pose on myostream/+/pose has t_capture ≤ ts and 0 ≤ age_ms < 1000; smoothed poses pair by seq; the age percentiles reach latency_stats.json', async () => {
  const broker = await EmbeddedBroker.start({ port: 0 });
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const sub = await Subscriber.open(url, 'myostream/+/pose');
  const smoothedSub = await Subscriber.open(url, 'myostream/agetest/pose/smoothed');
  const dir = mkdtempSync(join(tmpdir(), 'myo-age-'));
  try {
    // Real-time replay: ages are electrode-to-publish times only when the input is paced.
    const child = spawn(
      process.execPath,
      [
        CLI,
        'run',
        '--speed',
        '1',
        '--quiet',
        '--artifacts',
        dir,
        '--set',
        'input.duration_s=4',
        '--set',
        `outputs.mqtt.broker=${url}`,
        '--set',
        'outputs.mqtt.node_id=agetest',
        '--set',
        'logging.level=error',
        '--set',
        'outputs.smoothing.enabled=true',
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: cliEnv() },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 0, stderr);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as {
      counts: { poses: number };
      pose_age_ms: { count: number; p50_ms: number; p95_ms: number };
    };
    const n = summary.counts.poses;
    assert.ok(n > 50, `a 4 s run gives poses (got ${n})`);
    await waitFor(
      `${n} poses`,
      () => sub.on('/pose').length >= n && smoothedSub.on('/pose/smoothed').length >= n,
      5000,
    );
    const poses = sub.on('/pose').map((m) => m.body as unknown as PoseMsg);
    assert.equal(poses.length, n);
    for (const p of poses) {
      assertSchema('mqtt_pose', p);
      assert.equal(p.mode, 'streaming');
      assert.ok(p.t_capture !== null && p.age_ms !== null, `pose ${p.seq} has a capture time`);
      assert.ok(p.t_capture <= p.ts, `pose ${p.seq}: t_capture ${p.t_capture} > ts ${p.ts}`);
      assert.ok(p.age_ms >= 0 && p.age_ms < 1000, `pose ${p.seq}: age_ms ${p.age_ms}`);
      // t_capture is ts − age on the publisher's clock (to rounding).
      assert.ok(Math.abs(p.ts - p.age_ms - p.t_capture) < 0.2, JSON.stringify(p));
    }
    const smoothed = smoothedSub.on('/pose/smoothed').map((m) => m.body as unknown as PoseMsg);
    assert.equal(smoothed.length, n);
    smoothed.forEach((s, i) => {
      assertSchema('mqtt_pose', s);
      assert.equal(s.seq, poses[i]!.seq);
      assert.equal(s.step, poses[i]!.step);
      assert.equal(s.t_capture, poses[i]!.t_capture);
    });
    assert.ok(
      meanAbsStep(smoothed) < meanAbsStep(poses),
      `smoothed jitter ${meanAbsStep(smoothed)} < raw ${meanAbsStep(poses)}`,
    );
    const lat = JSON.parse(readFileSync(join(dir, 'latency_stats.json'), 'utf8')) as {
      pose_age_ms: { count: number; p50_ms: number; p95_ms: number };
    };
    assert.equal(lat.pose_age_ms.count, n);
    assert.ok(
      lat.pose_age_ms.p50_ms >= 0 && lat.pose_age_ms.p50_ms <= lat.pose_age_ms.p95_ms && lat.pose_age_ms.p95_ms < 1000,
      JSON.stringify(lat.pose_age_ms),
    );
    assert.deepEqual(summary.pose_age_ms, lat.pose_age_ms);
  } finally {
    await sub.close();
    await smoothedSub.close();
    await broker.close();
  }
});

test('pose age: t_capture never passes ts, an unknown arrival is null, and percentiles cover the recent window', () => {
  assert.equal(publishedAge(NaN), null);
  assert.equal(publishedAge(-0.004), 0);
  assert.equal(publishedAge(12.3456), 12.35);
  assert.equal(captureTime(1000, null), null);
  assert.ok(captureTime(1_733_400_000_123, 0.04)! <= 1_733_400_000_123);
  const e = newPoseEvent('exact', new Float32Array(20));
  const exactPose = JSON.parse(encodePose(3, e, 1000, NaN)) as PoseMsg;
  assert.equal(exactPose.t_capture, null);
  assert.equal(exactPose.age_ms, null);
  assertSchema('mqtt_pose', exactPose);
  const s = new PoseAgeStats();
  for (let i = 1; i <= 100; i++) s.record(i);
  s.record(NaN);
  const sum = s.summary();
  assert.equal(sum.count, 100);
  assert.equal(sum.unknown, 1);
  assert.equal(sum.p50_ms, 50);
  assert.equal(sum.p95_ms, 95);
  assert.equal(sum.max_ms, 100);
  // Only the last 3000 poses count for the percentiles; the maximum is the run's.
  for (let i = 0; i < 3000; i++) s.record(5);
  assert.equal(s.summary().p95_ms, 5);
  assert.equal(s.summary().max_ms, 100);
});

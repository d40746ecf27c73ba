import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBroker } from '../src/outputs/embedded-broker.js';
import { CLI, ROOT, cliEnv } from './helpers.js';
import { Subscriber, assertSchema, waitFor } from './mqtt-helpers.js';

test('myostream run publishes every pose, its status and its fallback over MQTT', async () => {
  const broker = await EmbeddedBroker.start({ port: 0 });
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const sub = await Subscriber.open(url, 'myostream/e2e/#');
  const dir = mkdtempSync(join(tmpdir(), 'myo-mqtt-'));
  try {
    const child = spawn(
      process.execPath,
      [
        CLI,
        'run',
        '--speed',
        '0',
        '--quiet',
        '--artifacts',
        dir,
        '--set',
        `outputs.mqtt.broker=${url}`,
        '--set',
        'outputs.mqtt.node_id=e2e',
        '--set',
        'logging.level=error',
        // An injected regression (latency bounds no step can meet), so the run also falls back.
        '--set',
        'eval.streaming_latency.p50_ms=0.0001',
        '--set',
        'eval.streaming_latency.p95_ms=0.0001',
        '--set',
        'watchdog.latency.window_units=20',
        '--set',
        'watchdog.latency.persistence_windows=1',
        '--set',
        'runtime.fallback.return=false',
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: cliEnv() },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 0, stderr);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as {
      counts: { poses: number };
      mqtt: { published: number; dropped: number };
    };
    const n = summary.counts.poses;
    await waitFor(`${n} poses`, () => sub.on('/pose').length >= n, 5000);
    const poses = sub.on('/pose').map((m) => m.body as { seq: number; step: number; mode: string });
    assert.equal(poses.length, n);
    poses.forEach((p, i) => {
      assert.equal(p.seq, i);
      assert.equal(p.step, i);
    });
    assertSchema('mqtt_pose', poses[0]);
    const k = poses.findIndex((p) => p.mode === 'exact');
    assert.ok(k > 0, 'streaming first, then exact after the fallback');
    assert.ok(poses.slice(k).every((p) => p.mode === 'exact'));
    const events = sub.on('/event').map((m) => m.body as { kind: string });
    assert.ok(
      events.some((e) => e.kind === 'mode_switch'),
      JSON.stringify(events),
    );
    const status = sub.on('/status').map((m) => m.body as { state: string });
    assert.equal(status[status.length - 1]!.state, 'offline', 'the run says goodbye on close');
    assert.equal(summary.mqtt.published, n);
    assert.equal(summary.mqtt.dropped, 0);
  } finally {
    await sub.close();
    await broker.close();
  }
});

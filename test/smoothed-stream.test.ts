import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { liveViewSchema } from '../src/outputs/live-view-settings.js';
import type { PoseEvent } from '../src/domain/pose.js';
import { LiveViewPlugin } from '../src/outputs/live-view.js';
import { MqttOutput } from '../src/outputs/mqtt-output.js';
import { PoseSmoothingPlugin } from '../src/outputs/pose-smoothing.js';
import { LatencyMonitor } from '../src/supervision/latency-monitor.js';
import { hostPlugins } from './live-host.js';
import { Subscriber, assertSchema, closeSubscribers, mqttConfig, poseStream, waitFor } from './mqtt-helpers.js';

after(closeSubscribers);

const SMOOTHING = { min_cutoff: 2, beta: 0.5, d_cutoff: 1 };
const LATENCY = {
  percentiles: [50, 95],
  warmup_steps: 0,
  p50_ms: 10,
  p95_ms: 20,
  check: false,
  judged: false,
  providers: {},
  file: 'latency_stats.json',
};

type PoseMsg = {
  seq: number;
  step: number;
  ts: number;
  t_capture: number | null;
  age_ms: number | null;
  angles: number[];
};

// The stage's row comes first in the registry; the other order must give the same messages.
for (const order of ['the smoothing stage first', 'the smoothing stage last'] as const) {
  test(`one smoothed stream, computed once per pose, that MQTT and the live view both take (${order})`, async () => {
    const smoothing = new PoseSmoothingPlugin(SMOOTHING);
    const mqtt = new MqttOutput(mqttConfig(), { smoothing: SMOOTHING });
    const live = new LiveViewPlugin(liveViewSchema.parse({ enabled: true, port: 0 }), undefined, true);
    const latency = new LatencyMonitor(LATENCY);
    const outputs = order === 'the smoothing stage first' ? [smoothing, mqtt, live] : [mqtt, live, smoothing];
    const host = await hostPlugins([latency, ...outputs]);
    try {
      const port = (host.report().sections['mqtt'] as { embedded_port: number }).embedded_port;
      const sub = await Subscriber.open(`mqtt://127.0.0.1:${port}`, 'myostream/testnode/#');
      await waitFor('retained meta', () => sub.on('/meta').length > 0);
      const meta = sub.on('/meta')[0]!.body;
      assertSchema('mqtt_meta', meta);
      assert.deepEqual(meta['smoothing'], SMOOTHING);

      // What the stage put on the bus, copied: MQTT must publish exactly these.
      const stage: number[][] = [];
      let published = 0;
      const probe = { name: 'probe' };
      host.bus.on(probe, 'smoothed', (s: PoseEvent) => stage.push(Array.from(s.angles)));
      host.bus.on(probe, 'published', () => published++);
      const next = poseStream();
      const N = 40;
      for (let i = 0; i < N; i++) {
        const e = next();
        e.inputArrivedAt = performance.now() - 5;
        host.bus.emit('pose', e);
      }
      assert.equal(stage.length, N, 'the filter ran once per pose, whoever shows it');
      assert.equal(published, N);
      await waitFor(
        `${N} raw and ${N} smoothed poses`,
        () => sub.on('/pose').length >= N && sub.on('/pose/smoothed').length >= N,
      );
      const raw = sub.on('/pose').map((m) => m.body as unknown as PoseMsg);
      const smoothed = sub.on('/pose/smoothed').map((m) => m.body as unknown as PoseMsg);
      assert.equal(smoothed.length, N);
      smoothed.forEach((s, i) => {
        assertSchema('mqtt_pose', s);
        const r = raw[i]!;
        assert.deepEqual(
          [s.seq, s.step, s.ts, s.t_capture, s.age_ms],
          [r.seq, r.step, r.ts, r.t_capture, r.age_ms],
          `smoothed ${i} pairs with its raw pose`,
        );
        s.angles.forEach((a, j) => assert.equal(Math.fround(a), Math.fround(stage[i]![j]!)));
      });
      assert.ok(
        smoothed.some((s, i) => s.angles[0] !== raw[i]!.angles[0]),
        'the smoothed poses are not the raw ones',
      );

      // Pose age: measured once where MQTT publishes, summarised by the latency monitor.
      const report = host.report().sections;
      const ages = report['pose_age_ms'] as { count: number; p50_ms: number };
      assert.equal(ages.count, N);
      assert.ok(ages.p50_ms >= 5, JSON.stringify(ages));
      assert.deepEqual(report['smoothing'], { ...SMOOTHING, restarts: 1 });
      assert.equal((report['live_view'] as { poses: number }).poses, N);
      await sub.close();
    } finally {
      await host.stop();
    }
  });
}

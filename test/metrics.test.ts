import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metricsSchema } from '../src/config/metrics-schema.js';
import { silentLogger } from '../src/common/logger.js';
import { LATENCY_BUCKETS_S, MetricsServer } from '../src/outputs/metrics-server.js';
import { connect as tcpConnect } from 'node:net';
import { CLI, ROOT, cliEnv } from './helpers.js';
import { waitFor } from './mqtt-helpers.js';

/** `name{labels} value` lines of a scrape, keyed by name and labels. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

test('two streams share one Prometheus server, each under its stream label, with fixed buckets', async () => {
  const settings = metricsSchema.parse({ enabled: true, port: 0, process_metrics: false });
  const server = MetricsServer.for(settings, silentLogger());
  const counts = { poses: 7, samples: 280, gaps: 1 };
  const a = server.attach('left', { counts: () => counts, mode: () => 'streaming', providers: { encoder: 'cpu' } });
  const b = server.attach('right', { counts: () => ({ poses: 3 }), mode: () => 'exact', providers: { encoder: 'cuda' } });
  assert.equal(MetricsServer.for(settings, silentLogger()), server, 'one server per process and address');
  try {
    await server.listen();
    a.poseAge.observe(0.012);
    a.poseAge.observe(0.012);
    a.poseAge.observe(9);
    b.tCompute.observe(0.004);
    const res = await fetch(server.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const s = samples(await res.text());
    assert.equal(s.get('myostream_poses_total{stream="left"}'), 7);
    assert.equal(s.get('myostream_poses_total{stream="right"}'), 3);
    assert.equal(s.get('myostream_gaps_total{stream="left"}'), 1);
    assert.equal(s.get('myostream_mode{stream="right",mode="exact"}'), 1);
    assert.equal(s.get('myostream_mode{stream="right",mode="streaming"}'), 0);
    assert.equal(s.get('myostream_execution_provider{stream="right",model="encoder",provider="cuda"}'), 1);
    // Cumulative buckets at the documented bounds.
    assert.equal(s.get('myostream_pose_age_seconds_bucket{stream="left",le="0.01"}'), 0);
    assert.equal(s.get('myostream_pose_age_seconds_bucket{stream="left",le="0.015"}'), 2);
    assert.equal(s.get('myostream_pose_age_seconds_bucket{stream="left",le="5"}'), 2);
    assert.equal(s.get('myostream_pose_age_seconds_bucket{stream="left",le="+Inf"}'), 3);
    assert.equal(s.get('myostream_pose_age_seconds_count{stream="left"}'), 3);
    assert.equal(s.get('myostream_step_compute_seconds_bucket{stream="right",le="0.005"}'), 1);
    const les = [...s.keys()].filter((k) => k.startsWith('myostream_pose_age_seconds_bucket{stream="left"')).length;
    assert.equal(les, LATENCY_BUCKETS_S.length + 1);
    // Counters follow the streams between scrapes.
    counts.poses = 50;
    const again = samples(await (await fetch(server.url)).text());
    assert.equal(again.get('myostream_poses_total{stream="left"}'), 50);
    assert.equal((await fetch(server.url.replace('/metrics', '/other'))).status, 404);
  } finally {
    await server.detach('left');
    await server.detach('right');
  }
  assert.equal(server.url, '', 'the last stream out closes the server');
});

test('myostream run serves /metrics during the run: counters, _bucket series, mode and provider gauges, event-loop lag', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-metrics-'));
  const child = spawn(process.execPath, [CLI, 'run', '--speed', '1', '--artifacts', dir, '--set', 'input.duration_s=6', '--set', 'outputs.metrics.enabled=true', '--set', 'outputs.metrics.port=0',
    '--set', 'outputs.mqtt.broker=embedded', '--set', 'outputs.mqtt.embedded_port=0'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: cliEnv() });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  try {
    await waitFor('the metrics URL in the log', () => /Prometheus metrics url=(\S+)/.test(stderr), 60_000);
    const url = /Prometheus metrics url=(\S+)/.exec(stderr)![1]!;
    let s = new Map<string, number>();
    const until = Date.now() + 30_000;
    for (;;) {
      s = samples(await (await fetch(url)).text());
      if ((s.get('myostream_poses_total{stream="main"}') ?? 0) > 10) break;
      if (Date.now() > until) throw new Error(`no poses counted within 30 s: ${JSON.stringify([...s])}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const k of ['samples', 'gaps', 'overruns', 'stalls', 'overwritten_samples', 'mode_switches', 'mqtt_published', 'mqtt_dropped', 'mqtt_reconnects']) {
      assert.ok(s.has(`myostream_${k}_total{stream="main"}`), k);
    }
    assert.ok(s.get('myostream_mqtt_published_total{stream="main"}')! > 0);
    assert.equal(s.get('myostream_mode{stream="main",mode="streaming"}'), 1);
    assert.ok([...s.keys()].some((k) => k.startsWith('myostream_execution_provider{stream="main",model="encoder"')));
    assert.ok(s.get('myostream_step_compute_seconds_bucket{stream="main",le="+Inf"}')! > 0);
    assert.ok(s.get('myostream_pose_age_seconds_bucket{stream="main",le="+Inf"}')! > 0);
    assert.ok(s.has('myostream_end_to_end_seconds_bucket{stream="main",le="+Inf"}'));
    assert.ok(s.has('myostream_nodejs_eventloop_lag_p99_seconds'));
    assert.ok(s.has('myostream_process_resident_memory_bytes'));
  } finally {
    const code = await exited;
    assert.equal(code, 0, stderr);
  }
  const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { metrics: { scrapes: number } };
  assert.ok(summary.metrics.scrapes >= 1);
});

test('a scrape in progress at stop does not hold the server (and the process) open: detach closes its connection', async () => {
  const settings = metricsSchema.parse({ enabled: true, port: 0, process_metrics: false });
  const server = MetricsServer.for(settings, silentLogger());
  server.attach('main', { counts: () => ({ poses: 1 }), mode: () => 'streaming', providers: {} });
  await server.listen();
  const { port } = new URL(server.url);
  // A request whose headers are still coming: the connection is busy, not idle, when the run stops.
  const sock = tcpConnect(Number(port), '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.on('error', () => undefined);
  sock.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
  await new Promise((r) => setTimeout(r, 50));
  let closed = false;
  const detached = server.detach('main').then(() => (closed = true));
  // Progress, not a bound on the machine's speed: the close must not wait for that client.
  for (let i = 0; i < 200 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
  const closedWhileBusy = closed;
  sock.destroy();
  await detached;
  assert.equal(closedWhileBusy, true, 'detach finished while a scrape was in progress');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { metricsSchema } from '../src/outputs/metrics-settings.js';
import { silentLogger } from '../src/common/logger.js';
import { LATENCY_BUCKETS_S, MetricsServer } from '../src/outputs/metrics-server.js';
import { poseRateTargetHz } from '../src/outputs/metrics.js';
import { ROOT, prerequisiteTest } from './helpers.js';
import { parse } from 'yaml';
import {
  NO_PROMTOOL,
  dashboardQueries,
  declaredNames,
  grafanaQueryMetricNames,
  runTool,
  samples,
  scrapeLiveRun,
  type LiveScrape,
} from './metrics-helpers.js';
import { connect as tcpConnect } from 'node:net';

test('two streams share one Prometheus server, each under its stream label, with fixed buckets', async () => {
  const settings = metricsSchema.parse({ enabled: true, port: 0, process_metrics: false });
  const server = MetricsServer.for(settings, silentLogger());
  const counts = { poses: 7, samples: 280, gaps: 1 };
  const gauges: { mqtt_connected?: number; channels_bad?: number } = { mqtt_connected: 1 };
  let refreshed = 0;
  const a = server.attach('left', {
    refresh: () => refreshed++,
    counts: () => counts,
    gauges: () => gauges,
    mode: () => 'streaming',
    identity: () => ({ hand: 'left', band: 'b-7' }),
    providers: { encoder: 'cpu' },
  });
  const b = server.attach('right', {
    counts: () => ({ poses: 3 }),
    gauges: () => ({ channels_bad: 2 }),
    mode: () => 'exact',
    identity: () => ({ hand: 'unknown', band: '' }),
    providers: { encoder: 'cuda' },
  });
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
    assert.equal(
      s.get(`myostream_build_info{stream="left",version="unknown",node="${process.version}",hand="left",band="b-7"}`),
      1,
    );
    assert.equal(s.get('myostream_mqtt_connected{stream="left"}'), 1);
    assert.equal(s.get('myostream_channels_bad{stream="right"}'), 2);
    assert.ok(!s.has('myostream_mqtt_connected{stream="right"}'), 'a gauge the stream does not report has no series');
    assert.equal(refreshed, 1, 'each scrape refreshes each stream once');
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
    gauges.mqtt_connected = 0;
    const again = samples(await (await fetch(server.url)).text());
    assert.equal(again.get('myostream_poses_total{stream="left"}'), 50);
    assert.equal(again.get('myostream_mqtt_connected{stream="left"}'), 0);
    assert.equal((await fetch(server.url.replace('/metrics', '/other'))).status, 404);
  } finally {
    await server.detach('left');
    await server.detach('right');
  }
  assert.equal(server.url, '', 'the last stream out closes the server');
});

let live: Promise<LiveScrape> | undefined;
/** One real run serves every test below that needs a scrape (a run costs seconds of two busy cores). */
const liveScrape = (): Promise<LiveScrape> => (live ??= scrapeLiveRun());

test('myostream run serves /metrics during the run: counters, _bucket series, gauges, build_info, event-loop lag', async () => {
  const run = await liveScrape();
  const s = samples(run.text);
  for (const k of [
    'samples',
    'gaps',
    'overruns',
    'stalls',
    'overwritten_samples',
    'mode_switches',
    'mqtt_published',
    'mqtt_dropped',
    'mqtt_reconnects',
    'memory_drift_alarms',
  ]) {
    assert.ok(s.has(`myostream_${k}_total{stream="main"}`), k);
  }
  assert.ok(s.get('myostream_mqtt_published_total{stream="main"}')! > 0);
  assert.equal(s.get('myostream_mode{stream="main",mode="streaming"}'), 1);
  assert.equal(s.get('myostream_fallback_active{stream="main"}'), 0);
  assert.equal(
    s.get('myostream_pose_rate_target_hz{stream="main"}'),
    50,
    'the simulator at --speed 1 is asked for 50 poses a second',
  );
  assert.equal(s.get('myostream_mqtt_connected{stream="main"}'), 1);
  // The simulator's healthy electrodes: none bad.
  assert.equal(s.get('myostream_channels_bad{stream="main"}'), 0);
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(
    s.get(
      `myostream_build_info{stream="main",version="${version}",node="${process.version}",hand="left",band="band-07"}`,
    ),
    1,
  );
  assert.ok([...s.keys()].some((k) => k.startsWith('myostream_execution_provider{stream="main",model="encoder"')));
  assert.ok(s.get('myostream_step_compute_seconds_bucket{stream="main",le="+Inf"}')! > 0);
  assert.ok(s.get('myostream_pose_age_seconds_bucket{stream="main",le="+Inf"}')! > 0);
  assert.ok(s.has('myostream_end_to_end_seconds_bucket{stream="main",le="+Inf"}'));
  assert.ok(s.has('myostream_nodejs_eventloop_lag_p99_seconds'));
  assert.ok(s.has('myostream_process_resident_memory_bytes'));
  assert.ok(
    [...s.keys()].some((k) => k.startsWith('myostream_nodejs_active_handles{')),
    'the per-type handle gauges stay',
  );
  assert.equal(run.exitCode, 0, run.stderr);
  const summary = JSON.parse(readFileSync(join(run.artifacts, 'summary.json'), 'utf8')) as {
    metrics: { scrapes: number };
  };
  assert.ok(summary.metrics.scrapes >= 1);
});

prerequisiteTest(
  "a real scrape passes promtool check metrics (Prometheus' own lint)",
  { skip: NO_PROMTOOL },
  async () => {
    const run = await liveScrape();
    const r = runTool('promtool', ['check', 'metrics'], run.text);
    assert.equal(r.status, 0, `promtool check metrics:\n${r.output}`);
    assert.doesNotMatch(run.text, /^# TYPE \S+_total (gauge|untyped|histogram|summary)$/m);
  },
);

test('every metric the Grafana dashboard and the alerting rules query is one a real scrape has', async () => {
  const run = await liveScrape();
  // `up` is Prometheus' own series for every target.
  const have = new Set([...declaredNames(run.text), 'up']);
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'monitoring', 'dashboard.json'), 'utf8')) as unknown;
  const queries = dashboardQueries(dashboard);
  assert.ok(queries.length >= 15, `${queries.length} queries`);
  const rules = parse(readFileSync(join(ROOT, 'monitoring', 'alerts.yaml'), 'utf8')) as {
    groups: { rules: { expr: string }[] }[];
  };
  const exprs = rules.groups.flatMap((g) => g.rules.map((r) => r.expr));
  const used = new Set<string>();
  for (const q of [...queries, ...exprs]) {
    const names = grafanaQueryMetricNames(q);
    assert.ok(names.size > 0, `no metric in ${q}`);
    for (const n of names) {
      assert.ok(have.has(n), `${n} (in ${q.trim()}) is not in a real scrape`);
      used.add(n);
    }
  }
  // The new gauges are what the alerts stand on: each is queried.
  for (const g of [
    'myostream_mqtt_connected',
    'myostream_channels_bad',
    'myostream_clock_synchronized',
    'myostream_fallback_active',
    'myostream_pose_rate_target_hz',
    'myostream_build_info',
  ])
    assert.ok(used.has(g), g);
});

test(
  'a scrape that is not lint-clean makes promtool fail (the check above can fail)',
  { skip: NO_PROMTOOL !== false },
  () => {
    const r = runTool(
      'promtool',
      ['check', 'metrics'],
      '# HELP myostream_x_total a gauge named like a counter\n# TYPE myostream_x_total gauge\nmyostream_x_total 1\n',
    );
    assert.notEqual(r.status, 0);
    assert.match(r.output, /_total/);
  },
);

test('the pose rate asked for: 50 Hz times the pace, 50 Hz for an ADC whatever the pace, none as fast as possible', () => {
  assert.equal(poseRateTargetHz('replay', 1), 50);
  assert.equal(poseRateTargetHz('replay', 2.5), 125);
  assert.equal(poseRateTargetHz('synthetic', 0), 0);
  assert.equal(poseRateTargetHz('ads1299-sim', 0.5), 25);
  assert.equal(poseRateTargetHz('ads1299', 0), 50);
  assert.equal(poseRateTargetHz('i2c', 3), 50);
});

test('a scrape in progress at stop does not hold the server (and the process) open: detach closes its connection', async () => {
  const settings = metricsSchema.parse({ enabled: true, port: 0, process_metrics: false });
  const server = MetricsServer.for(settings, silentLogger());
  server.attach('main', {
    counts: () => ({ poses: 1 }),
    gauges: () => ({}),
    mode: () => 'streaming',
    identity: () => ({ hand: 'left', band: '' }),
    providers: {},
  });
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

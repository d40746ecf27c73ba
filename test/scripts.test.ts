import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, cliEnv, prerequisiteTest } from './helpers.js';
import { HAVE_MOSQUITTO, freePort } from './mqtt-helpers.js';

/**
 * Every script in scripts/ runs here, shortened through its own flags, and what it prints is
 * checked: a script nothing runs breaks silently when the code under it moves.
 */

const SCRIPTS = join(ROOT, 'scripts');

function script(
  name: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = cliEnv(),
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(SCRIPTS, name), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env,
    maxBuffer: 64 << 20,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const lastJson = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').pop()!) as T;

test('every script in scripts/ is run by a test', () => {
  const tests = readdirSync(join(ROOT, 'test'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(join(ROOT, 'test', f), 'utf8'));
  const targetTests = readdirSync(join(ROOT, 'test', 'target')).map((f) =>
    readFileSync(join(ROOT, 'test', 'target', f), 'utf8'),
  );
  const all = [...tests, ...targetTests].join('\n');
  // install.sh and uninstall.sh read service-paths.sh: it runs wherever they do.
  const unrun = readdirSync(SCRIPTS).filter(
    (f) => f !== 'service-paths.sh' && !all.includes(`'${f}'`) && !all.includes(`scripts/${f}`),
  );
  assert.deepEqual(unrun, [], 'scripts no test names');
});

test('soak: a short unpaced run, its latency slices and slope, the watchdog verdicts; --analyze reads the same run back; soak-report tabulates it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-soak-'));
  try {
    const r = script('soak.mjs', [
      '--minutes',
      '0.1',
      '--speed',
      '0',
      '--slice-s',
      '1',
      '--out',
      dir,
      '--set',
      'outputs.mqtt.enabled=false',
    ]);
    assert.equal(r.status, 0, r.stderr + r.stdout.slice(-2000));
    type Soak = {
      exit: number;
      signal_s: number;
      poses: number;
      metrics_lines: number;
      mode_final: string;
      series: { minute: number; steps: number; tc_p95: number }[];
      t_compute_p95_ms_per_min: number | null;
      offline_watchdog: { windows: number };
      watchdog: { acceptance: { latency_drift: { evaluated: boolean } } } | null;
    };
    const s = lastJson<Soak>(r.stdout);
    assert.equal(s.exit, 0);
    assert.equal(s.signal_s, 6);
    assert.ok(s.poses > 200, `poses ${s.poses}`);
    assert.equal(s.metrics_lines, s.poses, 'one metrics line per pose');
    assert.equal(s.mode_final, 'streaming');
    // 1 s slices of 6 s of signal; the first pose comes after the first window.
    assert.ok(s.series.length >= 5, JSON.stringify(s.series));
    assert.equal(
      s.series.reduce((a, x) => a + x.steps, 0),
      s.poses,
    );
    for (const x of s.series) assert.ok(x.tc_p95 > 0);
    assert.equal(typeof s.t_compute_p95_ms_per_min, 'number', 'a slope through the slices');
    assert.ok(s.offline_watchdog.windows >= 1);
    assert.ok(s.watchdog, 'the watchdog plug-in ran');
    assert.match(r.stdout, /^minute {2}steps {2}Tc p50/m);

    const again = script('soak.mjs', ['--analyze', dir, '--slice-s', '1']);
    assert.equal(again.status, 0, again.stderr);
    const a = lastJson<Soak>(again.stdout);
    assert.equal(a.poses, s.poses);
    assert.deepEqual(a.series, s.series);

    const rep = script('soak-report.mjs', [dir, String(2 / 60)]);
    assert.equal(rep.status, 0, rep.stderr);
    const rows = rep.stdout.split('\n').filter((l) => /^[\d.]+–[\d.]+ +\d+ /.test(l));
    assert.ok(rows.length >= 3, rep.stdout);
    assert.equal(
      rows.reduce((n, l) => n + Number(l.trim().split(/\s+/)[1]), 0),
      s.poses,
      'the slices hold every step',
    );
    assert.match(rep.stdout, /^memory: RSS [\d.]+ → [\d.]+ MB/m);
    assert.match(rep.stdout, /passed (true|false)$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const bad = script('soak.mjs', ['--minutes', 'x']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^soak: --minutes must be a number > 0$/m);
});

test('parity: the exact and one streaming case against the reference, each pose within 1e-5', () => {
  const r = script('parity.mjs', ['--only', 'exact,streaming-incremental-sliding_window']);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 3, r.stdout);
  for (const [i, name] of ['exact', 'streaming incremental sliding_window'].entries()) {
    const m = new RegExp(`^${name} +1000 poses {2}max \\|diff\\| (\\S+)$`).exec(lines[i]!);
    assert.ok(m, lines[i]);
    assert.ok(Number(m[1]) <= 1e-5, lines[i]);
  }
  assert.match(lines[2]!, /^worst \S+ \(bound 1e-5\): PASS$/);
  const bad = script('parity.mjs', ['--only', 'nope']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^parity: --only: no case nope \(cases: exact, /);
});

test('smoothing-table: jitter falls and lag grows with stronger smoothing, on the fixture (through the CLI) and on synthetic motion', () => {
  const r = script('smoothing-table.mjs', ['--data', 'fixture,synthetic', '--steps', '500']);
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout
    .split('Step response')[0]!
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| data'))
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  assert.equal(rows.length, 8, r.stdout);
  for (const set of [rows.slice(0, 4), rows.slice(4)]) {
    assert.deepEqual(
      set.map((c) => c[1]!.split(' ')[0]),
      ['raw', 'light', 'default', 'strong'],
    );
    const jitter = set.map((c) => Number(c[2]));
    for (let i = 1; i < 4; i++) assert.ok(jitter[i]! < jitter[i - 1]!, `jitter falls: ${jitter.join(' ')}`);
  }
  assert.match(rows[0]![0]!, /^HDF5 fixture with ground truth \(\d+ steps\)$/);
  assert.equal(rows[4]![0], 'synthetic motion, σ 0.02 rad noise (500 steps)');
  // Lag behind raw: none for raw itself ('–'), then the median shift in ms with its range, e.g. '45 (38–48)'.
  assert.equal(rows[4]![3], '–');
  const lag = rows.slice(5).map((c) => Number(/^(\d+) \(/.exec(c[3]!)?.[1]));
  assert.ok(lag[0]! > 0, `light smoothing lags: ${rows[5]![3]}`);
  for (let i = 1; i < 3; i++) assert.ok(lag[i]! > lag[i - 1]!, `lag grows: ${lag.join(' ')}`);
  const bad = script('smoothing-table.mjs', ['--data', 'golden,nope']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^smoothing-table: --data: no data set nope/);
});

test('live-view-cost: the pose listener and frames to two viewers, counted', () => {
  const r = script('live-view-cost.mjs', ['--poses', '2000', '--frames', '100']);
  assert.equal(r.status, 0, r.stderr);
  const o = lastJson<{
    pose_listener_ns: number;
    frame_to_2_viewers_us: number;
    counts: { poses: number; sent: number };
  }>(r.stdout);
  assert.ok(o.pose_listener_ns > 0 && o.frame_to_2_viewers_us > 0, r.stdout);
  // 1000 warm-up poses, then the measured ones and one per frame; every frame to both viewers.
  assert.equal(o.counts.poses, 1000 + 2000 + 100);
  assert.equal(o.counts.sent, 2 * 100);
  assert.equal(script('live-view-cost.mjs', ['--frames', '0']).status, 2);
});

test('write-config-reference writes what is committed in docs/config.md', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-config-ref-'));
  try {
    const r = script('write-config-reference.mjs', [join(dir, 'config.md')]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(
      readFileSync(join(dir, 'config.md'), 'utf8'),
      readFileSync(join(ROOT, 'docs', 'config.md'), 'utf8'),
      'docs/config.md is stale: run npm run config-docs',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('write-config-schema and write-mqtt-schemas write what is committed in schemas/', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-schemas-'));
  try {
    for (const s of ['write-config-schema.mjs', 'write-mqtt-schemas.mjs']) {
      const r = script(s, [dir]);
      assert.equal(r.status, 0, r.stderr);
    }
    const written = readdirSync(dir).sort();
    assert.deepEqual(written, ['config_snapshot.schema.json', 'mqtt_request.schema.json', 'mqtt_response.schema.json']);
    for (const f of written)
      assert.equal(
        readFileSync(join(dir, f), 'utf8'),
        readFileSync(join(ROOT, 'schemas', f), 'utf8'),
        `schemas/${f} is what the script writes`,
      );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

prerequisiteTest(
  'fleet-load: two nodes into a real mosquitto, every pose counted at QoS 1',
  { skip: HAVE_MOSQUITTO ? false : 'mosquitto not installed (apt-get install mosquitto)' },
  async () => {
    const r = script('fleet-load.mjs', [
      '--nodes',
      '2',
      '--seconds',
      '2',
      '--qos',
      '1',
      '--port',
      String(await freePort()),
    ]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const o = JSON.parse(r.stdout) as {
      nodes: number;
      produced: number;
      received: number;
      loss_pct: number;
      worst_node: { produced: number; published: number; dropped_at_node: number };
      transport_delay_ms: { p50: number | null };
    };
    assert.equal(o.nodes, 2);
    // 50 Hz for 2 s per node, less the ticks a busy machine runs late into the end.
    assert.ok(o.produced > 0 && o.produced <= 2 * 101, `produced ${o.produced}`);
    assert.ok(o.received <= o.produced);
    assert.equal(o.produced - o.received, 0, `QoS 1 on loopback loses nothing: ${r.stdout}`);
    assert.equal(o.loss_pct, 0);
    assert.equal(typeof o.transport_delay_ms.p50, 'number');
  },
);

// examples/subscribe.mjs (the subscriber example) runs against a live daemon in test/examples.test.ts.

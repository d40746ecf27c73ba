import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { loadConfig, validateConfig } from '../src/daemon/config.js';
import { resolveStreams } from '../src/config/streams.js';
import { EmbeddedBroker } from '../src/outputs/embedded-broker.js';
import { CLI, ROOT, cliEnv, runCli } from './helpers.js';
import { Subscriber, closeSubscribers, freePort } from './mqtt-helpers.js';

const TWO_BANDS = join(ROOT, 'configs', 'two-bands.yaml');

test('the shipped two-band configuration resolves to two validated streams that differ only where they say', () => {
  const cfg = loadConfig(TWO_BANDS);
  const streams = resolveStreams(cfg, validateConfig);
  assert.deepEqual(
    streams.map((s) => s.id),
    ['left', 'right'],
  );
  assert.equal(streams[0]!.cfg.input.source, 'synthetic');
  assert.equal(streams[0]!.cfg.acquisition.synthetic_seed, 1);
  assert.equal(streams[1]!.cfg.input.source, 'ads1299-sim');
  for (const s of streams) {
    assert.equal(s.cfg.model.mode, 'streaming');
    assert.deepEqual(s.cfg.streams, []);
  }
  // One stream config alone is the top level, unchanged.
  const single = resolveStreams(loadConfig(undefined), validateConfig);
  assert.deepEqual(
    single.map((s) => s.id),
    ['main'],
  );
});

test('a bad value inside a stream names the stream; duplicate ids and unknown sections are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-streams-'));
  const f = join(dir, 'c.yaml');
  writeFileSync(
    f,
    'streams:\n  - stream_id: a\n  - stream_id: b\n    runtime:\n      streaming:\n        window_samples: 2000\n',
  );
  const cfg = loadConfig(f);
  assert.throws(() => resolveStreams(cfg, validateConfig), /streams\[1\] \(b\).*runtime\.streaming\.window_samples/);
  writeFileSync(f, 'streams:\n  - stream_id: a\n  - stream_id: a\n');
  assert.throws(() => loadConfig(f), /used twice/);
  writeFileSync(f, 'streams:\n  - stream_id: a\n    logging: {level: debug}\n');
  assert.throws(() => loadConfig(f), /unknown key streams\.0\.logging/);
  const r = runCli(['run', '--config', f, '--set', 'outputs.mqtt.enabled=false', '--quiet']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
});

test("two bands in one daemon: two artifact folders, two pose topics, and one stream's fallback leaves the other streaming", async (t) => {
  t.after(closeSubscribers);
  const broker = await EmbeddedBroker.start({ port: 0 });
  t.after(() => broker.close());
  const sub = await Subscriber.open(broker.url, 'myostream/#');
  const dir = mkdtempSync(join(tmpdir(), 'myo-two-'));
  const cfgFile = join(dir, 'two.yaml');
  // The right band's latency bound is impossible: its watchdog must fall back; the left's must not.
  writeFileSync(
    cfgFile,
    readFileSync(TWO_BANDS, 'utf8') +
      '    eval:\n      streaming_latency: {p50_ms: 0.0001, warmup_steps: 5}\n    watchdog:\n      latency: {window_units: 20, persistence_windows: 1}\n',
  );
  const child = spawn(
    process.execPath,
    [
      CLI,
      'run',
      '--config',
      cfgFile,
      '--duration',
      '7',
      '--artifacts',
      join(dir, 'run'),
      '--quiet',
      '--set',
      `outputs.mqtt.broker=${broker.url}`,
      '--set',
      'outputs.mqtt.protocol_version=4',
      '--set',
      'outputs.mqtt.node_id=bench',
      '--set',
      'logging.level=warn',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 0, stderr);
  type Summary = {
    passed: boolean;
    mode_final: string;
    stream_id: string;
    counts: { poses: number };
    mode_switches: unknown[];
    mqtt: { published: number; reconnects: number };
  };
  const summary = (id: string): Summary =>
    JSON.parse(readFileSync(join(dir, 'run', id, 'summary.json'), 'utf8')) as Summary;
  const left = summary('left');
  const right = summary('right');
  assert.equal(left.stream_id, 'left');
  assert.equal(left.mode_final, 'streaming');
  assert.equal(left.mode_switches.length, 0);
  assert.equal(right.mode_final, 'exact');
  assert.equal(right.mode_switches.length, 1);
  assert.ok(left.counts.poses >= 200, `left poses ${left.counts.poses}`);
  for (const s of [left, right])
    assert.equal(s.mqtt.reconnects, 0, 'each stream is its own client: neither kicks the other off');
  const poses = (id: string): number => sub.messages.filter((m) => m.topic === `myostream/bench/${id}/pose`).length;
  assert.equal(poses('left'), left.mqtt.published);
  assert.ok(poses('right') > 0);
  assert.ok(sub.messages.some((m) => m.topic === 'myostream/bench/right/event' && m.body['kind'] === 'mode_switch'));
  assert.ok(!sub.messages.some((m) => m.topic === 'myostream/bench/left/event' && m.body['kind'] === 'mode_switch'));
});

test('two bands on the shipped configuration share one embedded broker: both streams publish through it, neither reconnects', async (t) => {
  t.after(closeSubscribers);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'myo-two-embedded-'));
  const child = spawn(
    process.execPath,
    [
      CLI,
      'run',
      '--config',
      TWO_BANDS,
      '--duration',
      '6',
      '--artifacts',
      join(dir, 'run'),
      '--quiet',
      '--set',
      `outputs.mqtt.embedded_port=${port}`,
      '--set',
      'outputs.mqtt.node_id=shared',
      '--set',
      'logging.level=warn',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: cliEnv() },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  try {
    // The broker is the daemon's: it listens once the process has loaded its models and started it.
    let sub: Subscriber | undefined;
    const deadline = Date.now() + 120_000;
    while (!sub) {
      try {
        sub = await Subscriber.open(`mqtt://127.0.0.1:${port}`, 'myostream/#');
      } catch (e) {
        if (Date.now() > deadline) throw e;
      }
    }
    assert.equal(await exited, 0, stderr);
    const poses = (id: string): number => sub.messages.filter((m) => m.topic === `myostream/shared/${id}/pose`).length;
    assert.ok(
      poses('left') > 0 && poses('right') > 0,
      `left ${poses('left')}, right ${poses('right')} poses through the one broker`,
    );
  } finally {
    child.kill('SIGKILL');
  }
  for (const id of ['left', 'right']) {
    const s = JSON.parse(readFileSync(join(dir, 'run', id, 'summary.json'), 'utf8')) as {
      mqtt: { published: number; reconnects: number };
    };
    assert.ok(s.mqtt.published > 0, `${id} published ${s.mqtt.published}`);
    assert.equal(s.mqtt.reconnects, 0, `${id}: each stream is its own client of the shared broker`);
  }
});

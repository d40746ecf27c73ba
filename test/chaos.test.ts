import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, prerequisiteTest, smallTmpfs } from './helpers.js';

/**
 * A fixed handful of chaos schedules (scripts/chaos.mjs, the same harness `npm run chaos` runs
 * by the hundred): each drives the real CLI a few seconds through faults in combination and
 * checks every invariant the harness knows. Written out here rather than drawn from a seed, so
 * that a change to the generator does not change what `npm test` proves.
 */
const SCHEDULES = [
  {
    seed: 0,
    index: 0,
    source: 'synthetic',
    speed: 0,
    signal_s: 12,
    faults: [
      { kind: 'plugin_throw', plugin: 'latency', hook: 'listener', hit: 200 },
      { kind: 'artifact_error', file: 'streaming_metrics.jsonl', error: 'enospc', hit: 2 },
      { kind: 'sighup', at: 0.5, fixed_after_s: 1 },
    ],
  },
  {
    seed: 0,
    index: 1,
    source: 'i2c-sim',
    speed: 1,
    signal_s: 6,
    faults: [
      { kind: 'adc_stall', conversion: 6000 },
      { kind: 'broker_restart', at: 1, for_s: 1 },
      { kind: 'sigstop', at: 2.5, for_s: 0.6 },
    ],
  },
  {
    seed: 0,
    index: 2,
    source: 'ads1299-sim',
    speed: 1,
    signal_s: 6,
    faults: [
      { kind: 'disk_full', at: 1, for_s: 2 },
      { kind: 'shadow_throw', hit: 100 },
      { kind: 'sigkill_restart', at: 3 },
    ],
  },
];

const why: { reason?: string } = {};
const probe = process.getuid?.() === 0 ? smallTmpfs(100, why) : undefined;
probe?.unmount();
const HAVE_MOSQUITTO = spawnSync('mosquitto', ['-h'], { stdio: 'ignore' }).error === undefined;
const skip =
  process.getuid?.() !== 0
    ? 'the chaos harness runs as root (it mounts a tmpfs)'
    : !probe
      ? `needs a tmpfs: ${why.reason}`
      : !HAVE_MOSQUITTO
        ? 'mosquitto not installed'
        : false;

interface Result {
  schedule: { index: number };
  applied: string[];
  checks: { name: string; ok: boolean; why: string }[];
}

prerequisiteTest(
  'chaos: three fixed schedules of combined faults keep every invariant (exit, artifacts, one verdict, counts, poses)',
  { skip },
  async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'myo-chaos-test-')), 'results.json');
    const child = spawn(
      process.execPath,
      [join(ROOT, 'scripts', 'chaos.mjs'), '--replay', JSON.stringify(SCHEDULES), '--json', out],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    const results = JSON.parse(readFileSync(out, 'utf8')) as Result[];
    assert.equal(results.length, SCHEDULES.length, log);
    for (const r of results) {
      // Every invariant was looked at, for every process the schedule started.
      for (const name of [
        'exit',
        'no stack trace',
        'artifacts valid',
        'one verdict',
        'never PASSED when it should not',
        'poses have t_capture, age_ms',
        'MQTT seq contiguous',
      ]) {
        assert.ok(
          r.checks.some((c) => c.name.endsWith(`: ${name}`)),
          `schedule ${r.schedule.index}: no "${name}" check\n${log}`,
        );
      }
    }
    assert.ok(
      results[2]!.checks.some((c) => c.name.startsWith('run-2:')),
      'the SIGKILL schedule restarted the daemon',
    );
    const failed = results.flatMap((r) =>
      r.checks.filter((c) => !c.ok).map((c) => `#${r.schedule.index} ${c.name}: ${c.why}`),
    );
    assert.deepEqual(failed, [], log);
    assert.equal(code, 0, log);
  },
);

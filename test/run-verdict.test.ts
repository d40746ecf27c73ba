import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { readTensorBundle, writeTensorBundle } from '../src/common/tensor-bundle.js';
import { checkRecordingScale, loadRecording, MODEL_EMG_RMS } from '../src/acquisition/recording.js';
import { CLI, cliEnv, GOLDEN_INPUT, prerequisiteTest, ROOT, runCli, smallTmpfs } from './helpers.js';

/**
 * The run's verdict, exit record and counts as an operator meets them: real runs of the CLI,
 * then `status`, `collect` and the files. Each wait follows the run's progress (its log or its
 * files), never one wall-clock bound around the run.
 */

interface Live {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(args: string[]): Live {
  const child = spawn(process.execPath, [CLI, 'run', '--quiet', '--set', 'outputs.mqtt.enabled=false', ...args], {
    cwd: ROOT,
    env: cliEnv(),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { child, stderr: () => err, exited: new Promise((r) => child.once('exit', (c) => r(c))) };
}

/** Waits until `ok` holds; fails if the run ends first or nothing changes in the log for `quietS` seconds. */
async function until(what: string, run: Live, ok: () => boolean, quietS = 120): Promise<void> {
  let seen = run.stderr().length;
  let lastChange = Date.now();
  let ended = false;
  void run.exited.then(() => (ended = true));
  while (!ok()) {
    if (ended) throw new Error(`the run ended before ${what}: ${run.stderr().slice(-2000)}`);
    if (run.stderr().length !== seen) {
      seen = run.stderr().length;
      lastChange = Date.now();
    }
    if (Date.now() - lastChange > quietS * 1000)
      throw new Error(`no progress for ${quietS} s waiting for ${what}: ${run.stderr().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ajv = new Ajv({ allErrors: true, strict: false });
const summarySchema = ajv.compile(
  JSON.parse(readFileSync(join(ROOT, 'schemas', 'summary.schema.json'), 'utf8')) as object,
);
function validSummary(dir: string): void {
  assert.ok(summarySchema(json(join(dir, 'summary.json'))), `summary.json: ${ajv.errorsText(summarySchema.errors)}`);
}

const json = (p: string): Record<string, unknown> => JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
const events = (dir: string): { kind: string; detail: string; data?: Record<string, unknown> }[] =>
  existsSync(join(dir, 'events.jsonl'))
    ? readFileSync(join(dir, 'events.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as { kind: string; detail: string })
    : [];
const line = (out: string, key: string): string => new RegExp(`^${key} +(.*)$`, 'm').exec(out)?.[1] ?? '';
/** The end-of-run line's verdict and reason (text log format). */
const endLine = (stderr: string): string => /run finished .*$/m.exec(stderr)?.[0] ?? '';

test('an exit 2 after start (the I2C ADC does not answer at its address) is recorded as exited 2, status says so and why, the end-of-run line agrees', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-exit2-'));
  const r = runCli([
    'run',
    '--source',
    'i2c-sim',
    '--duration',
    '2',
    '--speed',
    '0',
    '--quiet',
    '--artifacts',
    dir,
    '--set',
    'outputs.mqtt.enabled=false',
    '--set',
    'acquisition.i2c.sim.device_address=0x49',
  ]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^myostream: I2C ADC at 0x48 .*no ACK from address 0x48/m);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack');
  const s = json(join(dir, 'summary.json'));
  assert.deepEqual([s['finished'], s['exit'], s['exit_code']], [true, 'exited', 2]);
  validSummary(dir);
  const st = runCli(['status', '--artifacts', dir]);
  assert.match(line(st.stdout, 'state'), /^exited 2: I2C ADC at 0x48/);
  assert.match(line(st.stdout, 'verdict'), /^NOT PASSED: the run exited 2: I2C ADC at 0x48/);
  assert.match(endLine(r.stderr), /passed=false verdict=NOT PASSED reason=the run exited 2: I2C ADC at 0x48/);
});

test('one lost data-ready line per stall on i2c-sim: stalls counted once each in summary.json, source stats, events and /metrics; the resume is a stall_end', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-stalls-'));
  const run = start([
    '--source',
    'i2c-sim',
    '--duration',
    '8',
    '--speed',
    '1',
    '--artifacts',
    dir,
    '--set',
    'acquisition.i2c.sim.drdy_lost_at=3000',
    '--set',
    'outputs.metrics.enabled=true',
    '--set',
    'outputs.metrics.port=0',
    '--set',
    'outputs.metrics.process_metrics=false',
  ]);
  await until('the metrics URL', run, () => /Prometheus metrics url=(\S+)/.test(run.stderr()));
  const url = /Prometheus metrics url=(\S+)/.exec(run.stderr())![1]!;
  // A scrape between two readings of events.jsonl that agree is a consistent snapshot (events
  // are written as they happen, on the same bus emit that counts them).
  let agreed: { metric: number; stalls: number } | undefined;
  while (agreed === undefined && run.child.exitCode === null) {
    const before = events(dir).filter((e) => e.kind === 'stall').length;
    // The server closes with the run: a refused scrape ends the loop there.
    const text = await fetch(url)
      .then((r) => r.text())
      .catch(() => '');
    const after = events(dir).filter((e) => e.kind === 'stall').length;
    const metric = Number(/^myostream_stalls_total\{stream="main"\} (\d+)$/m.exec(text)?.[1] ?? NaN);
    if (before === after && before >= 2) agreed = { metric, stalls: before };
    else await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(await run.exited, 0, run.stderr());
  assert.ok(agreed, `two stalls seen while the run served /metrics: ${run.stderr().slice(-1500)}`);
  assert.equal(agreed.metric, agreed.stalls, '/metrics counts each stall once');
  const ev = events(dir);
  const stalls = ev.filter((e) => e.kind === 'stall');
  assert.ok(
    stalls.every((e) => /acquisition stalled/.test(e.detail)),
    'a stall event is a stall, never its end',
  );
  const ends = ev.filter((e) => e.kind === 'stall_end');
  assert.ok(
    ends.length >= 1 && ends.length <= stalls.length && ends.every((e) => /acquisition resumed/.test(e.detail)),
  );
  const s = json(join(dir, 'summary.json')) as {
    counts: Record<string, number>;
    source: { stats: Record<string, number> };
  };
  assert.equal(s.counts['stalls'], stalls.length, 'counts.stalls = stall events');
  assert.equal(s.source.stats['stalls'], stalls.length, 'source.stats.stalls = stall events');
  assert.equal(s.counts['gaps'], ev.filter((e) => e.kind === 'gap').length, 'counts.gaps = gap events');
  assert.equal(s.counts['gaps'], s.source.stats['gapsReported']);
});

test("a run killed with SIGKILL: status, the report in collect's archive and its manifest all say died and NOT PASSED, with the same reason", async () => {
  const root = mkdtempSync(join(tmpdir(), 'myo-killed-'));
  const run = start([
    '--source',
    'synthetic',
    '--duration',
    '60',
    '--speed',
    '1',
    '--set',
    'watchdog.status_interval_s=0.2',
    '--set',
    `outputs.artifacts_root=${root}`,
  ]);
  const summaryOf = (): Record<string, unknown> | undefined => {
    const dir = readdirSync(root).find((n) => n.startsWith('run-'));
    try {
      return dir ? json(join(root, dir, 'summary.json')) : undefined;
    } catch {
      return undefined;
    }
  };
  try {
    await until(
      'poses in the summary',
      run,
      () => ((summaryOf()?.['counts'] as Record<string, number> | undefined)?.['poses'] ?? 0) > 50,
    );
  } finally {
    run.child.kill('SIGKILL');
    await run.exited;
  }
  validSummary(
    join(
      root,
      readdirSync(root).find((n) => n.startsWith('run-'))!,
    ),
  );
  const st = runCli(['status', '--artifacts', root]);
  assert.match(line(st.stdout, 'state'), /^died \(pid \d+ gone/);
  const reason = 'the run died: its process is gone and no end was recorded (killed, out of memory, power cut)';
  assert.equal(line(st.stdout, 'verdict'), `NOT PASSED: ${reason}`);
  const out = join(root, 'c.tar.gz');
  const c = runCli(['collect', '--artifacts', root, '-o', out]);
  assert.equal(c.status, 0, c.stderr);
  const x = mkdtempSync(join(tmpdir(), 'myo-killed-x-'));
  assert.equal(spawnSync('tar', ['-xzf', out, '-C', x]).status, 0);
  const bundle = join(x, readdirSync(x)[0]!);
  const manifest = json(join(bundle, 'manifest.json')) as { runs: { name: string; state: string; verdict: string }[] };
  assert.match(manifest.runs[0]!.state, /^died/);
  assert.equal(manifest.runs[0]!.verdict, `NOT PASSED: ${reason}`);
  const html = readFileSync(join(bundle, 'runs', manifest.runs[0]!.name, 'report.html'), 'utf8');
  assert.match(
    html,
    /<span class="verdict fail">NOT PASSED<\/span> <span class="state crashed" id="run-state">died<\/span>/,
  );
  assert.ok(html.includes(reason), 'the report gives the same reason');
  assert.doesNotMatch(html, /class="verdict pass"/);
});

prerequisiteTest(
  'the artifacts disk fills while the run streams: every refused write is recorded and told once, the run reaches its end, exits 0 with no stack; it ended unrecorded and everyone says NOT PASSED',
  { skip: probeTmpfs(), timeout: 600_000 },
  async () => {
    const fs = smallTmpfs(2048)!;
    try {
      const dir = join(fs.dir, 'run');
      const run = start(['--source', 'synthetic', '--duration', '40', '--speed', '2', '--artifacts', dir]);
      await until(
        'the first summary',
        run,
        () => /run started/.test(run.stderr()) && existsSync(join(dir, 'summary.json')),
      );
      fill(fs.dir, 'fill-1');
      // The first refused write releases the folder's reserve; filling again leaves none.
      await until('the first refused write', run, () => /ENOSPC/.test(run.stderr()));
      fill(fs.dir, 'fill-2');
      const code = await run.exited;
      const err = run.stderr();
      assert.equal(code, 0, err.slice(-3000));
      assert.doesNotMatch(err, /^\s+at |internal error|Error:/m, 'no stack, no internal error');
      assert.equal(
        (err.match(/artifacts: summary\.json write .*ENOSPC/g) ?? []).length,
        1,
        `summary.json's failure told once: ${err.slice(-3000)}`,
      );
      assert.doesNotMatch(err, /plug-in \S+ failed .* and is disabled/, 'a refused JSON file disables no plug-in');
      assert.match(err, /source ended after 80000 samples|source_end/, 'the run reached its end');
      assert.match(endLine(err), /passed=false verdict=NOT PASSED reason=the run ended unrecorded/);
      const st = runCli(['status', '--artifacts', dir]);
      assert.match(line(st.stdout, 'state'), /^ended unrecorded \(pid \d+ gone/);
      assert.equal(
        line(st.stdout, 'verdict'),
        'NOT PASSED: the run ended unrecorded (its disk refused the final summary)',
      );
      validSummary(dir);
    } finally {
      fs.unmount();
    }
  },
);

prerequisiteTest(
  'a plug-in disabled (the poses file on a full disk): the end-of-run line and status say NOT PASSED and name it',
  { skip: probeTmpfs(), timeout: 300_000 },
  () => {
    const fs = smallTmpfs(200)!;
    try {
      fill(fs.dir, 'fill');
      const dir = mkdtempSync(join(tmpdir(), 'myo-disabled-'));
      const r = runCli([
        'run',
        '--source',
        'synthetic',
        '--duration',
        '3',
        '--speed',
        '0',
        '--quiet',
        '--artifacts',
        dir,
        '--set',
        'outputs.mqtt.enabled=false',
        '--poses-out',
        join(fs.dir, 'poses.jsonl'),
      ]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(endLine(r.stderr), /passed=false verdict=NOT PASSED reason=plug-in disabled: poses_file \(during /);
      const st = runCli(['status', '--artifacts', dir]);
      assert.match(line(st.stdout, 'verdict'), /^NOT PASSED: plug-in disabled: poses_file \(during /);
    } finally {
      fs.unmount();
    }
  },
);

test("the bundled recordings are on the model's scale; one stored in volts or microvolts is named as such", async () => {
  for (const f of [GOLDEN_INPUT, join(ROOT, 'test', 'fixtures', 'upstream_small.hdf5')]) {
    const c = checkRecordingScale(await loadRecording(f), 1e4, false)!;
    assert.equal(c.looksLike, null, f);
    assert.ok(Math.abs(c.rms - MODEL_EMG_RMS) < 0.2, `${f}: RMS ${c.rms}`);
  }
  const golden = await loadRecording(GOLDEN_INPUT);
  const scaled = (k: number) => ({ ...golden, emg: golden.emg.map((x) => x * k) });
  assert.equal(checkRecordingScale(scaled(1e-4), 1e4, false)!.looksLike, 'volts');
  assert.equal(checkRecordingScale(scaled(100), 1e4, false)!.looksLike, 'microvolts');
  assert.equal(checkRecordingScale(scaled(0.3), 1e4, false)!.looksLike, null, 'within 1.5 decades: not flagged');
  assert.equal(
    checkRecordingScale(golden, 1e4, true)!.looksLike,
    'model units (already scaled)',
    'preprocessing on expects volts',
  );
  assert.equal(checkRecordingScale(scaled(1e-4), 1e4, true)!.looksLike, null);
  assert.match(checkRecordingScale(scaled(1e-12), 1e4, false)!.looksLike!, /unknown scale \(1\.0e\+12× smaller/);
});

test('a recording stored in volts: one warning line and one signal_scale event saying it looks like volts; the run goes on', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-volts-'));
  const b = readTensorBundle(GOLDEN_INPUT);
  const file = join(dir, 'volts.mtb');
  writeTensorBundle(
    file,
    [...b.arrays.values()].map((a) => (a.name === 'emg' ? { ...a, data: a.data.map((x) => x * 1e-4) } : a)),
    b.meta,
  );
  const r = runCli([
    'run',
    '--source',
    `replay:${file}`,
    '--duration',
    '2',
    '--speed',
    '0',
    '--quiet',
    '--artifacts',
    join(dir, 'run'),
    '--set',
    'outputs.mqtt.enabled=false',
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal((r.stderr.match(/looks like volts/g) ?? []).length, 1, r.stderr);
  const scale = events(join(dir, 'run')).filter((e) => e.kind === 'signal_scale');
  assert.equal(scale.length, 1);
  assert.equal(scale[0]!.data?.['looks_like'], 'volts');
  assert.ok(
    ((json(join(dir, 'run', 'summary.json'))['counts'] as Record<string, number>)['poses'] ?? 0) > 0,
    'the run went on',
  );
  assertSameVerdict(r.stderr, join(dir, 'run'));
});

test("an ordinary run: the end-of-run line gives the verdict and reason status gives, and the summary's own passed agrees", () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-ordinary-'));
  const r = runCli([
    'run',
    '--source',
    'synthetic',
    '--duration',
    '3',
    '--speed',
    '0',
    '--quiet',
    '--artifacts',
    dir,
    '--set',
    'outputs.mqtt.enabled=false',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const said = assertSameVerdict(r.stderr, dir);
  assert.equal(said.startsWith('PASSED'), json(join(dir, 'summary.json'))['passed'] === true, said);
});

/** The end-of-run line and `status` agree on verdict and reason; returns status's verdict line. */
function assertSameVerdict(stderr: string, dir: string): string {
  const end = /verdict=(.*?) reason=(.*?) state=/.exec(endLine(stderr));
  assert.ok(end, `an end-of-run line with a verdict: ${stderr.slice(-1500)}`);
  const st = line(runCli(['status', '--artifacts', dir]).stdout, 'verdict');
  assert.equal(st, `${end[1]}: ${end[2]}`);
  return st;
}

function probeTmpfs(): string | false {
  const why: { reason?: string } = {};
  const p = smallTmpfs(200, why);
  p?.unmount();
  return p ? false : `needs a small tmpfs: ${why.reason}`;
}

/** Fills the filesystem under `dir` to the last byte. */
function fill(dir: string, name: string): void {
  const fd = openSync(join(dir, name), 'w');
  const block = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  // The last partial block.
  try {
    for (;;) writeSync(fd, block, 0, 1);
  } catch {
    // full
  } finally {
    closeSync(fd);
  }
}

test('the artifacts plug-in cannot start (a disk full at service start): the run still leaves summary.json, and status, collect and the end-of-run line say NOT PASSED naming it', () => {
  const root = mkdtempSync(join(tmpdir(), 'myo-nowriter-'));
  const r = runCli(
    [
      'run',
      '--source',
      'synthetic',
      '--duration',
      '2',
      '--speed',
      '0',
      '--quiet',
      '--set',
      `outputs.artifacts_root=${root}`,
      '--set',
      'outputs.mqtt.enabled=false',
    ],
    { env: { MYOSTREAM_FAILPOINTS: 'plugin.artifacts.start=throw' } },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack');
  const name = readdirSync(root).find((n) => n.startsWith('run-'));
  assert.ok(name, 'a run folder');
  const dir = join(root, name);
  validSummary(dir);
  const s = json(join(dir, 'summary.json'));
  assert.deepEqual([s['finished'], s['exit'], s['exit_code']], [true, 'completed', 0]);
  assert.ok(((s['counts'] as Record<string, number>)['poses'] ?? 0) > 0, 'the poses the run delivered are counted');
  const said = assertSameVerdict(r.stderr, dir);
  assert.match(said, /^NOT PASSED: plug-in disabled: artifacts \(during start\)/);
  const st = runCli(['status', '--artifacts', root]);
  assert.equal(st.status, 0, st.stderr);
  assert.equal(line(st.stdout, 'verdict'), said);
  assert.match(st.stdout, /^disabled +artifacts \(during start\): failpoint plugin\.artifacts\.start/m);
  const out = join(root, 'c.tar.gz');
  const c = runCli(['collect', '--artifacts', root, '-o', out]);
  assert.equal(c.status, 0, c.stderr);
  const x = mkdtempSync(join(tmpdir(), 'myo-nowriter-x-'));
  assert.equal(spawnSync('tar', ['-xzf', out, '-C', x]).status, 0);
  const manifest = json(join(x, readdirSync(x)[0]!, 'manifest.json')) as { runs: { name: string; verdict: string }[] };
  assert.equal(manifest.runs[0]!.name, name);
  assert.equal(manifest.runs[0]!.verdict, said);
});

test('the artifacts plug-in disabled mid-run (its listener throws): the session keeps the heartbeat, so the final summary records the end and the reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-writer-off-'));
  const r = runCli(
    [
      'run',
      '--source',
      'synthetic',
      '--duration',
      '3',
      '--speed',
      '0',
      '--quiet',
      '--artifacts',
      dir,
      '--set',
      'outputs.mqtt.enabled=false',
    ],
    { env: { MYOSTREAM_FAILPOINTS: 'plugin.artifacts.listener=throw@20' } },
  );
  assert.equal(r.status, 0, r.stderr);
  validSummary(dir);
  const s = json(join(dir, 'summary.json'));
  assert.deepEqual([s['finished'], s['exit']], [true, 'completed']);
  assert.match(assertSameVerdict(r.stderr, dir), /^NOT PASSED: plug-in disabled: artifacts \(during /);
});

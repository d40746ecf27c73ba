import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { listRuns, processStartTicks, pruneRuns, type RunEntry } from '../src/outputs/artifacts.js';
import { incidentRuns, parseSince } from '../src/daemon/collect-command.js';
import { judgeRun as runState } from '../src/runs/judge.js';
import { ROOT, runCli, scratchArtifacts } from './helpers.js';

const now = Date.parse('2026-12-01T12:00:00Z');
const at = (secondsAgo: number): string => new Date(now - secondsAgo * 1000).toISOString();

/** A pid that certainly ran and is gone: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

test('runState tells running, stale, died, crashed and finished apart', () => {
  const me = {
    pid: process.pid,
    pid_start: processStartTicks(process.pid),
    host: hostname(),
    heartbeat_interval_s: 5,
    finished: false,
    exit: 'running',
  };
  assert.equal(runState({ ...me, updated_at: at(4) }, now).state, 'running');
  const stale = runState({ ...me, updated_at: at(60) }, now);
  assert.equal(stale.state, 'stale');
  assert.match(stale.text, /^stale \(last heartbeat 60 s ago; pid \d+ still runs but has stopped writing\)/);
  const gone = deadPid();
  const died = runState({ ...me, pid: gone, updated_at: at(3) }, now);
  assert.equal(died.state, 'died', 'a dead pid is died even with a fresh heartbeat');
  assert.equal(died.text, `died (pid ${gone} gone, last heartbeat ${at(3)}, 3 s ago)`);
  assert.equal(
    runState({ ...me, pid_start: (me.pid_start ?? 0) + 1, updated_at: at(1) }, now).state,
    'died',
    'a pid reused by another process is not our run',
  );
  assert.equal(
    runState(
      {
        ...me,
        finished: true,
        exit: 'error',
        error: 'events.jsonl write /x: ENOSPC (no space left on device)',
        updated_at: at(1),
      },
      now,
    ).text,
    'crashed: events.jsonl write /x: ENOSPC (no space left on device)',
  );
  assert.match(
    runState({ ...me, finished: true, exit: 'completed', updated_at: at(100) }, now).text,
    /^finished \(completed\)/,
  );
  assert.equal(
    runState({ finished: false, updated_at: at(2) }, now).state,
    'unknown',
    'no pid and a fresh heartbeat: says it cannot tell',
  );
  assert.equal(runState({ ...me, host: 'elsewhere', updated_at: at(600) }, now).state, 'stale');
});

test('status and the report judge alike: an exited run says its code and reason, an error is a crash for both, no poses is never PASSED', () => {
  const me = {
    pid: process.pid,
    pid_start: processStartTicks(process.pid),
    host: hostname(),
    heartbeat_interval_s: 5,
    updated_at: at(1),
    passed: true,
    counts: { poses: 0 },
  };
  const exited = {
    ...me,
    finished: true,
    exit: 'exited',
    exit_code: 2,
    error: 'outputs.mqtt.password_env = X: the environment variable X is not set',
  };
  assert.equal(runState(exited, now).state, 'exited');
  assert.equal(
    runState(exited, now).text,
    'exited 2: outputs.mqtt.password_env = X: the environment variable X is not set',
  );
  assert.equal(runState(exited, now).passed, false);
  assert.equal(
    runState(exited, now).reason,
    'the run exited 2: outputs.mqtt.password_env = X: the environment variable X is not set',
  );
  assert.equal(runState(exited, now).kind, 'finished', 'the report files it with the runs that ended');
  const error = { ...me, counts: { poses: 500 }, finished: true, exit: 'error', error: 'boom' };
  assert.equal(runState(error, now).state, 'crashed');
  assert.equal(runState(error, now).kind, 'crashed', 'the report colours an error as a crash');
  assert.equal(runState(error, now).passed, false);
  const reused = { ...me, counts: { poses: 500 }, finished: false, pid_start: (me.pid_start ?? 0) + 1 };
  assert.equal(runState(reused, now).state, 'died');
  assert.equal(runState(reused, now).kind, 'crashed', 'the report also sees a reused pid as not our run');
  const good = {
    ...me,
    counts: { poses: 500 },
    finished: true,
    exit: 'completed',
    exit_code: 0,
    acceptance: {
      latency: { enabled: true, evaluated: true, passed: true },
      memory_drift: { enabled: false, evaluated: false, passed: null },
    },
  };
  assert.equal(runState(good, now).passed, true);
  assert.equal(runState(good, now).verdict, 'PASSED');
  assert.equal(runState(good, now).reason, 'held: latency');
});

test('the one judge: never PASSED for a run that died, ended unrecorded, hung, crashed, exited non-zero or had a plug-in disabled; it says why', () => {
  const me = {
    pid: process.pid,
    pid_start: processStartTicks(process.pid),
    host: hostname(),
    heartbeat_interval_s: 5,
    updated_at: at(1),
    passed: true,
    counts: { poses: 500 },
  };
  const verdictOf = (s: Record<string, unknown>): [string, string] => {
    const v = runState(s, now);
    return [v.verdict, v.reason];
  };
  // The last heartbeat of a run that was going well, then SIGKILL: its summary still says passed.
  assert.deepEqual(verdictOf({ ...me, finished: false, pid: deadPid() }), [
    'NOT PASSED',
    'the run died: its process is gone and no end was recorded (killed, out of memory, power cut)',
  ]);
  const full = {
    ...me,
    finished: false,
    pid: deadPid(),
    artifacts_failures: [
      {
        file: '/r/summary.json',
        code: 'ENOSPC',
        message: 'summary.json write /r/summary.json: ENOSPC (no space left on device)',
        time: at(2),
        count: 3,
        last_time: at(1),
      },
    ],
  };
  assert.deepEqual(verdictOf(full), ['NOT PASSED', 'the run ended unrecorded (its disk refused the final summary)']);
  assert.equal(verdictOf({ ...me, finished: false, updated_at: at(60) })[0], 'NOT PASSED', 'stale: hung');
  assert.deepEqual(verdictOf({ ...me, finished: true, exit: 'error', exit_code: 1, error: 'boom' }), [
    'NOT PASSED',
    'the run crashed: boom',
  ]);
  assert.deepEqual(verdictOf({ ...me, finished: true, exit: 'exited', exit_code: 1, error: 'output failed: x' }), [
    'NOT PASSED',
    'the run exited 1: output failed: x',
  ]);
  const disabled = {
    ...me,
    finished: true,
    exit: 'completed',
    exit_code: 0,
    plugins: {
      disabled: [
        { plugin: 'alignment', during: 'tick', message: 'x' },
        { plugin: 'latency', during: 'tick', message: 'y' },
      ],
    },
  };
  assert.deepEqual(verdictOf(disabled), [
    'NOT PASSED',
    'plug-ins disabled: alignment (during tick); latency (during tick)',
  ]);
  const failing = {
    ...me,
    finished: true,
    exit: 'completed',
    exit_code: 0,
    passed: false,
    acceptance: {
      latency: { enabled: true, evaluated: true, passed: false },
      alignment: { enabled: true, evaluated: false, passed: null },
    },
  };
  assert.deepEqual(verdictOf(failing), ['NOT PASSED', 'acceptance not met: latency failed, alignment not evaluated']);
  const running = runState({ ...me, finished: false }, now);
  assert.equal(running.provisional, true);
  assert.equal(running.verdict, 'PASSED', 'a live run that holds so far');
});

test('a run that exits 2 after start (an unset password variable) records it: status says exited 2 with the reason, NOT PASSED', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myostream-exit2-'));
  const r = runCli(
    [
      'run',
      '--source',
      'synthetic',
      '--duration',
      '5',
      '--artifacts',
      dir,
      '--set',
      'outputs.mqtt.username=u',
      '--set',
      'outputs.mqtt.password_env=MYOSTREAM_TEST_UNSET_VARIABLE',
    ],
    { env: { MYOSTREAM_TEST_UNSET_VARIABLE: undefined } },
  );
  assert.equal(r.status, 2, r.stderr);
  assert.ok(existsSync(join(dir, 'summary.json')), 'the run folder was opened before the error');
  const s = runCli(['status', '--artifacts', dir]);
  assert.equal(s.status, 0, s.stderr);
  assert.match(
    s.stdout,
    /^state +exited 2: outputs\.mqtt\.password_env = MYOSTREAM_TEST_UNSET_VARIABLE: the environment variable MYOSTREAM_TEST_UNSET_VARIABLE is not set$/m,
  );
  assert.match(
    s.stdout,
    /^verdict +NOT PASSED: the run exited 2: outputs\.mqtt\.password_env = MYOSTREAM_TEST_UNSET_VARIABLE/m,
  );
  assert.doesNotMatch(s.stdout, /died|PASSED$/m);
});

test('collect with no argument: the runs since boot that did not end cleanly, plus the latest', () => {
  const boot = now - 3600_000;
  const gone = deadPid();
  const entry = (name: string, summary: Record<string, unknown>): RunEntry => ({
    name,
    dir: `/x/${name}`,
    bytes: 0,
    summary,
  });
  const before = entry('run-20261201T100000Z-1', {
    finished: false,
    pid: gone,
    host: hostname(),
    started_at: at(7200),
    updated_at: at(7100),
  });
  const killed = entry('run-20261201T113000Z-2', {
    finished: false,
    pid: gone,
    host: hostname(),
    started_at: at(1800),
    updated_at: at(1700),
  });
  const clean = entry('run-20261201T114000Z-3', {
    finished: true,
    exit: 'interrupted',
    started_at: at(1200),
    updated_at: at(1100),
  });
  const exited = entry('run-20261201T115000Z-4', {
    finished: true,
    exit: 'exited',
    exit_code: 2,
    error: 'x',
    started_at: at(600),
    updated_at: at(600),
  });
  const latest = entry('run-20261201T115500Z-5', {
    finished: true,
    exit: 'completed',
    started_at: at(300),
    updated_at: at(10),
  });
  assert.deepEqual(
    incidentRuns([before, killed, clean, exited, latest], boot).map((r) => r.name),
    [killed.name, exited.name, latest.name],
  );
  assert.deepEqual(
    incidentRuns([clean], boot).map((r) => r.name),
    [clean.name],
    'the latest alone when nothing went wrong',
  );
});

/** A real writer: a process that keeps a run's summary.json current with heartbeatFields. */
function startWriter(root: string): Promise<{ pid: number; kill: () => Promise<void> }> {
  const script = `
    import { RunArtifacts, heartbeatFields } from ${JSON.stringify(join(ROOT, 'dist/src/outputs/artifacts.js'))};
    const a = RunArtifacts.create(${JSON.stringify(root)});
    const beat = () => a.writeJson('summary.json', { passed: true, mode_final: 'streaming', started_at: new Date().toISOString(), ...heartbeatFields(0.2) });
    beat();
    a.jsonl('events.jsonl').write({ time: new Date().toISOString(), kind: 'mode_switch', atSample: 5, detail: 'x' });
    process.stdout.write('ready\\n');
    setInterval(beat, 200);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((res, rej) => {
    child.stdout.on('data', (d: Buffer) => {
      if (!d.toString().includes('ready')) return;
      res({
        pid: child.pid!,
        kill: () =>
          new Promise<void>((r) => {
            child.once('exit', () => r());
            child.kill('SIGKILL');
          }),
      });
    });
    child.once('exit', (c) => rej(new Error(`writer exited ${c}`)));
  });
}

test('status from / finds the runs through $MYOSTREAM_ARTIFACTS, $STATE_DIRECTORY or the config; after SIGKILL it says died', async () => {
  const state = mkdtempSync(join(tmpdir(), 'myo-state-'));
  const root = join(state, 'runs');
  const w = await startWriter(root);
  let killed = false;
  try {
    const live = runCli(['status'], { cwd: '/', env: { MYOSTREAM_ARTIFACTS: root } });
    assert.equal(live.status, 0, live.stderr);
    assert.match(live.stdout, new RegExp(`state +running \\(pid ${w.pid}, last heartbeat`));
    assert.match(live.stdout, /from MYOSTREAM_ARTIFACTS/);
    const viaState = runCli(['status'], { cwd: '/', env: { MYOSTREAM_ARTIFACTS: undefined, STATE_DIRECTORY: state } });
    assert.match(viaState.stdout, /from STATE_DIRECTORY/);
    assert.match(viaState.stdout, /state +running/);
    const cfg = join(state, 'c.yaml');
    writeFileSync(cfg, `outputs:\n  artifacts_root: ${root}\n`);
    const viaCfg = runCli(['status', '-c', cfg, '--json'], { cwd: '/', env: { MYOSTREAM_ARTIFACTS: '/nonexistent' } });
    const j = JSON.parse(viaCfg.stdout) as { root_from: string; state: { state: string } };
    assert.equal(j.root_from, 'outputs.artifacts_root', 'the configured root wins over the environment');
    assert.equal(j.state.state, 'running');
    await w.kill();
    killed = true;
    const dead = runCli(['status'], { cwd: '/', env: { MYOSTREAM_ARTIFACTS: root } });
    assert.equal(dead.status, 0, dead.stderr);
    assert.match(
      dead.stdout,
      new RegExp(`state +died \\(pid ${w.pid} gone, last heartbeat \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z, [0-9.]+ s ago\\)`),
    );
    assert.doesNotMatch(dead.stdout, /running/);
    assert.match(dead.stdout, /events +1 \(last: mode_switch/);
  } finally {
    if (!killed) await w.kill();
  }
});

test('status reports disabled outputs and a torn last event line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-status-'));
  writeFileSync(
    join(dir, 'summary.json'),
    JSON.stringify({
      passed: false,
      finished: true,
      exit: 'completed',
      updated_at: new Date().toISOString(),
      mode_final: 'streaming',
      disabled: [
        {
          plugin: 'poses-file',
          during: 'pose',
          message: 'poses file (outputs.poses_out) write /mnt/p.jsonl: ENOSPC (no space left on device)',
        },
      ],
    }),
  );
  writeFileSync(join(dir, 'events.jsonl'), '{"time":"t1","kind":"plugin_failed","detail":"d"}\n{"time":"t2","ki');
  const r = runCli(['status', '--artifacts', dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /disabled +poses-file \(during pose\): poses file \(outputs\.poses_out\) write \/mnt\/p\.jsonl: ENOSPC/,
  );
  assert.match(r.stdout, /events +1 \(last: plugin_failed at t1\); the last line of events\.jsonl is torn \(skipped\)/);
  // A corrupt line inside (a damaged disk): skipped and named by line and byte offset; the rest still reads.
  writeFileSync(
    join(dir, 'events.jsonl'),
    '{"time":"t1","kind":"plugin_failed","detail":"d"}\n{"time":"t2\n{"time":"t3","kind":"gap","detail":"g"}\n',
  );
  const c = runCli(['status', '--artifacts', dir]);
  assert.equal(c.status, 0, c.stderr);
  assert.match(
    c.stdout,
    /events +2 \(last: gap at t3\); 1 corrupt line\(s\) skipped, the first: line 2 at byte offset 50 \(/,
  );
});

function fakeRun(root: string, name: string, bytes: number, summary?: Record<string, unknown>): void {
  const d = join(root, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'streaming_metrics.jsonl'), Buffer.alloc(bytes, 0x61));
  if (summary) writeFileSync(join(d, 'summary.json'), JSON.stringify(summary));
}

test('pruneRuns removes the oldest runs by count and by total size, never a live one nor other folders', async () => {
  const root = mkdtempSync(join(tmpdir(), 'myo-prune-'));
  const dead = deadPid();
  const done = { finished: true, exit: 'completed', pid: dead, host: hostname() };
  const w = await startWriter(join(root, 'elsewhere'));
  try {
    // The oldest run is alive (its writer runs): it stays whatever the limits say.
    fakeRun(root, 'run-20260101T000000Z-1', 1000, {
      finished: false,
      pid: w.pid,
      pid_start: processStartTicks(w.pid),
      host: hostname(),
    });
    fakeRun(root, 'run-20260102T000000Z-2', 300_000, done);
    fakeRun(root, 'run-20260103T000000Z-3', 300_000, { finished: false, pid: dead, host: hostname() });
    fakeRun(root, 'run-20260104T000000Z-4', 300_000, done);
    fakeRun(root, 'run-20260105T000000Z-5', 300_000, done);
    mkdirSync(join(root, 'not-a-run'));
    const byCount = pruneRuns(root, { max_runs: 3, max_total_mb: 0 });
    assert.deepEqual(
      byCount.removed.map((r) => r.name),
      ['run-20260102T000000Z-2', 'run-20260103T000000Z-3'],
      'oldest first; a died run is removable',
    );
    assert.deepEqual(byCount.protectedRuns, ['run-20260101T000000Z-1']);
    assert.ok(existsSync(join(root, 'not-a-run')));
    const bySize = pruneRuns(root, { max_runs: 0, max_total_mb: 0.5 });
    assert.deepEqual(
      bySize.removed.map((r) => r.name),
      ['run-20260104T000000Z-4'],
    );
    assert.ok(bySize.keptBytes <= 0.5 * 1048576);
    assert.deepEqual(
      listRuns(root).map((r) => r.name),
      ['run-20260101T000000Z-1', 'run-20260105T000000Z-5'],
    );
  } finally {
    await w.kill();
  }
});

test('collect packs the chosen runs with their config snapshot, a manifest and the journal (or why not)', () => {
  const root = mkdtempSync(join(tmpdir(), 'myo-collect-'));
  const recent = new Date(Date.now() - 60_000).toISOString();
  for (const [name, started] of [
    ['run-20200101T000000Z-7', '2020-01-01T00:00:00Z'],
    ['run-20260101T000000Z-8', recent],
  ] as const) {
    fakeRun(root, name, 100, { finished: true, exit: 'completed', started_at: started, updated_at: started });
    writeFileSync(join(root, name, 'config_snapshot.yaml'), 'model:\n  mode: streaming\n');
  }
  const out = join(root, 'bundle.tar.gz');
  const r = runCli(['collect', '--since', '1h', '-o', out], { cwd: '/', env: { MYOSTREAM_ARTIFACTS: root } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /1 run\(s\) \(run-20260101T000000Z-8\)/);
  const list = spawnSync('tar', ['-tzf', out], { encoding: 'utf8' }).stdout.split('\n');
  const has = (re: RegExp): boolean => list.some((l) => re.test(l));
  assert.ok(has(/^myostream-collect-[^/]+\/runs\/run-20260101T000000Z-8\/config_snapshot\.yaml$/), list.join('\n'));
  assert.ok(has(/\/runs\/run-20260101T000000Z-8\/summary\.json$/));
  assert.ok(!has(/run-20200101T000000Z-7/), 'a run outside --since is left out');
  assert.ok(has(/\/manifest\.json$/));
  assert.ok(
    has(/\/journal\.txt$/) || has(/\/journal-none\.txt$/),
    'the journal excerpt or the note saying why there is none',
  );
  const x = mkdtempSync(join(tmpdir(), 'myo-collect-x-'));
  spawnSync('tar', ['-xzf', out, '-C', x]);
  const top = list[0]!.split('/')[0]!;
  const manifest = JSON.parse(readFileSync(join(x, top, 'manifest.json'), 'utf8')) as {
    runs: { name: string; config_snapshot: string }[];
    journal: { file: string; status: string };
  };
  assert.equal(manifest.runs[0]!.config_snapshot, 'runs/run-20260101T000000Z-8/config_snapshot.yaml');
  assert.ok(existsSync(join(x, top, manifest.journal.file)));
  const named = runCli(['collect', 'run-20200101T000000Z-7', '-o', join(root, 'b2.tar.gz')], {
    env: { MYOSTREAM_ARTIFACTS: root },
  });
  assert.equal(named.status, 0, named.stderr);
  const both = runCli(['collect', 'run-20200101T000000Z-7', '--since', '1h'], { env: { MYOSTREAM_ARTIFACTS: root } });
  assert.equal(both.status, 2);
  assert.equal(parseSince('30m', 3_600_000), 1_800_000);
});

test("--version on the program and every subcommand prints package.json's version", () => {
  const v = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  for (const args of [
    ['--version'],
    ['run', '--version'],
    ['align', '-V'],
    ['bench', '--version'],
    ['status', '--version'],
    ['collect', '--version'],
  ]) {
    const r = runCli(args);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), v, args.join(' '));
  }
});

test('a run without --artifacts under the test runner writes into the scratch root, not the repository', () => {
  const repoLatest = join(ROOT, 'artifacts', 'latest');
  const before = existsSync(repoLatest) ? readlinkSync(repoLatest) : undefined;
  const r = runCli([
    'run',
    '--duration',
    '0.3',
    '--speed',
    '0',
    '--set',
    'outputs.mqtt.enabled=false',
    '--set',
    'logging.level=error',
    '--quiet',
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(listRuns(scratchArtifacts()).length >= 1, 'the run went to MYOSTREAM_ARTIFACTS');
  assert.equal(
    existsSync(repoLatest) ? readlinkSync(repoLatest) : undefined,
    before,
    "the repository's artifacts/latest did not move",
  );
});

test('the real daemon killed with SIGKILL: status from / says died, with its last heartbeat', async () => {
  const root = mkdtempSync(join(tmpdir(), 'myo-kill-'));
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'dist/src/main.js'),
      'run',
      '--source',
      'synthetic',
      '--speed',
      '1',
      '--quiet',
      '--set',
      'outputs.mqtt.enabled=false',
      '--set',
      'watchdog.status_interval_s=0.2',
      '--set',
      'logging.level=error',
    ],
    { cwd: '/', stdio: 'ignore', env: { ...process.env, MYOSTREAM_ARTIFACTS: root } },
  );
  const exited = new Promise((r) => child.once('exit', r));
  try {
    // Wait (bounded) for the run's own heartbeat to say it runs, then kill it.
    const until = Date.now() + 60_000;
    let live = '';
    while (Date.now() < until) {
      const st = runCli(['status'], { cwd: '/', env: { MYOSTREAM_ARTIFACTS: root } });
      live = st.stdout;
      if (/state +running \(pid \d+/.test(live)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(live, new RegExp(`state +running \\(pid ${child.pid}`), live);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  const dead = runCli(['status'], { cwd: '/', env: { MYOSTREAM_ARTIFACTS: root } });
  assert.equal(dead.status, 0, dead.stderr);
  assert.match(
    dead.stdout,
    new RegExp(`state +died \\(pid ${child.pid} gone, last heartbeat \\d{4}-[0-9T:.-]+Z, [0-9.]+ s ago\\)`),
    dead.stdout,
  );
});

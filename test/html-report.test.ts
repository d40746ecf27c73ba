import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decimateMinMax, histogram } from '../src/runs/decimate.js';
import { processStartTicks, type Liveness } from '../src/outputs/artifacts.js';
import { jsonlProblems, readJsonl } from '../src/runs/jsonl.js';
import { judgeRun } from '../src/runs/judge.js';
import { writeRunReport } from '../src/daemon/report-command.js';
import { CLI, ROOT, runCli } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'myostream-report-'));

function reportData(html: string): Record<string, unknown> {
  const m = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html);
  assert.ok(m, 'report data block present');
  return JSON.parse(m[1]!) as Record<string, unknown>;
}

test('JSON lines: a torn last line is skipped and flagged; a corrupt line inside is skipped and named by its byte offset', () => {
  const p = join(work, 'x.jsonl');
  writeFileSync(p, '{"a":1}\n{"a":2}\n{"a":');
  const r = readJsonl(p);
  assert.deepEqual(r.records, [{ a: 1 }, { a: 2 }]);
  assert.equal(r.torn, true);
  assert.match(jsonlProblems(p, r).join('\n'), /x\.jsonl: the last line was incomplete/);
  writeFileSync(p, 'é\n{"a":1}\n{"a"\n{"a":3}\n');
  const bad = readJsonl(p);
  assert.deepEqual(bad.records, [{ a: 1 }, { a: 3 }]);
  // Bytes, not characters: "é" is two bytes, so line 3 starts at byte 11.
  assert.deepEqual(
    bad.corrupt.slice(1).map((c) => [c.line, c.offset]),
    [[3, 11]],
  );
  assert.equal(bad.torn, false);
  assert.match(
    jsonlProblems(p, bad)[0]!,
    /x\.jsonl: line 1 at byte offset 0 is not valid JSON: .* \(2 such lines, all skipped\)/,
  );
  // A blank line is nothing; a last line lacking only its newline is a whole record.
  writeFileSync(p, '{"a":1}\n  \n{"a":2}');
  assert.deepEqual(readJsonl(p), { records: [{ a: 1 }, { a: 2 }], torn: false, corrupt: [] });
  assert.deepEqual(jsonlProblems(p, readJsonl(p)), []);
});

test('run state in three (the colour of the report): finished, running, crashed by a dead pid or a stale summary', () => {
  const now = Date.parse('2026-01-01T00:01:00Z');
  const kind = (s: Record<string, unknown> | null, liveness?: Liveness): string =>
    judgeRun(s, now, 5, liveness ? () => liveness : undefined).kind;
  assert.equal(kind({ finished: true, exit: 'completed' }), 'finished');
  const fresh = { finished: false, updated_at: '2026-01-01T00:00:58Z' };
  assert.equal(kind(fresh), 'running');
  assert.equal(kind({ ...fresh, pid: 42 }, 'gone'), 'crashed');
  assert.equal(kind({ ...fresh, pid: 42 }, 'alive'), 'running');
  assert.equal(kind({ finished: false, updated_at: '2026-01-01T00:00:40Z' }), 'crashed');
  // A stated heartbeat wins over the default: 20 s old is fresh with a 10 s heartbeat.
  assert.equal(kind({ finished: false, updated_at: '2026-01-01T00:00:40Z', heartbeat_interval_s: 10 }), 'running');
  assert.equal(kind(null), 'crashed');
  // A pid from another machine says nothing about this one: judged by age alone.
  assert.equal(kind({ ...fresh, pid: 42, host: 'band-station-2' }, 'other-host'), 'running');
  assert.equal(
    kind({ ...fresh, pid: 42, host: 'band-station-2', updated_at: '2026-01-01T00:00:40Z' }, 'other-host'),
    'crashed',
  );
  assert.equal(kind({ finished: true, exit: 'exited', exit_code: 2 }), 'finished');
});

test('min/max decimation keeps every spike and the bounds of each bucket', () => {
  const n = 90_000;
  const x = Float64Array.from({ length: n }, (_, i) => i * 0.02);
  const y = Float64Array.from({ length: n }, (_, i) => (i === 54_321 ? 300 : i === 777 ? -5 : 1 + (i % 7) * 0.01));
  const d = decimateMinMax(x, [y], 4000);
  assert.equal(d.decimated, true);
  assert.ok(d.x.length <= 4000);
  const ys = d.ys[0]!.filter((v): v is number => v !== null);
  assert.equal(Math.max(...ys), 300);
  assert.equal(Math.min(...ys), -5);
  for (let i = 1; i < d.x.length; i++) assert.ok(d.x[i]! >= d.x[i - 1]!, 'x stays sorted');
  const small = decimateMinMax([0, 1, 2], [[5, NaN, 7]], 4000);
  assert.deepEqual(small.ys[0], [5, null, 7]);
  const h = histogram([1, 1, 2, 3, 1000]);
  assert.equal(
    h!.counts.reduce((a, b) => a + b, 0),
    5,
  );
});

test('report of a real run: finished, then the same folder as running and as crashed with a torn line', () => {
  const run = join(work, 'run');
  const r = runCli([
    'run',
    '--source',
    'synthetic',
    '--duration',
    '12',
    '--speed',
    '0',
    '--quiet',
    '--set',
    'outputs.mqtt.enabled=false',
    '--set',
    'watchdog.status_interval_s=0.5',
    '--artifacts',
    run,
  ]);
  assert.equal(r.status, 0, r.stderr);
  const cli = runCli(['report', run]);
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, /report\.html \(\d+ KiB, \d+ charts, run finished\)/);
  const html = readFileSync(join(run, 'report.html'), 'utf8');
  assert.doesNotMatch(
    html,
    /<script[^>]+src=|<link[^>]+href=|url\(\s*['"]?https?:|(src|href)=["']?https?:/,
    'nothing is loaded from elsewhere',
  );
  const data = reportData(html);
  assert.equal((data['state'] as { kind: string }).kind, 'finished');
  const ids = (data['charts'] as { id: string }[]).map((c) => c.id);
  for (const id of ['t_compute', 't_compute_hist', 'exact_error', 'truth_error', 'blocks', 'memory'])
    assert.ok(ids.includes(id), `chart ${id}`);
  assert.match(html, /PASSED/);
  assert.match(html, /[0-9a-f]{64}/, 'model hashes in the header');

  // The same run as a live one would leave it: not finished, fresh, our own (alive) pid, and
  // a batch cut in the middle of a line.
  const running = join(work, 'running');
  cpSync(run, running, { recursive: true });
  const s = JSON.parse(readFileSync(join(running, 'summary.json'), 'utf8')) as Record<string, unknown>;
  // pid_start too: the pid alone could be a reused one, which status and the report both refuse.
  writeFileSync(
    join(running, 'summary.json'),
    JSON.stringify({
      ...s,
      finished: false,
      exit: 'running',
      updated_at: new Date().toISOString(),
      pid: process.pid,
      pid_start: processStartTicks(process.pid) ?? null,
    }),
  );
  appendFileSync(join(running, 'streaming_metrics.jsonl'), '{"step":99999,"t":1');
  const rr = writeRunReport(running);
  assert.equal(rr.state, 'running');
  const rd = reportData(readFileSync(rr.path, 'utf8'));
  assert.ok((rd['notes'] as string[]).some((n) => n.includes('last line was incomplete')));
  // A corrupt line inside events.jsonl: the report is still made and its notes name the line and byte offset.
  const events = readFileSync(join(running, 'events.jsonl'), 'utf8');
  writeFileSync(join(running, 'events.jsonl'), `{"kind":\n${events}`);
  const notes = reportData(readFileSync(writeRunReport(running).path, 'utf8'))['notes'] as string[];
  assert.ok(
    notes.some((n) => /events\.jsonl: line 1 at byte offset 0 is not valid JSON/.test(n)),
    notes.join('; '),
  );

  // Crashed: the process that wrote it is gone.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(
    join(running, 'summary.json'),
    JSON.stringify({
      ...s,
      finished: false,
      exit: 'running',
      updated_at: new Date().toISOString(),
      pid: Number(dead.stdout),
    }),
  );
  assert.equal(writeRunReport(running).state, 'crashed');
});

test('collect-artifacts packs each run with its report.html', () => {
  const root = mkdtempSync(join(work, 'runs-'));
  cpSync(join(work, 'run'), join(root, 'run-20260101T000000Z-1'), { recursive: true });
  const tgz = join(work, 'runs.tar.gz');
  const r = spawnSync('bash', ['-c', `bash "${join(ROOT, 'scripts', 'collect-artifacts.sh')}" 3 > "${tgz}"`], {
    env: { ...process.env, MYOSTREAM_RUNS: root },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const list = spawnSync('tar', ['tzf', tgz], { encoding: 'utf8' }).stdout.split('\n');
  assert.ok(list.includes('run-20260101T000000Z-1/report.html'), list.join(' '));
  assert.ok(list.includes('run-20260101T000000Z-1/summary.json'));
});

test('report: a folder that is no run, or a corrupt summary, is one line and exit 2', () => {
  const empty = mkdtempSync(join(work, 'empty-'));
  const a = runCli(['report', empty]);
  assert.equal(a.status, 2);
  assert.match(a.stderr, /not a run folder/);
  writeFileSync(join(empty, 'summary.json'), '{"passed": tr');
  const b = runCli(['report', empty]);
  assert.equal(b.status, 2);
  assert.match(b.stderr, /summary\.json: not valid JSON/);
  assert.equal(b.stderr.trim().split('\n').length, 1);
});

test(
  "report of a run that is going, then of the same run killed (the clock is the test's)",
  { timeout: 120_000 },
  async () => {
    const run = join(work, 'live');
    const child = spawn(
      process.execPath,
      [
        CLI,
        'run',
        '--source',
        'synthetic',
        '--duration',
        '120',
        '--speed',
        '1',
        '--quiet',
        '--set',
        'outputs.mqtt.enabled=false',
        '--set',
        'watchdog.status_interval_s=1',
        '--artifacts',
        run,
      ],
      { cwd: ROOT, stdio: 'ignore' },
    );
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    try {
      // Waits for the daemon's first refresh with metrics in it (model load, warm-up, a block).
      const deadline = Date.now() + 90_000;
      let summary: Record<string, unknown> | null = null;
      while (Date.now() < deadline) {
        try {
          summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as Record<string, unknown>;
          if (
            readFileSync(join(run, 'streaming_metrics.jsonl'), 'utf8').length > 0 &&
            (summary['counts'] as { poses: number }).poses > 0
          )
            break;
        } catch {
          // not written yet
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(summary, 'the running daemon wrote its summary');
      assert.equal(summary['finished'], false);
      const updated = Date.parse(String(summary['updated_at']));
      const going = writeRunReport(run, { now: new Date(updated + 500) });
      assert.equal(going.state, 'running');
      const html = readFileSync(going.path, 'utf8');
      assert.match(html, /class="state running"/);
      assert.ok((reportData(html)['charts'] as { id: string }[]).some((c) => c.id === 't_compute'));
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    // Killed: its summary stays unfinished and stops being refreshed.
    const s = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(s['finished'], false);
    const dead = writeRunReport(run, { now: new Date(Date.parse(String(s['updated_at'])) + 10_000) });
    assert.equal(dead.state, 'crashed');
    assert.match(readFileSync(dead.path, 'utf8'), /class="state crashed"/);
  },
);

test('report of a two-band run: one page per stream, in each stream folder', () => {
  const run = join(work, 'two');
  const r = runCli([
    'run',
    '--config',
    join(ROOT, 'configs', 'two-bands.yaml'),
    '--duration',
    '6',
    '--speed',
    '0',
    '--quiet',
    '--set',
    'outputs.mqtt.enabled=false',
    '--artifacts',
    run,
  ]);
  assert.equal(r.status, 0, r.stderr);
  const rep = runCli(['report', run]);
  assert.equal(rep.status, 0, rep.stderr);
  const lines = rep.stdout.trim().split('\n');
  assert.equal(lines.length, 2);
  for (const id of ['left', 'right']) {
    const data = reportData(readFileSync(join(run, id, 'report.html'), 'utf8'));
    assert.equal((data['state'] as { kind: string }).kind, 'finished');
    assert.ok(
      (data['charts'] as { id: string }[]).some((c) => c.id === 't_compute'),
      `${id}: T_compute chart`,
    );
  }
  assert.equal(runCli(['report', run, '--out', join(work, 'x.html')]).status, 2);
});

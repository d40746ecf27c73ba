import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputError } from '../src/common/errors.js';
import { writeJsonAtomic } from '../src/common/atomic-write.js';
import { JsonlWriter } from '../src/outputs/jsonl-writer.js';
import { readJsonl } from '../src/runs/jsonl.js';
import { PosesFile } from '../src/outputs/poses-file.js';
import { RunArtifacts } from '../src/outputs/artifacts.js';
import { prerequisiteTest, ROOT, smallTmpfs } from './helpers.js';
import type { PoseEvent } from '../src/domain/pose.js';

/** Every line whole JSON and the file ends in a newline: what "no torn line" means. */
function assertWholeLines(path: string): number {
  const text = readFileSync(path, 'utf8');
  if (text.length > 0) assert.ok(text.endsWith('\n'), `${path} ends in a newline`);
  const c = readJsonl(path);
  assert.equal(c.torn, false);
  assert.deepEqual(c.corrupt, []);
  return c.records.length;
}

function fillUp(dir: string): void {
  // One big file takes what is left, so the next write of anything fails.
  try {
    writeFileSync(join(dir, 'filler'), Buffer.alloc(400 * 1024, 1));
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
  }
}

const why: { reason?: string } = {};
const probe = smallTmpfs(200, why);
probe?.unmount();
const skip = probe ? false : `needs a 200 kB tmpfs: ${why.reason}`;

prerequisiteTest(
  'JsonlWriter on a full 200 kB tmpfs: one OutputError naming the file, no torn line, earlier lines readable',
  { skip },
  () => {
    const fs = smallTmpfs(200)!;
    try {
      const path = join(fs.dir, 'run', 'streaming_metrics.jsonl');
      const w = new JsonlWriter(path, 'streaming_metrics.jsonl', { flushEvery: 7 });
      const pad = 'x'.repeat(1000);
      let err: unknown;
      for (let i = 0; i < 1000 && !err; i++) {
        try {
          w.write({ step: i, pad });
        } catch (e) {
          err = e;
        }
      }
      assert.ok(err instanceof OutputError, `an OutputError, got ${String(err)}`);
      assert.equal(err.path, path);
      assert.equal(err.code, 'ENOSPC');
      assert.ok(err.message.includes(path) && err.message.includes('streaming_metrics.jsonl write'), err.message);
      assert.equal(w.written + w.dropped, w.lines, 'every record is either on disk or counted as dropped');
      assert.equal(assertWholeLines(path), w.written, 'the file holds exactly the records counted as written');
      assert.ok(w.written > 100, `${w.written} records fit before the disk filled`);
      assert.throws(
        () => w.write({ later: true }),
        (e) => e === err,
        'a failed writer refuses further records with the same error',
      );
      assert.doesNotThrow(() => w.close(), 'close after a reported failure does not throw again');
      assert.equal(assertWholeLines(path), w.written);
    } finally {
      fs.unmount();
    }
  },
);

prerequisiteTest('writeJsonAtomic on a full disk keeps the previous file and leaves no temp file', { skip }, () => {
  const fs = smallTmpfs(200)!;
  try {
    const path = join(fs.dir, 'summary.json');
    writeJsonAtomic(path, { version: 1 }, 'summary.json');
    fillUp(fs.dir);
    assert.throws(
      () => writeJsonAtomic(path, { version: 2, pad: 'y'.repeat(50_000) }, 'summary.json'),
      (e: unknown) => e instanceof OutputError && e.path === path && e.code === 'ENOSPC' && e.message.includes(path),
    );
    assert.deepEqual(
      JSON.parse(readFileSync(path, 'utf8')),
      { version: 1 },
      'the reader still sees the old, whole file',
    );
    assert.deepEqual(
      readdirSync(fs.dir).filter((f) => f.endsWith('.tmp')),
      [],
    );
  } finally {
    fs.unmount();
  }
});

prerequisiteTest(
  'PosesFile on a full disk raises OutputError naming the poses file; the poses before it stay whole',
  { skip },
  () => {
    const fs = smallTmpfs(200)!;
    try {
      const path = join(fs.dir, 'poses.jsonl');
      const p = new PosesFile(path);
      const angles = new Float32Array(20).fill(0.123456);
      const e: PoseEvent = {
        t: 0,
        step: 0,
        mode: 'streaming',
        angles,
        inputArrivedAt: Number.NaN,
      } as unknown as PoseEvent;
      let err: unknown;
      for (let i = 0; i < 20_000 && !err; i++) {
        e.step = i;
        (e as { t: number }).t = i * 0.02;
        try {
          p.write(e);
        } catch (x) {
          err = x;
        }
      }
      assert.ok(err instanceof OutputError, String(err));
      assert.equal(err.path, path);
      assert.match(
        err.message,
        /poses file \(outputs\.poses_out\) write .*poses\.jsonl: ENOSPC \(no space left on device\)/,
      );
      const n = assertWholeLines(path);
      assert.equal(n, p.counts.written);
      const steps = readJsonl<{ step: number }>(path).records.map((r) => r.step);
      steps.forEach((s, i) => assert.equal(s, i, 'the poses on disk are the first ones, in order, none missing'));
      await_close(p);
    } finally {
      fs.unmount();
    }
  },
);

function await_close(p: PosesFile): void {
  void p.close().catch(() => undefined);
}

prerequisiteTest('a read-only filesystem: opening and atomic writes fail with EROFS as OutputError', { skip }, () => {
  const fs = smallTmpfs(200)!;
  try {
    fs.readOnly();
    assert.throws(
      () => new JsonlWriter(join(fs.dir, 'events.jsonl'), 'events.jsonl'),
      (e: unknown) => e instanceof OutputError && e.code === 'EROFS' && e.path.endsWith('events.jsonl'),
    );
    assert.throws(
      () => writeJsonAtomic(join(fs.dir, 'a.json'), {}, 'a.json'),
      (e: unknown) => e instanceof OutputError && e.code === 'EROFS',
    );
  } finally {
    fs.unmount();
  }
});

test('events.jsonl is durable: an event written just before SIGKILL is on disk; batched metrics are not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-durable-'));
  const script = `
    import { RunArtifacts } from ${JSON.stringify(join(ROOT, 'dist/src/outputs/artifacts.js'))};
    const a = RunArtifacts.create('', ${JSON.stringify(dir)});
    const ev = a.jsonl('events.jsonl');
    const m = a.jsonl('streaming_metrics.jsonl');
    m.write({ step: 0 });
    ev.write({ kind: 'mode_switch', detail: 'streaming → exact' });
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((res, rej) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && res());
    child.once('exit', (c) => rej(new Error(`child exited ${c}`)));
  });
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  assert.deepEqual(readJsonl(join(dir, 'events.jsonl')).records, [
    { kind: 'mode_switch', detail: 'streaming → exact' },
  ]);
  assert.equal(
    readFileSync(join(dir, 'streaming_metrics.jsonl'), 'utf8'),
    '',
    'the batched writer had not flushed (so the event file is durable by its mode, not by chance)',
  );
});

test('JsonlWriter rotates by size and keeps rotate_keep old files, every line whole', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-rotate-'));
  const path = join(dir, 'streaming_metrics.jsonl');
  const w = new JsonlWriter(path, 'streaming_metrics.jsonl', { flushEvery: 3, rotateBytes: 2000, rotateKeep: 2 });
  for (let i = 0; i < 200; i++) w.write({ step: i, v: 'z'.repeat(80) });
  w.close();
  assert.ok(w.rotations >= 5, `${w.rotations} rotations`);
  assert.ok(existsSync(`${path}.1`) && existsSync(`${path}.2`));
  assert.ok(!existsSync(`${path}.3`), 'no more than rotate_keep old files');
  const steps: number[] = [];
  for (const f of [`${path}.2`, `${path}.1`, path]) {
    assert.ok(statSync(f).size <= 2000, `${f} ≤ rotate size`);
    assertWholeLines(f);
    steps.push(...readJsonl<{ step: number }>(f).records.map((r) => r.step));
  }
  assert.equal(steps[steps.length - 1], 199, 'the newest record is in the live file');
  steps.forEach((s, i) => i > 0 && assert.equal(s, steps[i - 1]! + 1, 'contiguous across the rotated files'));
});

test('readJsonl skips and flags a torn last line and reports a corrupt one inside by line and byte offset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-readjsonl-'));
  const p = join(dir, 'e.jsonl');
  writeFileSync(p, '{"a":1}\nnot json\n{"b":2}\n{"c":');
  const c = readJsonl(p);
  assert.deepEqual(c.records, [{ a: 1 }, { b: 2 }]);
  assert.equal(c.torn, true);
  assert.deepEqual(
    c.corrupt.map((x) => [x.line, x.offset]),
    [[2, 8]],
  );
  writeFileSync(p, '{"a":1}\n');
  assert.equal(readJsonl(p).torn, false);
});

prerequisiteTest(
  'a full run folder still says so: the reserve lets summary.json record which write failed',
  { skip },
  () => {
    const fs = smallTmpfs(200)!;
    try {
      const a = RunArtifacts.create('', join(fs.dir, 'run'));
      a.writeJson('summary.json', { passed: true, finished: false });
      const m = a.jsonl('streaming_metrics.jsonl', { flushEvery: 5 });
      let err: unknown;
      for (let i = 0; i < 10_000 && !err; i++) {
        try {
          m.write({ step: i, pad: 'p'.repeat(500) });
        } catch (e) {
          err = e;
        }
      }
      assert.ok(err instanceof OutputError && err.code === 'ENOSPC');
      const s = JSON.parse(readFileSync(join(fs.dir, 'run', 'summary.json'), 'utf8')) as {
        passed: boolean;
        artifacts_failures: { file: string; code: string }[];
      };
      assert.equal(s.passed, true, 'the last summary, kept');
      assert.deepEqual(
        s.artifacts_failures.map((f) => [f.file, f.code]),
        [[join(fs.dir, 'run', 'streaming_metrics.jsonl'), 'ENOSPC']],
      );
      a.writeJson('summary.json', { passed: false, finished: true });
      const again = JSON.parse(readFileSync(join(fs.dir, 'run', 'summary.json'), 'utf8')) as {
        finished: boolean;
        artifacts_failures: unknown[];
      };
      assert.equal(again.finished, true, 'a later summary still fits in the released reserve');
      assert.equal(again.artifacts_failures.length, 1, 'and keeps saying what failed');
      assert.equal(a.failed.length, 1);
    } finally {
      fs.unmount();
    }
  },
);

prerequisiteTest(
  'a summary the full disk refuses once the reserve is spent: recorded and counted per file, answered false, never thrown — recordExit included',
  { skip },
  () => {
    const fs = smallTmpfs(200)!;
    try {
      const a = RunArtifacts.create('', join(fs.dir, 'run'));
      assert.equal(a.writeJson('summary.json', { passed: true, finished: false }), true);
      // Spend the disk and then the reserve (released by the first refused write).
      const fill = (name: string): void => {
        let n = 0;
        try {
          for (;;) writeFileSync(join(fs.dir, `${name}-${n++}`), Buffer.alloc(4096, 1));
        } catch {
          // full
        }
      };
      fill('a');
      const big = { passed: true, finished: false, pad: 'p'.repeat(64 * 1024) };
      assert.equal(a.writeJson('summary.json', big), false, 'too large even for the released reserve');
      fill('b');
      assert.equal(a.writeJson('summary.json', { passed: true, finished: false }), false);
      assert.equal(a.writeJson('latency_stats.json', { x: 1 }), false);
      assert.doesNotThrow(() => RunArtifacts.recordExit(1, 'internal error: x'));
      const summaries = a.failed.filter((f) => f.file === join(fs.dir, 'run', 'summary.json'));
      assert.equal(summaries.length, 1, 'one entry per file and code');
      assert.equal(summaries[0]!.code, 'ENOSPC');
      assert.ok(summaries[0]!.count >= 3, `counted: ${summaries[0]!.count}`);
      assert.ok(a.failed.some((f) => f.file.endsWith('latency_stats.json')));
      const kept = JSON.parse(readFileSync(join(fs.dir, 'run', 'summary.json'), 'utf8')) as {
        passed: boolean;
        finished: boolean;
      };
      assert.deepEqual([kept.passed, kept.finished], [true, false], 'the last summary that fitted, whole');
    } finally {
      fs.unmount();
    }
  },
);

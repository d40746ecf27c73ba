import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  failpoint,
  failpointArmed,
  failpointsArmed,
  loadFailpoints,
  parseFailpoints,
} from '../src/common/failpoints.js';
import { isUserError, toOutputError } from '../src/common/errors.js';
import { writeFileAtomic } from '../src/common/atomic-write.js';
import { JsonlWriter } from '../src/outputs/jsonl-writer.js';
import { readJsonl } from '../src/runs/jsonl.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { CLI, ROOT, cliEnv } from './helpers.js';

test('unarmed, a failpoint does nothing; a bad MYOSTREAM_FAILPOINTS value is one UserError naming the entry', () => {
  loadFailpoints(undefined);
  assert.equal(failpointsArmed(), false);
  failpoint('shadow.after_step');
  loadFailpoints('  ');
  assert.equal(failpointsArmed(), false);
  for (const bad of ['x', 'x=boom', '=throw', 'x=delay', 'x=throw(3)', 'x=throw@0']) {
    assert.throws(
      () => parseFailpoints(bad),
      (e: unknown) => isUserError(e) && /MYOSTREAM_FAILPOINTS/.test((e as Error).message),
      bad,
    );
  }
  assert.deepEqual(
    parseFailpoints('a=2*enospc@3; b=delay(5)'),
    new Map([
      ['a', { kind: 'enospc', from: 3, count: 2, ms: 0 }],
      ['b', { kind: 'delay', from: 1, count: Infinity, ms: 5 }],
    ]),
  );
});

test('throw@FROM and COUNT*: passes before FROM, acts COUNT times, then passes again', () => {
  loadFailpoints('p=2*throw@3');
  try {
    assert.equal(failpointArmed('p'), true);
    assert.equal(failpointArmed('q'), false);
    failpoint('p');
    failpoint('p');
    assert.throws(() => failpoint('p'), /failpoint p \(hit 3\)/);
    assert.throws(() => failpoint('p'), /failpoint p \(hit 4\)/);
    failpoint('p');
    failpoint('q');
  } finally {
    loadFailpoints(undefined);
  }
});

test('artifact failpoints: ENOSPC on one atomic file, EIO on one JSON-lines file, earlier content kept', () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-fp-'));
  loadFailpoints('artifact.a.json=enospc@2,artifact.b.jsonl=1*eio@2');
  try {
    writeFileAtomic(join(dir, 'a.json'), '1');
    assert.throws(
      () => writeFileAtomic(join(dir, 'a.json'), '2'),
      (e: unknown) => toOutputError(e, '', '').code === 'ENOSPC',
    );
    assert.equal(readFileSync(join(dir, 'a.json'), 'utf8'), '1');
    writeFileAtomic(join(dir, 'other.json'), 'x');
    const w = new JsonlWriter(join(dir, 'b.jsonl'), 'b', { durable: true });
    w.write({ n: 1 });
    assert.throws(() => w.write({ n: 2 }), /EIO/);
    w.close();
    assert.deepEqual(readJsonl(join(dir, 'b.jsonl')).records, [{ n: 1 }]);
  } finally {
    loadFailpoints(undefined);
  }
});

test('a plug-in that fails to stop cannot hold the process: the run exits with its code and names what held it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-stopfail-'));
  // The metrics plug-in's stop never runs, so its HTTP server stays open after "run finished".
  const child = spawn(
    process.execPath,
    [
      CLI,
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
      '--set',
      'outputs.metrics.enabled=true',
      '--set',
      'outputs.metrics.port=0',
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: cliEnv({ MYOSTREAM_FAILPOINTS: 'plugin.metrics.stop=throw' }),
    },
  );
  let stderr = '';
  // A deadline from progress: the run logs as it goes; only 120 s without a line and without exiting is a hang.
  let silence: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(silence);
    silence = setTimeout(() => child.kill('SIGKILL'), 120_000);
  };
  arm();
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    arm();
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) =>
    child.once('exit', (c, s) => r([c, s])),
  );
  clearTimeout(silence);
  assert.equal(signal, null, `killed after 120 s of silence: ${stderr.slice(-2000)}`);
  assert.equal(code, 0, stderr.slice(-2000));
  assert.match(stderr, /plug-in metrics failed to stop/);
  assert.match(
    stderr,
    /^myostream: the command has ended but .*TCPServerWrap.* still held the process after 10 s \(a part that failed to stop\); exiting with 0$/m,
  );
});

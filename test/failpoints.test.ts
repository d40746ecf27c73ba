import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failpoint, failpointArmed, failpointsArmed, loadFailpoints, parseFailpoints } from '../src/common/failpoints.js';
import { isUserError, toOutputError } from '../src/common/errors.js';
import { writeFileAtomic } from '../src/common/atomic-write.js';
import { JsonlWriter, readJsonl } from '../src/outputs/jsonl-writer.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('unarmed, a failpoint does nothing; a bad MYOSTREAM_FAILPOINTS value is one UserError naming the entry', () => {
  loadFailpoints(undefined);
  assert.equal(failpointsArmed(), false);
  failpoint('shadow.after_step');
  loadFailpoints('  ');
  assert.equal(failpointsArmed(), false);
  for (const bad of ['x', 'x=boom', '=throw', 'x=delay', 'x=throw(3)', 'x=throw@0']) {
    assert.throws(() => parseFailpoints(bad), (e: unknown) => isUserError(e) && /MYOSTREAM_FAILPOINTS/.test((e as Error).message), bad);
  }
  assert.deepEqual(parseFailpoints('a=2*enospc@3; b=delay(5)'), new Map([
    ['a', { kind: 'enospc', from: 3, count: 2, ms: 0 }],
    ['b', { kind: 'delay', from: 1, count: Infinity, ms: 5 }],
  ]));
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
    assert.throws(() => writeFileAtomic(join(dir, 'a.json'), '2'), (e: unknown) => toOutputError(e, '', '').code === 'ENOSPC');
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

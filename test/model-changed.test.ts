import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, damageKeepingStat, runCli } from './helpers.js';

/**
 * A model file that changes on disk behind the digest cache (same size and mtime, other bytes)
 * loads from the cache at start; the background re-hash catches it and the run ends with exit 2
 * and one line naming the file: what ran must be what model_info.json says ran.
 */
test('a model changed on disk behind the digest cache ends the run with exit 2 naming the file', () => {
  const work = mkdtempSync(join(tmpdir(), 'myo-model-changed-'));
  const dir = join(work, 'models');
  const cache = join(work, 'digests.json');
  mkdirSync(dir);
  for (const f of readdirSync(join(ROOT, 'models'))) {
    if (!f.endsWith('.onnx') && f !== 'model_info.json') continue;
    copyFileSync(join(ROOT, 'models', f), join(dir, f));
    utimesSync(join(dir, f), 1_700_000_000, 1_700_000_000);
  }
  const args = (extra: string[]): string[] => [
    'run',
    '--set',
    `model.dir=${dir}`,
    '--set',
    'model.mode=exact',
    '--set',
    'outputs.mqtt.enabled=false',
    '--set',
    'logging.level=warn',
    '--quiet',
    ...extra,
  ];
  const env = { MYOSTREAM_DIGEST_CACHE: cache };
  const clean = runCli(args(['--speed', '0', '--duration', '6', '--artifacts', join(work, 'clean')]), { env });
  assert.equal(clean.status, 0, clean.stderr);

  damageKeepingStat(join(dir, 'decoder_rollout.onnx'));

  // Real time and long enough that the run is still going when the re-hash finishes.
  const run = join(work, 'changed');
  const changed = runCli(args(['--speed', '1', '--duration', '60', '--artifacts', run]), { env, timeoutMs: 90_000 });
  assert.equal(changed.status, 2, changed.stderr);
  assert.match(changed.stderr, /decoder_rollout\.onnx: sha256 .* does not match model_info\.json/);
  assert.doesNotMatch(changed.stderr, /\n\s+at /, 'no stack trace');
  const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as {
    finished: boolean;
    exit: string;
    exit_code: number;
    error: string;
    counts: { samples: number };
  };
  assert.equal(summary.finished, true);
  assert.equal(
    summary.exit,
    'exited',
    "not an interruption, not a crash: the run ended itself, with the process's exit code",
  );
  assert.equal(summary.exit_code, 2);
  assert.match(summary.error, /decoder_rollout\.onnx: sha256/);
  const events = readFileSync(join(run, 'events.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { kind: string; detail: string });
  assert.ok(
    events.some((e) => e.kind === 'error' && /model verification failed/.test(e.detail)),
    JSON.stringify(events),
  );
  const status = runCli(['status', '--artifacts', run]);
  assert.match(status.stdout, /state\s+exited 2: model verification failed: \S+decoder_rollout\.onnx/, status.stdout);
  assert.match(status.stdout, /verdict\s+NOT PASSED: the run exited 2: model verification failed/, status.stdout);
  assert.ok(summary.counts.samples < 60 * 2000, 'ended before its duration');
});

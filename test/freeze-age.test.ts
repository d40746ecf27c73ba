import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, cliEnv } from './helpers.js';

interface PoseLine {
  step: number;
  mode: string;
  t_capture: number | null;
  age_ms: number | null;
}

const poseLines = (path: string): PoseLine[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l.endsWith('}'))
        .map((l) => JSON.parse(l) as PoseLine)
    : [];

test('ads1299-sim frozen for 0.6 s (SIGSTOP, SIGCONT): every streaming pose still has t_capture and age_ms', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-freeze-'));
  const posesPath = join(dir, 'poses.jsonl');
  // The ADC worker appends frame by frame: after the freeze it catches up 1200 frames, one append each.
  const child = spawn(
    process.execPath,
    [
      CLI,
      'run',
      '--source',
      'ads1299-sim',
      '--duration',
      '6',
      '--quiet',
      '--artifacts',
      dir,
      '--set',
      'outputs.mqtt.enabled=false',
      '--set',
      `outputs.poses_out=${posesPath}`,
      '--set',
      'logging.level=error',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: cliEnv() },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  // Freeze once the stream is under way; a deadline on progress, not on the run's speed.
  let seen = 0;
  let quietSince = Date.now();
  while (poseLines(posesPath).length < 100) {
    const n = poseLines(posesPath).length;
    if (n !== seen) [seen, quietSince] = [n, Date.now()];
    assert.ok(Date.now() - quietSince < 60_000, `no pose for 60 s (${n} so far): ${stderr}`);
    assert.equal(child.exitCode, null, `the run ended before the freeze: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const before = poseLines(posesPath).length;
  child.kill('SIGSTOP');
  await new Promise((r) => setTimeout(r, 600));
  child.kill('SIGCONT');
  assert.equal(await exited, 0, stderr);

  const poses = poseLines(posesPath).filter((p) => p.mode === 'streaming');
  assert.ok(poses.length > before + 50, `${poses.length} streaming poses, ${before} before the freeze`);
  const ageless = poses.filter((p) => p.t_capture === null || p.age_ms === null);
  assert.deepEqual(
    ageless.map((p) => p.step),
    [],
    `${ageless.length} of ${poses.length} streaming poses without an age`,
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, cliEnv, runCli, waitFor } from './helpers.js';

interface Event {
  kind: string;
  detail: string;
  data?: Record<string, string | number | boolean | null>;
}

function events(dir: string): Event[] {
  const f = join(dir, 'events.jsonl');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event);
}

function summary(dir: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * The real `myostream run` as systemd drives it: SIGHUP re-reads the configuration file (the log
 * level applies live, other sections are refused, a file that no longer loads changes nothing)
 * and every reload is a config_reload event; SIGTERM finalises the run as interrupted.
 */
test('run: SIGHUP reloads are recorded as config_reload events; SIGTERM ends the run as interrupted', { timeout: 180_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'myo-signals-'));
  const dir = join(work, 'run');
  const config = join(work, 'config.yaml');
  const original = readFileSync(join(ROOT, 'configs', 'realtime_config.yaml'), 'utf8');
  assert.match(original, /^ {2}level: info$/m);
  assert.match(original, /max_buffer_seconds: 10\b/);
  writeFileSync(config, original);
  const child = spawn(process.execPath, [CLI, 'run', '-c', config, '--source', 'synthetic', '--speed', '1', '--duration', '0', '--set', 'outputs.mqtt.enabled=false',
    '--set', 'watchdog.status_interval_s=0.3', '--artifacts', dir, '--quiet'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: cliEnv() });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    await waitFor('the first poses', () => ((summary(dir)?.['counts'] as { poses?: number } | undefined)?.poses ?? 0) > 0, 90_000);

    // The log level and a section that needs a restart, changed together.
    writeFileSync(config, original.replace(/^ {2}level: info$/m, '  level: debug').replace(/max_buffer_seconds: 10\b/, 'max_buffer_seconds: 7'));
    child.kill('SIGHUP');
    await waitFor('the first config_reload event', () => events(dir).some((e) => e.kind === 'config_reload'), 30_000);
    const first = events(dir).filter((e) => e.kind === 'config_reload')[0]!;
    assert.equal(first.data?.['applied'], 'logging.level=debug', first.detail);
    assert.equal(first.data?.['refused'], 'runtime', first.detail);
    assert.equal(first.data?.['error'], null);

    // A file that no longer loads: recorded, and the run goes on.
    writeFileSync(config, 'model: [unclosed\n');
    child.kill('SIGHUP');
    await waitFor('the failed reload event', () => events(dir).filter((e) => e.kind === 'config_reload').length >= 2, 30_000);
    const failed = events(dir).filter((e) => e.kind === 'config_reload')[1]!;
    assert.equal(typeof failed.data?.['error'], 'string');
    assert.match(failed.detail, /reload failed, the run goes on unchanged/);
    const poses = (summary(dir)?.['counts'] as { poses: number }).poses;
    await waitFor('poses after the failed reload', () => ((summary(dir)?.['counts'] as { poses: number }).poses) > poses, 30_000);

    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  } finally {
    child.kill('SIGKILL');
  }
  const s = summary(dir)!;
  assert.equal(s['finished'], true);
  assert.equal(s['exit'], 'interrupted');
  const st = runCli(['status', '--artifacts', dir, '--json']);
  assert.equal(st.status, 0, st.stderr);
  const status = JSON.parse(st.stdout) as Record<string, unknown>;
  assert.match(JSON.stringify(status), /interrupted/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prerequisiteTest, ROOT } from './helpers.js';

const UNIT = join(ROOT, 'systemd', 'myostream.service');
const HAS_ANALYZE = spawnSync('systemd-analyze', ['--version']).status === 0;
const skip = HAS_ANALYZE ? false : 'systemd-analyze not installed (.ci/run installs it)';

/** Every value of `key=` in [Service], in order. */
function values(unit: string, key: string): string[] {
  return unit
    .split('\n')
    .filter((l) => l.startsWith(key + '='))
    .map((l) => l.slice(key.length + 1));
}

test('the unit says what the service needs', () => {
  const u = readFileSync(UNIT, 'utf8');
  assert.deepEqual(values(u, 'Type'), ['notify']);
  assert.deepEqual(values(u, 'NotifyAccess'), ['main']);
  assert.deepEqual(values(u, 'Restart'), ['always']);
  assert.deepEqual(values(u, 'RestartPreventExitStatus'), ['2']);
  assert.deepEqual(values(u, 'EnvironmentFile'), ['-/etc/myostream/env']);
  assert.deepEqual(values(u, 'StateDirectory'), ['myostream']);
  assert.deepEqual(values(u, 'LogsDirectory'), ['myostream']);
  assert.match(values(u, 'WatchdogSec')[0] ?? '', /^\d+s$/);
  assert.deepEqual(values(u, 'DeviceAllow'), ['char-spi rw', 'char-gpiochip rw', 'char-i2c rw']);
  assert.deepEqual(values(u, 'SupplementaryGroups'), ['spi gpio i2c']);
  // The devices must stay reachable: PrivateDevices would hide them.
  assert.deepEqual(values(u, 'PrivateDevices'), []);
  assert.match(values(u, 'ExecStart')[0] ?? '', /--config \/etc\/myostream\/realtime_config\.yaml/);
});

prerequisiteTest('systemd-analyze security --offline rates the unit 2.0 or better', { skip }, () => {
  const r = spawnSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', UNIT], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const m = /Overall exposure level for myostream\.service: (\d+\.\d) (\w+)/.exec(r.stdout + r.stderr);
  assert.ok(m, r.stdout + r.stderr);
  assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} ${m[2]}`);
  assert.equal(m[2], 'OK');
});

prerequisiteTest('systemd-analyze verify passes (ExecStart pointed at a real executable)', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'unit-'));
  try {
    // verify refuses a unit whose ExecStart does not exist; the installed command stands in.
    const bin = join(dir, 'myostream');
    writeFileSync(bin, '#!/bin/sh\nexit 0\n');
    chmodSync(bin, 0o755);
    const unit = join(dir, 'myostream.service');
    writeFileSync(unit, readFileSync(UNIT, 'utf8').replaceAll('/usr/local/bin/myostream', bin));
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClockSyncMonitor, readClockSync, type ClockSyncReading } from '../src/supervision/clock-sync.js';
import { hostPlugins } from './live-host.js';

test('timedatectl output is read as the kernel sync flag and the NTP service', async () => {
  const calls: string[][] = [];
  const r = await readClockSync(async (file, args) => {
    calls.push([file, ...args]);
    return 'NTP=yes\nNTPSynchronized=no\n';
  });
  assert.deepEqual(calls, [['timedatectl', 'show', '--property=NTP', '--property=NTPSynchronized']]);
  assert.equal(r.ntp_synchronized, false);
  assert.equal(r.ntp_service, true);
  assert.equal(r.source, 'timedatectl');
  assert.ok(r.checked_at && !Number.isNaN(Date.parse(r.checked_at)));
  const odd = await readClockSync(async () => 'NTPSynchronized=maybe\n');
  assert.equal(odd.ntp_synchronized, null, 'a value it does not know is not guessed');
});

test('without timedated the reading is null and says why', async () => {
  const r = await readClockSync(async () => {
    throw new Error("System has not been booted with systemd as init system (PID 1). Can't operate.");
  });
  assert.equal(r.ntp_synchronized, null);
  assert.equal(r.ntp_service, null);
  assert.match(r.source, /^timedatectl unavailable: System has not been booted with systemd/);
});

test('the real timedatectl on this machine gives a reading of the documented shape, never a throw', async () => {
  const r = await readClockSync();
  assert.ok(r.ntp_synchronized === null || typeof r.ntp_synchronized === 'boolean');
  if (r.ntp_synchronized === null) assert.match(r.source, /^timedatectl unavailable: /);
  else assert.equal(r.source, 'timedatectl');
});

test('the monitor reads at start and again on a tick once the interval has passed, into its clock_sync section', async () => {
  let clock = 0;
  let reads = 0;
  const readings: ClockSyncReading[] = [
    { ntp_synchronized: false, ntp_service: true, source: 'timedatectl', checked_at: 'a' },
    { ntp_synchronized: true, ntp_service: true, source: 'timedatectl', checked_at: 'b' },
  ];
  const m = new ClockSyncMonitor(
    60,
    async () => readings[Math.min(reads++, 1)]!,
    () => clock,
  );
  const host = await hostPlugins([m]);
  try {
    await m.settled;
    assert.equal(reads, 1);
    assert.deepEqual(host.report().sections['clock_sync'], readings[0]);
    assert.equal(host.report().gauges?.['clock_synchronized'], 0, 'the gauge Prometheus reads');
    clock = 30_000;
    host.bus.emit('tick', { uptimeS: 30, final: false });
    await m.settled;
    assert.equal(reads, 1, 'not before the interval');
    clock = 60_000;
    host.bus.emit('tick', { uptimeS: 60, final: false });
    await m.settled;
    assert.equal(reads, 2);
    assert.deepEqual(host.report().sections['clock_sync'], readings[1]);
    assert.equal(host.report().gauges?.['clock_synchronized'], 1);
  } finally {
    await host.stop();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBus } from '../src/domain/bus.js';
import type { RunEvents } from '../src/domain/events.js';
import type { Mode } from '../src/domain/pose.js';
import type { PluginContext, SessionView } from '../src/domain/plugin.js';
import { silentLogger } from '../src/common/logger.js';
import { NotifyHub } from '../src/supervision/notify-hub.js';
import { SystemdNotifyPlugin } from '../src/supervision/systemd-notify.js';
import { prerequisiteTest } from './helpers.js';

const HAS_SOCAT = spawnSync('socat', ['-V']).status === 0;
let addonLoads = true;
try {
  (await import('node:module')).createRequire(import.meta.url)('unix-dgram');
} catch {
  addonLoads = false;
}
const skip = !HAS_SOCAT
  ? 'socat not installed (.ci/run installs it)'
  : !addonLoads
    ? 'unix-dgram addon not built'
    : false;

/** A unix datagram socket bound by socat, the way systemd's notify socket is: every datagram it gets, in order. */
class NotifySocket {
  readonly path: string;
  private readonly dir: string;
  private readonly proc: ChildProcess;
  text = '';
  private waiters: (() => void)[] = [];

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'notify-'));
    this.path = join(this.dir, 'notify.sock');
    this.proc = spawn('socat', ['-u', `UNIX-RECV:${this.path}`, 'STDOUT'], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.proc.stdout!.setEncoding('utf8');
    this.proc.stdout!.on('data', (d: string) => {
      this.text += d;
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
  }

  lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '');
  }

  /** Resolves when `pred` holds of what arrived; rejects after a generous bound. */
  async until(pred: (lines: string[]) => boolean, what: string, boundMs = 20_000): Promise<void> {
    const deadline = Date.now() + boundMs;
    while (!pred(this.lines())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got:\n${this.text}`);
      await new Promise<void>((res) => {
        this.waiters.push(res);
        setTimeout(res, 200).unref();
      });
    }
  }

  async bound(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!existsSync(this.path)) {
      if (Date.now() > deadline) throw new Error('socat did not bind ' + this.path);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.proc.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A stream as a plug-in sees it: a real bus and a session whose counters the test advances. */
function stream(id: string) {
  const failures: unknown[] = [];
  const bus = new EventBus<RunEvents>((_o, _e, err) => failures.push(err));
  const session = {
    mode: 'streaming' as Mode,
    modeConfigured: 'streaming' as Mode,
    poses: 0,
    samples: 0,
    unitsSinceRestart: 0,
    startedAt: new Date(),
    exit: '',
  };
  const ctx = {
    stream: {
      id,
      multi: false,
      channels: 16,
      sampleRate: 2000,
      poseDim: 20,
      jointNames: [],
      stepSamples: 40,
      sourceDescription: 'test',
      hasJointAngles: false,
    },
    bus,
    log: silentLogger(),
    session: session as SessionView,
  } as unknown as PluginContext;
  let timer: NodeJS.Timeout | undefined;
  const step = (): void => {
    session.samples += 40;
    session.poses += 1;
    session.unitsSinceRestart += 1;
    bus.emit('unit', {
      mode: session.mode,
      computeMs: 2 + (session.poses % 10) / 10,
      cpuMs: NaN,
      lastStep: session.poses - 1,
      ringWritten: session.samples,
      sinceRestart: session.unitsSinceRestart,
    });
  };
  return {
    ctx,
    bus,
    session,
    failures,
    run(): void {
      timer ??= setInterval(step, 10);
    },
    stall(): void {
      clearInterval(timer);
      timer = undefined;
    },
  };
}

function count(lines: string[], l: string): number {
  return lines.filter((x) => x === l).length;
}

test('without NOTIFY_SOCKET the hub and the plug-in do nothing', () => {
  let opened = 0;
  const hub = new NotifyHub({
    log: silentLogger(),
    env: {},
    openTransport: () => (opened++, { send() {}, close() {} }),
  });
  const s = stream('main');
  const p = new SystemdNotifyPlugin(hub);
  p.start(s.ctx);
  assert.equal(hub.enabled, false);
  assert.equal(s.bus.listenerCount('unit'), 0);
  s.session.poses = 5;
  hub.stepped();
  hub.check();
  hub.close();
  p.stop();
  assert.equal(opened, 0);
  assert.equal(hub.counts.sent, 0);
});

test('a WATCHDOG_PID of another process disables the pings but not READY', () => {
  const hub = new NotifyHub({
    log: silentLogger(),
    env: { NOTIFY_SOCKET: '/nonexistent', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '1' },
    pid: 4242,
  });
  assert.equal(hub.enabled, true);
  assert.equal(hub.pingIntervalMs, 0);
  const own = new NotifyHub({
    log: silentLogger(),
    env: { NOTIFY_SOCKET: '/nonexistent', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '4242' },
    pid: 4242,
  });
  assert.equal(own.pingIntervalMs, 500);
});

prerequisiteTest(
  'READY, STATUS and WATCHDOG arrive on a real datagram socket; the pings stop while the source stalls and resume',
  { skip, timeout: 120_000 },
  async () => {
    const sock = new NotifySocket();
    await sock.bound();
    // 200 ms watchdog: the hub checks every 100 ms.
    const hub = new NotifyHub({ log: silentLogger(), env: { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '200000' } });
    const s = stream('main');
    const plugin = new SystemdNotifyPlugin(hub);
    try {
      plugin.start(s.ctx);
      assert.equal(hub.pingIntervalMs, 100);
      // No READY before the first unit, however long the models take to load.
      hub.check();
      assert.equal(hub.counts.sent, 0);
      s.run();
      await sock.until((l) => count(l, 'WATCHDOG=1') >= 3, 'READY and three pings');
      const lines = sock.lines();
      const ready = lines.indexOf('READY=1');
      assert.ok(ready >= 0, 'READY=1 sent');
      assert.ok(ready < lines.indexOf('WATCHDOG=1'), 'the first ping comes after READY');
      assert.ok(
        lines.some((l) => /^STATUS=streaming [\d.]+ Hz P95 [\d.]+ ms \d+ poses$/.test(l)),
        'STATUS= has mode, rate, P95: ' + lines.join(' | '),
      );
      assert.ok(lines.includes(`MAINPID=${process.pid}`));

      // The source stalls: the next checks see no growth and withhold the ping, saying so in STATUS=.
      s.stall();
      await sock.until((l) => l.filter((x) => x.endsWith(' STALLED')).length >= 3, 'three STATUS lines of a stall');
      const after = sock.lines();
      const firstStall = after.findIndex((x) => x.endsWith(' STALLED'));
      // A ping may still follow the last unit's growth, never a STALLED status line.
      assert.equal(count(after.slice(firstStall), 'WATCHDOG=1'), 0, 'no WATCHDOG=1 while stalled');
      assert.ok(hub.counts.withheld >= 3);

      // Poses without samples (or the reverse) are not progress either.
      const before = hub.counts.pings;
      s.session.poses += 1;
      hub.check();
      s.session.samples += 40;
      hub.check();
      assert.equal(hub.counts.pings, before, 'one counter alone growing does not ping');

      // Acquisition and inference advance again: the pings come back.
      const stalledLines = sock.lines().length;
      s.run();
      await sock.until((l) => count(l.slice(stalledLines), 'WATCHDOG=1') >= 2, 'pings after the stall');

      s.stall();
      hub.stop('test over');
      await sock.until((l) => l.includes('STOPPING=1'), 'STOPPING=1');
      const final = sock.lines();
      assert.ok(final.includes('STATUS=test over'));
      assert.deepEqual(plugin.report().counts && Object.keys(plugin.report().counts!), [
        'systemd_watchdog_pings',
        'systemd_watchdog_withheld',
      ]);
      assert.deepEqual(s.failures, []);
    } finally {
      s.stall();
      plugin.stop();
      hub.close();
      sock.close();
    }
  },
);

prerequisiteTest(
  'several streams: READY once all have stepped; no ping while any one stalls; a final tick ends it',
  { skip, timeout: 120_000 },
  async () => {
    const sock = new NotifySocket();
    await sock.bound();
    const hub = new NotifyHub({ log: silentLogger(), env: { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '200000' } });
    const a = stream('left');
    const b = stream('right');
    const pa = new SystemdNotifyPlugin(hub);
    const pb = new SystemdNotifyPlugin(hub);
    try {
      pa.start(a.ctx);
      pb.start(b.ctx);
      a.run();
      // Wait for left's first units to have been reported: still no READY while right has not stepped.
      while (a.session.poses < 5) await new Promise((r) => setTimeout(r, 10));
      hub.check();
      assert.equal(hub.counts.sent, 0, 'no READY before every stream stepped');
      b.run();
      await sock.until((l) => count(l, 'WATCHDOG=1') >= 2, 'pings with both streams running');
      assert.ok(
        sock.lines().some((l) => /^STATUS=left: streaming .* poses; right: streaming .* poses$/.test(l)),
        sock.text,
      );

      b.stall();
      await sock.until(
        (l) => l.filter((x) => x.includes('right: streaming') && x.endsWith('STALLED')).length >= 2,
        'right stalled',
      );
      const lines = sock.lines();
      const firstStall = lines.findIndex((x) => x.endsWith('STALLED'));
      assert.equal(count(lines.slice(firstStall), 'WATCHDOG=1'), 0, 'one stalled stream withholds the ping for all');

      // right's run ended (its final tick): it no longer has to advance, left alone keeps the pings going.
      b.bus.emit('tick', { uptimeS: 1, final: true });
      const n = sock.lines().length;
      await sock.until((l) => count(l.slice(n), 'WATCHDOG=1') >= 2, 'pings with right finished');
      a.stall();
      a.bus.emit('tick', { uptimeS: 1, final: true });
      await sock.until((l) => l.includes('STOPPING=1'), 'STOPPING=1 once every stream finished');
    } finally {
      a.stall();
      b.stall();
      pa.stop();
      pb.stop();
      hub.close();
      sock.close();
    }
  },
);

prerequisiteTest('a socket that is gone costs a logged, counted send error, never an exception', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'notify-'));
  const hub = new NotifyHub({
    log: silentLogger(),
    env: { NOTIFY_SOCKET: join(dir, 'missing.sock'), WATCHDOG_USEC: '200000' },
  });
  const s = stream('main');
  const p = new SystemdNotifyPlugin(hub);
  try {
    p.start(s.ctx);
    s.session.samples = 40;
    s.session.poses = 1;
    s.bus.emit('unit', { mode: 'streaming', computeMs: 1, cpuMs: NaN, lastStep: 0, ringWritten: 40, sinceRestart: 1 });
    assert.ok(hub.counts.sendErrors >= 1);
    assert.deepEqual(s.failures, []);
  } finally {
    p.stop();
    hub.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../src/daemon/config.js';
import { fallbackSchema } from '../src/config/schema.js';
import { watchdogSchema } from '../src/supervision/watchdog-settings.js';
import type { Plugin, PluginContext } from '../src/domain/plugin.js';
import { watchdogSettings, WatchdogPlugin, type WatchdogSettings } from '../src/supervision/watchdog-plugin.js';
import {
  LatencyDrift,
  MemoryDrift,
  UNKNOWN_SYSTEM,
  type MemoryReading,
  type SystemState,
} from '../src/supervision/watchdog.js';
import { TheilSen } from '../src/common/statistics.js';
import { ErrorAccumulator } from '../src/domain/error-figures.js';
import { Harness } from './watchdog-harness.js';

function settings(w: Record<string, unknown> = {}, f: Record<string, unknown> = {}): WatchdogSettings {
  const cfg = configSchema.parse({});
  return watchdogSettings(watchdogSchema.parse(w), fallbackSchema.parse(f), cfg.eval, 0.02, 2000);
}

const QUIET: SystemState = { ...UNKNOWN_SYSTEM, loadPct: 30, busy: false };
const BUSY: SystemState = { ...UNKNOWN_SYSTEM, loadPct: 100, busy: true };
const noSystem = {
  system: null,
  memory: (): MemoryReading => ({ rss: 100e6, heapUsed: 20e6, external: 1e6, arrayBuffers: 1e6 }),
  now: () => 0,
};

test('Theil–Sen ignores a minority of outliers and reports a confident rise', () => {
  const x = Array.from({ length: 20 }, (_, i) => i);
  const y = x.map((v) => 2 * v + 1);
  y[3] = 500;
  y[11] = -400;
  const t = new TheilSen().fit(x, y)!;
  assert.ok(Math.abs(t.slope - 2) < 1e-9, `slope ${t.slope}`);
  assert.ok(t.lo <= 2 && t.hi >= 2 && t.lo > 0);
  assert.ok(t.rising > 0.99);
  const flat = new TheilSen().fit(
    x,
    x.map((i) => (i % 2 ? 1 : -1)),
  )!;
  assert.ok(flat.rising < 0.9 && flat.lo <= 0 && flat.hi >= 0);
});

test('contention (wall up, CPU flat) is recorded as contention, never as a regression, and needs persistence', () => {
  const l = new LatencyDrift(settings().latency);
  const verdicts: string[] = [];
  const feed = (units: number, wall: number, cpu: number, sys: SystemState): void => {
    for (let i = 0; i < units; i++)
      for (const v of l.push(wall, cpu, 100 + i, sys) ?? []) verdicts.push(`${v.kind}:${v.cause}:${v.action}`);
  };
  feed(250 * 3, 2, 1.8, QUIET);
  feed(250 * 2, 30, 2, BUSY); // two windows: below persistence
  assert.deepEqual(verdicts, []);
  feed(250, 2, 1.8, QUIET);
  feed(250 * 3, 30, 2, BUSY);
  assert.deepEqual(verdicts, ['contention:contention:record']);
  feed(250 * 4, 40, 2.1, BUSY);
  assert.deepEqual(verdicts, ['contention:contention:record'], 'one event per episode');
  feed(250, 2, 1.8, QUIET);
  assert.deepEqual(verdicts, ['contention:contention:record', 'contention:contention_over:record']);
  assert.equal(l.counts.contention_windows, 9);
  assert.equal(l.counts.excess_windows, 0);
});

test('without thread CPU time the system load tells contention from a regression', () => {
  const l = new LatencyDrift(settings().latency);
  const out: string[] = [];
  for (let i = 0; i < 250 * 3; i++) for (const v of l.push(30, NaN, 100, BUSY) ?? []) out.push(v.cause);
  for (let i = 0; i < 250; i++) for (const v of l.push(2, NaN, 100, QUIET) ?? []) out.push(v.cause);
  for (let i = 0; i < 250 * 3; i++) for (const v of l.push(30, NaN, 100, QUIET) ?? []) out.push(v.cause);
  assert.deepEqual(out, ['contention', 'contention_over', 'latency_excess']);
});

test('a sustained regression of the model itself falls back to exact; a single slow window does not', async () => {
  const h = new Harness();
  const wd = new WatchdogPlugin(settings(), noSystem);
  await h.start(wd);
  h.run(20, 2, 1.9);
  h.run(5, 30, 29); // one window over the bound
  h.run(10, 2, 1.9);
  assert.deepEqual(h.modeRequests, []);
  h.run(15, 30, 29);
  assert.equal(h.mode, 'exact');
  assert.deepEqual(h.kinds(), ['alarm:latency_excess']);
  assert.match((h.modeRequests as { reason: string }[])[0]!.reason, /model's own CPU time/);
  assert.equal(h.errors.length, 0);
});

test('contention falls back only when configured to, and returns to streaming once exact blocks run unpreempted', async () => {
  const rec = new Harness();
  await rec.start(new WatchdogPlugin(settings(), noSystem));
  rec.run(10, 2, 1.9);
  rec.run(30, 30, 2);
  assert.equal(rec.mode, 'streaming', 'on_contention record: no fallback');
  assert.deepEqual(rec.kinds(), ['contention:contention']);

  const h = new Harness();
  const wd = new WatchdogPlugin(settings({ latency: { on_contention: 'exact' } }), noSystem);
  await h.start(wd);
  h.run(10, 2, 1.9);
  h.run(15, 30, 2);
  assert.equal(h.mode, 'exact');
  // Contention goes on in exact: blocks are 90 % preempted, no return however long.
  h.run(60, 30, 3);
  assert.equal(h.mode, 'exact');
  // The hogs stop: exact blocks mostly on the CPU. Needs quiet_s (15 s) and 3 quiet blocks.
  h.run(10, 1, 0.9);
  assert.equal(h.mode, 'exact', 'two quiet blocks are not enough');
  h.run(5, 1, 0.9);
  assert.equal(h.mode, 'streaming');
  assert.match(h.modeRequests.at(-1)!.reason, /back to streaming after .* 3 exact blocks in a row/);
  // Contention again (after a fresh warm-up): fall back again, and the next quiet period is
  // twice as long (hysteresis).
  h.run(20, 30, 2);
  assert.equal(h.mode, 'exact');
  h.run(25, 1, 0.9);
  assert.equal(h.mode, 'exact', 'second quiet period is 30 s');
  h.run(5, 1, 0.9);
  assert.equal(h.mode, 'streaming');
  const r = wd.report();
  const fb = (r.sections!['watchdog'] as { fallback: { returns: number; next_quiet_s: number } }).fallback;
  assert.equal(fb.returns, 2);
  assert.equal(fb.next_quiet_s, 60);
  assert.equal(r.counts!['watchdog_returns'], 2);
  assert.equal(h.errors.length, 0);
});

test('runtime.fallback.return=false keeps the fallback one-way; max_returns caps the flapping', async () => {
  const h = new Harness();
  await h.start(new WatchdogPlugin(settings({}, { return: false }), noSystem));
  h.run(10, 2, 1.9);
  h.run(15, 30, 29);
  assert.equal(h.mode, 'exact');
  h.run(120, 1, 0.99);
  assert.equal(h.mode, 'exact');

  const c = new Harness();
  const wd = new WatchdogPlugin(settings({}, { max_returns: 1, quiet_s: 5, quiet_units: 1 }), noSystem);
  await c.start(wd);
  for (let round = 0; round < 3; round++) {
    c.run(15, 30, 29);
    c.run(20, 1, 0.99);
  }
  assert.equal(c.mode, 'exact');
  assert.equal(c.modeRequests.filter((m) => m.mode === 'streaming').length, 1);
  const fb = (wd.report().sections!['watchdog'] as { fallback: { returns_exhausted: boolean } }).fallback;
  assert.equal(fb.returns_exhausted, true);
});

test('a rising trend of the model time alarms before any bound is crossed', () => {
  const l = new LatencyDrift(settings().latency);
  const causes: string[] = [];
  // P95 climbs 0.05 ms per window (0.6 ms/min), bounds 10 / 20 ms: over the 10-minute trend
  // horizon (120 windows) the trend fires long before a bound.
  for (let w = 0; w < 150; w++)
    for (let i = 0; i < 250; i++)
      for (const v of l.push(2 + w / 20, 1.9 + w / 20, 100, QUIET) ?? []) causes.push(`${v.cause}@${w}`);
  assert.ok(causes.length === 1 && causes[0]!.startsWith('latency_trend@'), causes.join());
  const at = Number(causes[0]!.split('@')[1]);
  assert.ok(1.9 + at / 20 < 8, `fired at ${1.9 + at / 20} ms`);
  // A burst of a minute (contention-like, on the CPU basis too) is not a trend; nor is noise.
  const flat = new LatencyDrift(settings().latency);
  for (let w = 0; w < 300; w++) {
    const burst = w >= 150 && w < 162 ? 6 : 0;
    for (let i = 0; i < 250; i++) {
      const v = flat.push(2 + (w % 3) + burst, 1.9 + (w % 3) + burst, 100, QUIET);
      assert.equal(v, null, `window ${w}: ${v?.[0]?.detail}`);
    }
  }
});

test('a reset storm cannot silently disable the latency check: it is counted, alarmed and judged anyway', async () => {
  const h = new Harness();
  const wd = new WatchdogPlugin(settings(), noSystem);
  await h.start(wd);
  // A reset every 10 steps (warm-up is 50): no unit would ever be judged.
  for (let i = 0; i < 3000; i++) {
    if (i % 10 === 0) h.ctx.actions.requestReset('state blow-up');
    h.streamingStep(30, 29);
  }
  const kinds = h.kinds();
  assert.equal(kinds[0], 'alarm:latency_starved');
  assert.ok(kinds.includes('alarm:latency_excess'), kinds.join());
  const r = wd.report();
  assert.ok(r.counts!['latency_restarts_seen']! >= 290);
  assert.ok(r.counts!['latency_units_judged']! > 0);
  assert.equal((r.acceptance!['latency_drift'] as unknown as { starved: boolean }).starved, true);
  assert.equal(r.acceptance!['latency_drift']!.passed, false);
});

test('numerical drift: a failed alignment block falls back, drifting blocks and offset reset, non-finite poses are counted', async () => {
  const h = new Harness();
  const wd = new WatchdogPlugin(settings({ numerical: { on_drift: 'reset' } }), noSystem);
  await h.start(wd);
  const fig = (mse: number, max: number) => ({ steps: 249, mse, mae: Math.sqrt(mse), max_diff: max });
  const block = (i: number, aligned: boolean, mse: number, max: number, off = 0) =>
    h.bus.emit('block', {
      block: i,
      firstStep: i * 250,
      startSample: i * 10000,
      aligned,
      main: fig(mse, max),
      boundary: fig(mse, max),
      meanOffset: off,
      acc: { main: new ErrorAccumulator(), boundary: new ErrorAccumulator() },
      perStep: new Float64Array(0),
    });
  block(0, true, 1e-7, 1e-5);
  block(1, false, 2e-2, 0.2);
  assert.deepEqual(h.resets, [], 'later blocks differ by design: within the drift bounds');
  block(2, false, 0.2, 1.5);
  assert.deepEqual(h.resets, [], 'one drifting block is not sustained');
  block(3, false, 0.2, 1.5);
  assert.equal(h.resets.length, 1);
  assert.match(h.resets[0]!, /drifted from exact in 2 blocks/);
  h.bus.emit('event', { time: '', kind: 'reset', atSample: 0, detail: '' });
  for (let i = 0; i < 6; i++) block(i, i === 0, 1e-7, 1e-5, 0.06);
  assert.ok(h.kinds().includes('alarm:offset'));
  h.pose.angles[3] = NaN;
  for (let i = 0; i < 5; i++) h.streamingStep(2, 1.9);
  h.pose.angles[3] = 0;
  assert.equal(h.kinds().filter((k) => k === 'alarm:non_finite').length, 1);
  assert.equal(wd.report().counts!['non_finite_poses'], 5);
  block(9, true, 1e-3, 1e-2);
  assert.equal(h.mode, 'exact');
  assert.match(h.modeRequests.at(-1)!.reason, /alignment with exact failed/);
  // Unpreempted exact blocks say nothing about alignment: no return from this fallback.
  h.run(120, 1, 0.99);
  assert.equal(h.mode, 'exact');
});

test('memory drift: flat memory over an hour gives no alarm, with slopes and confidence reported', () => {
  const m = new MemoryDrift(settings().memory);
  let seed = 1;
  const noise = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 4e6;
  for (let t = 0; t <= 3600; t += 5)
    assert.equal(
      m.sample(t, { rss: 200e6 + noise(), heapUsed: 30e6 + noise(), external: 2e6, arrayBuffers: 1e6 }),
      null,
    );
  assert.ok(Math.abs(m.trends.rss!.mb_per_hour) < 5, JSON.stringify(m.trends.rss));
  assert.ok(m.trends.rss!.confidence < 0.95);
  assert.ok(m.n <= 240);
});

/** Test-only: holds on to 8 MB more at every tick, the way a leaking output would. */
class LeakPlugin implements Plugin {
  readonly name = 'leak';
  readonly kept: Float64Array[] = [];
  start(ctx: PluginContext): void {
    ctx.bus.on(this, 'tick', () => {
      const a = new Float64Array(1024 * 1024);
      a.fill(this.kept.length);
      this.kept.push(a);
    });
  }
  stop(): void {
    this.kept.length = 0;
  }
}

test('a deliberate leak (test plug-in) raises the memory alarm: real memory readings, injected clock', async () => {
  const h = new Harness();
  let now = 0;
  const wd = new WatchdogPlugin(settings({ memory: { sample_every_s: 30 } }), { system: null, now: () => now });
  const leak = new LeakPlugin();
  await h.start(leak, wd);
  // One tick per simulated minute: 8 MB a minute is 480 MB/h, far above every bound (and
  // above the few MB the collector may free meanwhile from earlier tests).
  // The typed arrays live outside the V8 heap: `external` shows them exactly (RSS may first
  // reuse pages freed by earlier tests).
  const external = () => h.events.filter((e) => e.data?.['cause'] === 'memory_leak' && e.data['series'] === 'external');
  for (let i = 0; i < 20 && external().length === 0; i++) {
    h.tick();
    now += 60_000;
  }
  assert.equal(external().length, 1, h.kinds().join());
  const mbh = Number(external()[0]!.data!['mb_per_hour']);
  assert.ok(
    mbh > 240 && mbh < 500,
    `${mbh} MB/h: ${JSON.stringify((wd.report().sections!['watchdog'] as { memory: unknown }).memory)}`,
  );
  assert.ok(
    h.events.every((e) => e.data?.['series'] !== 'heap_used'),
    'the V8 heap did not grow',
  );
  assert.equal(wd.report().acceptance!['memory_drift']!.passed, false);
  assert.ok(leak.kept.length >= 5);
  leak.stop();
});

test('the system sampler is called on ticks, not per step, and its figures reach the contention event', async () => {
  const h = new Harness();
  let calls = 0;
  const sampler = {
    sample: async (): Promise<SystemState> => {
      calls++;
      return { ...BUSY, stealPct: 12, tempC: 71 };
    },
  };
  let now = 0;
  await h.start(new WatchdogPlugin(settings(), { system: sampler, now: () => now, memory: noSystem.memory }));
  await new Promise((r) => setImmediate(r));
  h.run(10, 2, 1.9);
  h.run(15, 30, 2);
  assert.equal(calls, 1);
  now += 6000;
  h.tick();
  await new Promise((r) => setImmediate(r));
  assert.equal(calls, 2);
  const e = h.events.find((x) => x.kind === 'contention')!;
  assert.equal(e.data!['steal_pct'], 12);
  assert.equal(e.data!['temp_c'], 71);
  assert.equal(e.data!['system_busy'], true);
});

test('on a machine that is always shared, "quiet" means back to the preemption streaming was healthy with', async () => {
  const h = new Harness();
  const wd = new WatchdogPlugin(settings({ latency: { on_contention: 'exact' } }), noSystem);
  await h.start(wd);
  h.run(20, 5, 2); // 60 % preempted, within the bounds: healthy here
  h.run(15, 30, 2);
  assert.equal(h.mode, 'exact');
  h.run(30, 20, 2); // 90 % preempted: contention goes on
  assert.equal(h.mode, 'exact');
  h.run(15, 5, 2); // back to the usual 60 %
  assert.equal(h.mode, 'streaming');
  const fb = (wd.report().sections!['watchdog'] as { fallback: { quiet_preempted_share: number } }).fallback;
  assert.ok(Math.abs(fb.quiet_preempted_share - 0.7) < 1e-9);
});

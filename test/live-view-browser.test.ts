import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveViewSchema } from '../src/config/live-view-schema.js';
import { newPoseEvent } from '../src/domain/pose.js';
import { LiveViewServer } from '../src/outputs/live-view-server.js';
import { LiveViewPlugin } from '../src/outputs/live-view.js';
import { readJsonl } from '../src/outputs/run-reader.js';
import { runCli } from './helpers.js';
import { NO_CHROMIUM, findChromium, launch, watchedPage } from './browser.js';
import { hostPlugins } from './live-host.js';

const chromium = findChromium();

test('live view in Chromium: two streams side by side, frames arrive and the skeleton moves', { skip: chromium ? false : NO_CHROMIUM, timeout: 180_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'myostream-live-browser-'));
  // Real poses: a real run of the model on the synthetic source, recorded pose by pose.
  const posesFile = join(out, 'poses.jsonl');
  const r = runCli(['run', '--source', 'synthetic', '--duration', '10', '--speed', '0', '--quiet', '--set', 'outputs.mqtt.enabled=false', '--artifacts', join(out, 'run'), '--poses-out', posesFile]);
  assert.equal(r.status, 0, r.stderr);
  const poses = readJsonl<{ t: number; step: number; mode: 'streaming' | 'exact'; angles: number[] }>(posesFile).records;
  const metrics = readJsonl<{ step: number; t_compute_ms: number }>(join(out, 'run', 'streaming_metrics.jsonl')).records;
  const computeMs = new Map(metrics.map((m) => [m.step, m.t_compute_ms]));
  assert.ok(poses.length > 300, `${poses.length} poses recorded`);

  const settings = liveViewSchema.parse({ enabled: true, port: 0 });
  const server = new LiveViewServer(settings);
  const url = await server.listen();
  const streams: { plugin: LiveViewPlugin; host: Awaited<ReturnType<typeof hostPlugins>> }[] = [];
  for (const id of ['left', 'right']) {
    const plugin = new LiveViewPlugin(settings, server);
    streams.push({ plugin, host: await hostPlugins([plugin], id, true) });
  }
  // Each stream's producer reuses one pose object, as the pipeline does.
  const objs = streams.map(() => newPoseEvent('streaming', new Float32Array(20)));
  let i = 0;
  const feed = setInterval(() => {
    streams.forEach((s, k) => {
      const p = poses[(i + k * 150) % poses.length]!;
      const e = objs[k]!;
      e.t = p.t;
      e.step = p.step;
      e.mode = p.mode;
      e.angles.set(p.angles);
      s.host.bus.emit('pose', e);
      s.host.bus.emit('unit', { mode: p.mode, computeMs: computeMs.get(p.step) ?? 1, cpuMs: NaN, lastStep: p.step, ringWritten: 0, sinceRestart: i });
    });
    i++;
  }, 20);

  const browser = await launch(chromium!);
  try {
    const w = await watchedPage(browser, (u) => u.startsWith(url));
    await w.page.setViewport({ width: 900, height: 560 });
    await w.page.goto(url, { waitUntil: 'load' });
    const framesAtLeast = (n: number): string => `window.__live && ['left', 'right'].every((s) => (window.__live.drawn[s] || 0) >= ${n})`;
    await w.page.waitForFunction(framesAtLeast(20), { timeout: 60_000 });
    const handA = (await w.page.evaluate(`document.querySelector('[data-stream=left] canvas.hand').toDataURL()`)) as string;
    const shotA = join(out, 'live-1.png');
    const a = await w.page.screenshot({ path: shotA });
    await w.page.waitForFunction(framesAtLeast(80), { timeout: 60_000 });
    const handB = (await w.page.evaluate(`document.querySelector('[data-stream=left] canvas.hand').toDataURL()`)) as string;
    const shotB = join(out, 'live-2.png');
    const b = await w.page.screenshot({ path: shotB });
    process.stdout.write(`# live view screenshots ${shotA} ${shotB}\n`);

    const live = (await w.page.evaluate('window.__live')) as { streams: string[]; frames: Record<string, number>; drawn: Record<string, number>; errors: string[] };
    assert.deepEqual(live.streams, ['left', 'right']);
    assert.ok(live.frames['left']! >= 80 && live.frames['right']! >= 80, JSON.stringify(live.frames));
    assert.notEqual(handA, handB, 'the left hand was drawn differently 60 frames later');
    assert.ok(!Buffer.from(a).equals(Buffer.from(b)), 'the two screenshots differ');
    // Side by side: the two panels share a row.
    const boxes = (await w.page.evaluate(`[...document.querySelectorAll('.stream')].map((e) => { const r = e.getBoundingClientRect(); return [r.left, r.top]; })`)) as number[][];
    assert.equal(boxes.length, 2);
    assert.equal(boxes[0]![1], boxes[1]![1]);
    assert.ok(boxes[1]![0]! > boxes[0]![0]!);
    const mode = (await w.page.evaluate(`document.querySelector('[data-stream=left] .mode').textContent`)) as string;
    assert.equal(mode, 'streaming');
    assert.deepEqual(w.consoleErrors, []);
    assert.deepEqual(live.errors, []);
    assert.deepEqual(w.foreignRequests, []);
    const rep = streams[0]!.host.report().counts;
    assert.deepEqual(streams[0]!.host.report().disabled, []);
    assert.ok(rep['live_view_frames_sent']! >= 80, JSON.stringify(rep));
    assert.ok(readFileSync(shotA).length > 1000);
  } finally {
    clearInterval(feed);
    await browser.close();
    for (const s of streams) await s.host.stop();
    await server.close();
  }
});

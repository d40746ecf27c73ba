import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSource } from '../src/acquisition/sources.js';
import { silentLogger } from '../src/common/logger.js';
import { liveViewSchema } from '../src/outputs/live-view-settings.js';
import { loadConfig } from '../src/daemon/config.js';
import { DEFAULT_CONFIG, openModels } from '../src/daemon/bootstrap.js';
import { streamPlugins } from '../src/daemon/plugins.js';
import { StreamSession } from '../src/daemon/stream-session.js';
import { streamInfo } from '../src/daemon/stream-setup.js';
import { RunArtifacts } from '../src/outputs/artifacts.js';
import { LiveViewServer } from '../src/outputs/live-view-server.js';
import { LiveViewPlugin } from '../src/outputs/live-view.js';
import { PoseSmoothingPlugin } from '../src/outputs/pose-smoothing.js';
import { NO_CHROMIUM, findChromium, launch, watchedPage } from './browser.js';
import type { Page } from 'puppeteer-core';
import { prerequisiteTest } from './helpers.js';

const chromium = findChromium();
const SMOOTHING = { min_cutoff: 2, beta: 0.5, d_cutoff: 1 };

/**
 * Waits until `condition` holds in the page, as long as the page makes progress: frames keep
 * arriving or being drawn. A busy machine slows Chromium and the streams alike, so there is no
 * bound on the whole wait, only on 120 s in which nothing at all arrives or is drawn.
 */
async function untilDrawn(page: Page, condition: string): Promise<void> {
  const progress = `window.__live ? Object.values(window.__live.frames).concat(Object.values(window.__live.drawn)).reduce((a, b) => a + b, 0) : 0`;
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    if ((await page.evaluate(condition)) === true) return;
    const now = (await page.evaluate(progress)) as number;
    if (now !== last) {
      last = now;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > 120_000) {
      throw new Error(`live view: nothing arrived or was drawn for 120 s while waiting for ${condition}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Two streams as the daemon runs them (a synthetic band each, its models, predictor, plug-in
 * host and 50 Hz loop at live pace), each with a live view plug-in on one shared server, the
 * way a two-band daemon wires it. The browser watches while they run.
 */
prerequisiteTest(
  'live view in Chromium: two running streams side by side, frames arrive and the skeleton moves',
  { skip: chromium ? false : NO_CHROMIUM },
  async () => {
    const out = mkdtempSync(join(tmpdir(), 'myostream-live-browser-'));
    // 10 frames a second, not the default 50: what is checked (frames arrive, the hand moves, the
    // smoothed view) does not need more, and at 50 Hz two streams kept a starved renderer from
    // answering the test's own calls for over 3 minutes (stress-ng beside CI).
    const settings = liveViewSchema.parse({ enabled: true, port: 0, rate_hz: 10 });
    // The daemon's wiring: one server for the streams, which the first plug-in to start opens.
    const server = new LiveViewServer(settings);
    const log = silentLogger();
    const abort = new AbortController();
    const runs: Promise<number>[] = [];
    for (const [id, seed] of [
      ['left', 1],
      ['right', 2],
    ] as const) {
      const cfg = loadConfig(DEFAULT_CONFIG, [
        'input.source=synthetic',
        'input.speed=1',
        'input.duration_s=0',
        'outputs.mqtt.enabled=false',
        `acquisition.synthetic_seed=${seed}`,
      ]);
      const source = await createSource(cfg, log);
      const models = await openModels(cfg, log);
      const session = new StreamSession({
        cfg,
        log,
        models,
        source,
        info: streamInfo(id, true, source, models),
        artifacts: RunArtifacts.create('', join(out, id)),
        plugins: (env) => [
          ...streamPlugins({ cfg, models, quiet: true }, env),
          ...(id === 'left' ? [new PoseSmoothingPlugin(SMOOTHING)] : []),
          new LiveViewPlugin(settings, server, id === 'left'),
        ],
      });
      runs.push(session.run(abort.signal));
    }
    // The signals have no end (the test aborts them when it is done): a loaded machine that is
    // slow to start Chromium must not see a stream end and its panel go before the canvases are read.
    // The sessions start their plug-ins as they begin to run; the page is there once one has.
    const url = await server.listen();
    const browser = await launch(chromium!);
    try {
      const w = await watchedPage(browser, (u) => u.startsWith(url));
      await w.page.setViewport({ width: 900, height: 560 });
      await w.page.goto(url, { waitUntil: 'load' });
      // Drawn counts outlive a panel; the panels must still be there when the canvases are read.
      const drawnAtLeast = (n: number): string =>
        `window.__live && ['left', 'right'].every((s) => (window.__live.drawn[s] || 0) >= ${n} && document.querySelector('[data-stream=' + s + '] canvas.hand'))`;
      await untilDrawn(w.page, drawnAtLeast(20));
      const handA = (await w.page.evaluate(
        `document.querySelector('[data-stream=left] canvas.hand').toDataURL()`,
      )) as string;
      const shotA = join(out, 'live-1.png');
      const a = await w.page.screenshot({ path: shotA });
      await untilDrawn(w.page, drawnAtLeast(80));
      const handB = (await w.page.evaluate(
        `document.querySelector('[data-stream=left] canvas.hand').toDataURL()`,
      )) as string;
      const shotB = join(out, 'live-2.png');
      const b = await w.page.screenshot({ path: shotB });
      process.stdout.write(`# live view screenshots ${shotA} ${shotB}\n`);

      // The left stream smooths: the switch is offered, and the hand is drawn from the smoothed pose once chosen.
      assert.equal(await w.page.evaluate(`document.getElementById('smooth').hidden`), false);
      const drawnBefore = (await w.page.evaluate(`window.__live.drawn.left`)) as number;
      await w.page.click('#smoothed');
      assert.equal(await w.page.evaluate('window.__live.view'), 'smoothed');
      await untilDrawn(w.page, `window.__live.drawn.left >= ${drawnBefore + 10}`);
      const withSmoothed = (await w.page.evaluate('window.__live.smoothedFrames')) as Record<string, number>;
      assert.ok((withSmoothed['left'] ?? 0) >= 10 && withSmoothed['right'] === undefined, JSON.stringify(withSmoothed));

      const live = (await w.page.evaluate('window.__live')) as {
        streams: string[];
        frames: Record<string, number>;
        drawn: Record<string, number>;
        errors: string[];
      };
      assert.deepEqual(live.streams, ['left', 'right']);
      assert.ok(live.frames['left']! >= 80 && live.frames['right']! >= 80, JSON.stringify(live.frames));
      assert.notEqual(handA, handB, 'the left hand was drawn differently 60 frames later');
      assert.ok(!Buffer.from(a).equals(Buffer.from(b)), 'the two screenshots differ');
      // Side by side: the two panels share a row.
      const boxes = (await w.page.evaluate(
        `[...document.querySelectorAll('.stream')].map((e) => { const r = e.getBoundingClientRect(); return [r.left, r.top]; })`,
      )) as number[][];
      assert.equal(boxes.length, 2);
      assert.equal(boxes[0]![1], boxes[1]![1]);
      assert.ok(boxes[1]![0]! > boxes[0]![0]!);
      const mode = (await w.page.evaluate(`document.querySelector('[data-stream=left] .mode').textContent`)) as string;
      assert.ok(mode === 'streaming' || mode === 'exact', mode);
      assert.deepEqual(w.consoleErrors, []);
      assert.deepEqual(live.errors, []);
      assert.deepEqual(w.foreignRequests, []);
    } finally {
      await browser.close();
      abort.abort();
      await Promise.allSettled(runs);
      await server.close();
    }
    // The plug-in's report went into each stream's summary.json like any plug-in's.
    for (const id of ['left', 'right']) {
      const s = JSON.parse(readFileSync(join(out, id, 'summary.json'), 'utf8')) as {
        live_view?: { frames_sent: number; poses: number };
        plugins: { disabled: unknown[] };
      };
      assert.ok(s.live_view, `${id}: summary.live_view`);
      assert.ok(
        s.live_view.frames_sent >= 80 && s.live_view.poses >= s.live_view.frames_sent,
        JSON.stringify(s.live_view),
      );
      assert.deepEqual(s.plugins.disabled, []);
    }
  },
);

import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { prerequisiteTest, runCli } from './helpers.js';
import { NO_CHROMIUM, findChromium, launch, watchedPage } from './browser.js';

const chromium = findChromium();

/** Series each chart must carry for a streaming synthetic run (its source has joint angles). */
const EXPECTED: Record<string, { series: number; vlines?: number; timeAxis: boolean }> = {
  t_compute: { series: 4, timeAxis: true },
  t_compute_hist: { series: 1, vlines: 3, timeAxis: false },
  exact_error: { series: 1, timeAxis: true },
  truth_error: { series: 2, timeAxis: true },
  blocks: { series: 3, timeAxis: true },
  memory: { series: 3, timeAxis: true }, // RSS, heap used, external
  // Where the run has them: per-step end-to-end latency, the blocks' mean offset.
  e2e: { series: 4, timeAxis: true },
  e2e_hist: { series: 1, vlines: 3, timeAxis: false },
  block_offset: { series: 1, timeAxis: true },
};
const REQUIRED = ['t_compute', 't_compute_hist', 'exact_error', 'truth_error', 'blocks', 'memory'];

// Counts the painted pixels of every chart's canvas and how many of them have each series'
// colour, in the page (the canvas is the only record of what was drawn).
const INSPECT = `(() => {
  const data = JSON.parse(document.getElementById('report-data').textContent);
  return data.charts.map((c) => {
    const canvas = document.querySelector('#chart-' + c.id + ' canvas');
    if (!canvas) return { id: c.id, painted: 0, colours: [] };
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    const want = c.series.map((s) => [parseInt(s.color.slice(1, 3), 16), parseInt(s.color.slice(3, 5), 16), parseInt(s.color.slice(5, 7), 16)]);
    const hits = want.map(() => 0);
    for (let i = 0; i < px.length; i += 4) {
      if (px[i + 3] === 0) continue;
      painted++;
      want.forEach((w, k) => { if (Math.abs(px[i] - w[0]) < 8 && Math.abs(px[i + 1] - w[1]) < 8 && Math.abs(px[i + 2] - w[2]) < 8) hits[k]++; });
    }
    return { id: c.id, painted, colours: hits };
  });
})()`;

prerequisiteTest(
  'report of a real run renders every chart in Chromium, offline, without console errors',
  { skip: chromium ? false : NO_CHROMIUM, timeout: 180_000 },
  async () => {
    const out = mkdtempSync(join(tmpdir(), 'myostream-report-browser-'));
    const run = join(out, 'run');
    // A latency bound no machine meets makes the run fall back to exact mode after 400 steps:
    // a real mode switch to find marked on the time axes.
    const r = runCli([
      'run',
      '--source',
      'synthetic',
      '--duration',
      '15',
      '--speed',
      '0',
      '--quiet',
      '--set',
      'outputs.mqtt.enabled=false',
      '--set',
      'watchdog.status_interval_s=0.5',
      // An injected regression: bounds no step can meet (by wall or CPU time), judged over 600 steps (two shadow blocks compared first), no return.
      '--set',
      'eval.streaming_latency.p50_ms=0.01',
      '--set',
      'eval.streaming_latency.p95_ms=0.01',
      '--set',
      'watchdog.latency.window_units=600',
      '--set',
      'watchdog.latency.persistence_windows=1',
      '--set',
      'runtime.fallback.return=false',
      '--set',
      'eval.streaming_latency.warmup_steps=0',
      // sliding_window: its blocks differ from exact by a measurable error, so every error series has a value to draw.
      '--set',
      'runtime.streaming.feature_policy=sliding_window',
      '--artifacts',
      run,
    ]);
    assert.equal(r.status, 0, r.stderr);
    const rep = runCli(['report', run]);
    assert.equal(rep.status, 0, rep.stderr);
    const file = join(run, 'report.html');
    const browser = await launch(chromium!);
    try {
      const w = await watchedPage(browser, (u) => u.startsWith('file:'));
      await w.page.setViewport({ width: 1280, height: 900 });
      await w.page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
      await w.page.waitForFunction('window.__report && window.__report.ready', { timeout: 60_000 });
      const state = (await w.page.evaluate('window.__report')) as {
        charts: { id: string; series: number; points: number; marks: number; vlines: number }[];
        errors: string[];
        renderMs: number;
      };
      const pixels = (await w.page.evaluate(INSPECT)) as { id: string; painted: number; colours: number[] }[];
      const shot = join(out, 'report.png');
      await w.page.screenshot({ path: shot, fullPage: true });
      process.stdout.write(
        `# report ${file} (${statSync(file).size} bytes) rendered in ${state.renderMs} ms; screenshot ${shot}\n`,
      );

      assert.deepEqual(w.consoleErrors, []);
      assert.deepEqual(state.errors, []);
      assert.deepEqual(w.foreignRequests, [], 'the report fetches nothing');
      const ids = state.charts.map((c) => c.id);
      for (const id of REQUIRED) assert.ok(ids.includes(id), `chart ${id} drawn (drawn: ${ids.join(' ')})`);
      for (const c of state.charts) {
        const e = EXPECTED[c.id];
        assert.ok(e, `chart ${c.id} is one the test knows`);
        assert.equal(c.series, e.series, `${c.id}: series`);
        if (e.vlines !== undefined) assert.equal(c.vlines, e.vlines, `${c.id}: percentile lines`);
        assert.ok(c.points > 0, `${c.id}: points`);
        const p = pixels.find((x) => x.id === c.id)!;
        assert.ok(p.painted > 500, `${c.id}: canvas painted (${p.painted} px)`);
        // The main series of each chart is on the canvas in its own colour.
        assert.ok(p.colours[0]! > 20, `${c.id}: first series drawn (${p.colours[0]} px of its colour)`);
      }
      // The watchdog's alarm, the fallback and the source's end (at least the last two) on every time axis.
      for (const c of state.charts)
        if (EXPECTED[c.id]!.timeAxis)
          assert.ok(c.marks >= 2, `${c.id}: mode switch and source end marked (${c.marks})`);
      const legend = (await w.page.evaluate(`document.getElementById('marks-legend').textContent`)) as string;
      assert.match(legend, /mode_switch × 1/);
      const header = (await w.page.evaluate(`document.querySelector('header').textContent`)) as string;
      assert.match(header, /NOT PASSED/, 'a run that fell back did not pass');
      assert.match(header, /finished/);
    } finally {
      await browser.close();
    }
  },
);

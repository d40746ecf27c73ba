import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../common/paths.js';
import { round3 } from '../common/round.js';
import { ARTIFACT_FILES } from '../outputs/artifacts.js';
import { SAMPLE_RATE } from '../domain/geometry.js';
import { decimateMinMax, histogram, percentileSorted } from './decimate.js';
import type { RunFolder } from './folder.js';
import { jsonlProblems } from './jsonl.js';
import { judgeRun, verdictLine, type RunVerdict } from './judge.js';
import { textOf } from '../common/text.js';

/**
 * One self-contained HTML page of a run: the header (verdict, state, config, model hashes) as
 * plain HTML, the charts drawn in the browser by uPlot from a JSON block in the page. Nothing is
 * fetched when it opens: uPlot, its stylesheet and the page's own script are inlined.
 */
export interface ReportOptions {
  /** Most points a time series keeps (pairs of min/max per bucket beyond that). */
  maxPoints: number;
  now: Date;
  /** Heartbeat to judge staleness by when summary.json does not state one (watchdog.status_interval_s). */
  defaultHeartbeatS: number;
}

export const DEFAULT_MAX_POINTS = 4000;

/** A series: values aligned with the chart's x, or one constant drawn across it. */
export type SeriesValues = (number | null)[] | { const: number };

export interface ChartSeries {
  label: string;
  values: SeriesValues;
  color: string;
  dash?: number[];
  /** Draw points only (per-block figures), not a line. */
  points?: boolean;
}

export interface ChartSpec {
  id: string;
  title: string;
  /** Which time the x axis is: signal seconds (steps, events), wall seconds (memory), or a value (histogram). */
  xAxis: 'signal' | 'wall' | 'value';
  xLabel: string;
  yLabel: string;
  log: boolean;
  bars: boolean;
  x: number[];
  series: ChartSeries[];
  /** Vertical lines at x values (percentiles on a histogram). */
  vlines?: { x: number; label: string; color: string }[];
  note: string;
}

export interface Mark {
  kind: string;
  signal_s: number | null;
  wall_s: number | null;
  detail: string;
}

export interface ReportData {
  run: string;
  generatedAt: string;
  state: RunVerdict;
  charts: ChartSpec[];
  marks: Mark[];
  marksDropped: number;
  notes: string[];
}

const COLORS = {
  a: '#1f77b4',
  b: '#d62728',
  c: '#2ca02c',
  d: '#9467bd',
  e: '#ff7f0e',
  p50: '#2ca02c',
  p95: '#ff7f0e',
  p99: '#d62728',
};
const MAX_MARKS = 2000;

type Rec = Record<string, unknown>;

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : NaN;
}
function obj(v: unknown): Rec | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : null;
}

/** 4 significant digits are plenty for a line on a screen and halve the page. */
function r4(v: number | null): number | null {
  return v === null || !Number.isFinite(v) ? null : Number(v.toPrecision(4));
}

export function buildReportData(run: RunFolder, opts: ReportOptions): ReportData {
  const notes: string[] = [];
  const summary = run.summary ?? {};
  const rate = num(obj(summary['source'])?.['sample_rate']) || SAMPLE_RATE;
  const state = judgeRun(run.summary, opts.now.getTime(), opts.defaultHeartbeatS);
  notes.push(
    ...jsonlProblems(ARTIFACT_FILES.metrics, run.metrics),
    ...jsonlProblems(ARTIFACT_FILES.events, run.events),
  );

  const charts: ChartSpec[] = [];
  const m = run.metrics.records;
  const n = m.length;
  const t = new Float64Array(n);
  const col = (key: string): Float64Array => {
    const a = new Float64Array(n);
    for (let i = 0; i < n; i++) a[i] = num(m[i]![key]);
    return a;
  };
  for (let i = 0; i < n; i++) t[i] = num(m[i]!['t']);
  const has = (a: Float64Array): boolean => a.some((v) => !Number.isNaN(v));

  const lat = run.latency ?? {};
  const pct = (section: string, values: Float64Array): Record<'p50' | 'p95' | 'p99', number | null> => {
    const stated = obj(obj(lat[section])?.['percentiles_ms']);
    if (stated)
      return { p50: num(stated['p50']) || null, p95: num(stated['p95']) || null, p99: num(stated['p99']) || null };
    const sorted = Array.from(values)
      .filter((v) => Number.isFinite(v))
      .sort((a, b) => a - b);
    return { p50: percentileSorted(sorted, 50), p95: percentileSorted(sorted, 95), p99: percentileSorted(sorted, 99) };
  };
  const withPercentiles = (p: Record<'p50' | 'p95' | 'p99', number | null>): ChartSeries[] =>
    (['p50', 'p95', 'p99'] as const).flatMap((k) =>
      p[k] === null
        ? []
        : [
            {
              label: `${k.toUpperCase()} ${r4(p[k])} ms`,
              values: { const: r4(p[k])! },
              color: COLORS[k],
              dash: [6, 4],
            },
          ],
    );

  const timeChart = (
    id: string,
    title: string,
    yLabel: string,
    log: boolean,
    cols: { label: string; values: Float64Array; color: string }[],
    extra: ChartSeries[],
    note: string,
  ): void => {
    const d = decimateMinMax(
      t,
      cols.map((c) => c.values),
      opts.maxPoints,
    );
    charts.push({
      id,
      title,
      xAxis: 'signal',
      xLabel: 'signal time (s)',
      yLabel,
      log,
      bars: false,
      x: d.x.map(round3),
      series: [...cols.map((c, i) => ({ label: c.label, values: d.ys[i]!.map(r4), color: c.color })), ...extra],
      note:
        (d.decimated
          ? `${d.sourcePoints} steps shown as min/max of ${d.x.length / 2} buckets (spikes kept). `
          : `${d.sourcePoints} steps. `) + note,
    });
  };
  const histChart = (
    id: string,
    title: string,
    values: Float64Array,
    p: Record<'p50' | 'p95' | 'p99', number | null>,
  ): void => {
    const h = histogram(values);
    if (!h) return;
    charts.push({
      id,
      title,
      xAxis: 'value',
      xLabel: 'ms',
      yLabel: 'steps',
      log: false,
      bars: true,
      x: h.edges.map((e) => r4(e)!),
      series: [{ label: 'steps per bin', values: h.counts, color: COLORS.a }],
      vlines: (['p50', 'p95', 'p99'] as const).flatMap((k) =>
        p[k] === null ? [] : [{ x: r4(p[k])!, label: `${k.toUpperCase()} ${r4(p[k])} ms`, color: COLORS[k] }],
      ),
      note: `bin width ${r4(h.width)} ms${h.overflow ? `; ${h.overflow} steps beyond the last bin are counted in it` : ''}. Vertical lines: ${(['p50', 'p95', 'p99'] as const).map((k) => `${k.toUpperCase()} ${p[k] === null ? '–' : r4(p[k])} ms`).join(', ')}.`,
    });
  };

  if (n === 0)
    notes.push(
      'streaming_metrics.jsonl: no streaming steps (an exact-mode run, or the run ended before its first flush)',
    );
  const tc = col('t_compute_ms');
  if (has(tc)) {
    const p = pct('t_compute_ms', tc);
    timeChart(
      't_compute',
      'T_compute per streaming step',
      'ms',
      false,
      [{ label: 'T_compute', values: tc, color: COLORS.a }],
      withPercentiles(p),
      'Dashed: P50/P95/P99 from latency_stats.json (warm-up excluded).',
    );
    histChart('t_compute_hist', 'T_compute distribution', tc, p);
  }
  const e2e = col('e2e_ms');
  if (has(e2e)) {
    const p = pct('end_to_end_ms', e2e);
    timeChart(
      'e2e',
      'End-to-end latency per step (last input sample → pose out)',
      'ms',
      false,
      [{ label: 'end-to-end', values: e2e, color: COLORS.d }],
      withPercentiles(p),
      '',
    );
    histChart('e2e_hist', 'End-to-end latency distribution', e2e, p);
  } else {
    const s = obj(lat['end_to_end_ms']);
    const ps = obj(s?.['percentiles_ms']);
    notes.push(
      ps
        ? `End-to-end latency: no per-step figures in streaming_metrics.jsonl; over the run (latency_stats.json, ${textOf(s?.['count'] ?? '?')} poses): P50 ${String(ps['p50'])} ms, P95 ${String(ps['p95'])} ms, P99 ${String(ps['p99'])} ms, max ${textOf(s?.['max_ms'] ?? '?')} ms`
        : 'End-to-end latency: not measured in this run',
    );
  }
  const mseExact = col('mse_exact');
  if (has(mseExact)) {
    timeChart(
      'exact_error',
      'Streaming vs exact (shadow blocks), per step',
      'MSE (rad²)',
      true,
      [{ label: 'MSE vs exact', values: mseExact, color: COLORS.b }],
      [],
      'Each step compared with the shadow exact block of the same moment; the first block of a session is the alignment check.',
    );
  }
  const maeT = col('mae_truth');
  const mseT = col('mse_truth');
  if (has(maeT) || has(mseT)) {
    timeChart(
      'truth_error',
      'Error against the ground-truth joint angles of the source',
      'rad / rad²',
      false,
      [
        { label: 'MAE vs truth (rad)', values: maeT, color: COLORS.c },
        { label: 'MSE vs truth (rad²)', values: mseT, color: COLORS.e },
      ],
      [],
      '',
    );
  } else {
    notes.push('Ground-truth error: the source had no joint angles');
  }
  blockCharts(run, rate, charts, notes);
  memoryChart(summary, charts, notes);

  const { marks, dropped } = collectMarks(run, summary, rate);
  return { run: run.dir, generatedAt: opts.now.toISOString(), state, charts, marks, marksDropped: dropped, notes };
}

function blockCharts(run: RunFolder, rate: number, charts: ChartSpec[], notes: string[]): void {
  const blocks =
    (run.alignment?.['blocks'] as unknown[] | undefined)?.map(obj).filter((b): b is Rec => b !== null) ?? [];
  if (blocks.length === 0) {
    notes.push('Per-block comparison: streaming_alignment.json has no blocks (no shadow exact ran)');
    return;
  }
  const x = blocks.map((b) => round3(num(b['start_sample']) / rate));
  const f = (b: Rec, part: string, key: string): number | null => r4(num(obj(b[part])?.[key]));
  charts.push({
    id: 'blocks',
    title: 'Streaming vs exact per block',
    xAxis: 'signal',
    xLabel: 'block start, signal time (s)',
    yLabel: 'rad² / rad',
    log: true,
    bars: false,
    x,
    series: [
      {
        label: 'MSE (steps after the first)',
        values: blocks.map((b) => f(b, 'main', 'mse')),
        color: COLORS.a,
        points: true,
      },
      { label: 'max |diff| (rad)', values: blocks.map((b) => f(b, 'main', 'max_diff')), color: COLORS.b, points: true },
      {
        label: 'near-window MSE (first step)',
        values: blocks.map((b) => f(b, 'boundary', 'mse')),
        color: COLORS.c,
        points: true,
      },
    ],
    note: `${blocks.length} blocks; aligned blocks (streaming reset at their start) are the regression: ${blocks.filter((b) => b['aligned'] === true).length}.`,
  });
  const off = blocks.map((b) => r4(num(b['mean_offset'] ?? b['meanOffset'])));
  if (off.some((v) => v !== null)) {
    charts.push({
      id: 'block_offset',
      title: 'Low-frequency offset per block (mean of streaming − exact)',
      xAxis: 'signal',
      xLabel: 'block start, signal time (s)',
      yLabel: 'rad',
      log: false,
      bars: false,
      x,
      series: [{ label: 'mean offset', values: off, color: COLORS.d, points: true }],
      note: '',
    });
  } else {
    notes.push('Low-frequency offset: streaming_alignment.json blocks carry no mean_offset');
  }
}

function memoryChart(summary: Rec, charts: ChartSpec[], notes: string[]): void {
  const mem = obj(summary['memory']);
  const samples = ((mem?.['samples'] as unknown[] | undefined) ?? []).map(obj).filter((s): s is Rec => s !== null);
  if (samples.length === 0) {
    notes.push('Memory: no samples in summary.json yet');
    return;
  }
  const x = samples.map((s) => num(s['t_s']));
  const rss = samples.map((s) => num(s['rss_mb']));
  const heap = samples.map((s) => num(s['heap_used_mb']));
  const growth = obj(mem?.['growth_after_first_minute']);
  const series: ChartSeries[] = [
    { label: 'RSS (MB)', values: rss.map(r4), color: COLORS.a },
    { label: 'heap used (MB)', values: heap.map(r4), color: COLORS.c },
  ];
  // Older runs' samples have no external memory.
  if (samples.every((s) => typeof s['external_mb'] === 'number'))
    series.push({ label: 'external (MB)', values: samples.map((s) => r4(num(s['external_mb']))), color: COLORS.d });
  // The summary states the slope; the intercept is fitted here over the same samples (after
  // the first minute) so the line can be drawn where the data is.
  const fit = (y: number[], stated: unknown, label: string, color: string): void => {
    const idx = x.map((v, i) => (v >= 60 ? i : -1)).filter((i) => i >= 0);
    if (idx.length < 3) return;
    const mx = idx.reduce((a, i) => a + x[i]!, 0) / idx.length;
    const my = idx.reduce((a, i) => a + y[i]!, 0) / idx.length;
    let nu = 0;
    let de = 0;
    for (const i of idx) {
      nu += (x[i]! - mx) * (y[i]! - my);
      de += (x[i]! - mx) ** 2;
    }
    const slope = de > 0 ? nu / de : 0;
    const perHour = typeof stated === 'number' ? stated : Math.round(slope * 36000) / 10;
    series.push({
      label: `${label} fit after 1 min: ${perHour} MB/h`,
      values: x.map((v) => (v >= 60 ? r4(my + slope * (v - mx)) : null)),
      color,
      dash: [6, 4],
    });
  };
  fit(rss, growth?.['rss_mb_per_hour'], 'RSS', COLORS.b);
  fit(heap, growth?.['heap_used_mb_per_hour'], 'heap', COLORS.e);
  charts.push({
    id: 'memory',
    title: 'Memory of the daemon',
    xAxis: 'wall',
    xLabel: 'wall time since start (s)',
    yLabel: 'MB',
    log: false,
    bars: false,
    x: x.map(round3),
    series,
    note: growth ? '' : 'No growth rate yet: it needs 3 samples after the first minute.',
  });
}

const MARKED_KINDS = new Set([
  'mode_switch',
  'reset',
  'gap',
  'bridged_gap',
  'stall',
  'stall_end',
  'reinit',
  'overrun',
  'output_failed',
  'plugin_failed',
  'error',
  'alarm',
  'bad_samples',
  'contention',
  'config_reload',
  'source_end',
]);

function collectMarks(run: RunFolder, summary: Rec, rate: number): { marks: Mark[]; dropped: number } {
  const started = typeof summary['started_at'] === 'string' ? Date.parse(summary['started_at']) : NaN;
  const wall = (iso: unknown): number | null => {
    const ms = typeof iso === 'string' ? Date.parse(iso) : NaN;
    return Number.isFinite(ms) && Number.isFinite(started) ? round3((ms - started) / 1000) : null;
  };
  const marks: Mark[] = [];
  const switchesAt = new Set<number>();
  for (const e of run.events.records) {
    const kind = textOf(e['kind'] ?? '');
    if (!MARKED_KINDS.has(kind)) continue;
    const at = num(e['atSample']);
    if (kind === 'mode_switch') switchesAt.add(at);
    marks.push({
      kind,
      signal_s: Number.isFinite(at) ? round3(at / rate) : null,
      wall_s: wall(e['time']),
      detail: textOf(e['detail'] ?? ''),
    });
  }
  // summary.mode_switches is the record of switches even where events.jsonl did not log them.
  for (const s of ((summary['mode_switches'] as unknown[] | undefined) ?? []).map(obj)) {
    if (!s) continue;
    const at = num(s['at_sample']);
    if (switchesAt.has(at)) continue;
    marks.push({
      kind: 'mode_switch',
      signal_s: Number.isFinite(at) ? round3(at / rate) : null,
      wall_s: wall(s['time']),
      detail: `${String(s['from'])} → ${String(s['to'])}: ${textOf(s['reason'] ?? '')}`,
    });
  }
  const dropped = Math.max(0, marks.length - MAX_MARKS);
  return { marks: marks.slice(0, MAX_MARKS), dropped };
}

function esc(s: unknown): string {
  return String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** JSON inside <script>: `<` escaped so no value can close the element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function asset(rel: string): string {
  return readFileSync(join(PACKAGE_ROOT, rel), 'utf8');
}

function uplotFiles(): { js: string; css: string } {
  const require = createRequire(join(PACKAGE_ROOT, 'package.json'));
  const dir = join(require.resolve('uplot/package.json'), '..', 'dist');
  return {
    js: readFileSync(join(dir, 'uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(join(dir, 'uPlot.min.css'), 'utf8'),
  };
}

function headerHtml(run: RunFolder, data: ReportData): string {
  const s = run.summary ?? {};
  const v = data.state;
  const verdict = [
    `${v.verdict}${v.provisional ? ' so far' : ''}`,
    v.passed === true ? 'pass' : v.passed === false ? 'fail' : 'none',
  ];
  const stateLabel = v.state;
  const src = obj(s['source']);
  const rows: [string, unknown][] = [
    ['run folder', run.dir],
    ['state', v.text],
    ['verdict', verdictLine(v)],
    ['started', s['started_at'] ?? '?'],
    ['last update', s['updated_at'] ?? '?'],
    [
      'mode',
      `${textOf(s['mode_final'] ?? '?')} (configured ${textOf(s['mode_configured'] ?? '?')}, policy ${textOf(s['feature_policy'] ?? '?')}, encoder ${textOf(s['encoder'] ?? '?')})`,
    ],
    ['source', src?.['description'] ?? '?'],
  ];
  const kv = (o: Rec | null): string =>
    o
      ? Object.entries(o)
          .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(typeof v === 'object' ? JSON.stringify(v) : v)}</td></tr>`)
          .join('')
      : '';
  const acc = obj(s['acceptance']);
  const accRows = acc
    ? Object.entries(acc)
        .map(([k, v]) => {
          const a = obj(v) ?? {};
          const p = a['passed'] === true ? 'pass' : a['passed'] === false ? 'fail' : 'none';
          const rest = Object.entries(a)
            .filter(([kk]) => !['enabled', 'evaluated', 'passed'].includes(kk))
            .map(([kk, vv]) => `${kk}: ${textOf(vv)}`)
            .join(', ');
          return `<tr><th>${esc(k)}</th><td class="${p}">${esc(a['passed'] === null || a['passed'] === undefined ? (a['enabled'] === false ? 'disabled' : 'not evaluated') : a['passed'] ? 'passed' : 'failed')}</td><td>${esc(rest)}</td></tr>`;
        })
        .join('')
    : '';
  const models = obj(run.modelInfo?.['models']);
  const modelRows = models
    ? Object.entries(models)
        .map(([k, v]) => {
          const mm = obj(v) ?? {};
          return `<tr><th>${esc(k)}</th><td>${esc(mm['path'] ?? '')}</td><td><code>${esc(mm['sha256'] ?? '')}</code></td><td>${esc(mm['bytes'] ?? '')}</td></tr>`;
        })
        .join('')
    : '<tr><td>model_info.json missing</td></tr>';
  const latRows = (['t_compute_ms', 'end_to_end_ms'] as const)
    .map((k) => {
      const l = obj(run.latency?.[k]);
      const p = obj(l?.['percentiles_ms']);
      return l
        ? `<tr><th>${k === 't_compute_ms' ? 'T_compute' : 'end-to-end'}</th><td>${esc(l['count'])}</td><td>${esc(p?.['p50'])}</td><td>${esc(p?.['p95'])}</td><td>${esc(p?.['p99'])}</td><td>${esc(l['max_ms'])}</td></tr>`
        : '';
    })
    .join('');
  return `<header>
<h1>myostream run <span class="verdict ${verdict[1]}">${verdict[0]}</span> <span class="state ${v.kind}" id="run-state">${esc(stateLabel)}</span></h1>
<table class="kv">${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
<div class="cols">
<section><h2>Acceptance</h2><table>${accRows}</table></section>
<section><h2>Latency (ms)</h2><table><tr><th></th><th>n</th><th>P50</th><th>P95</th><th>P99</th><th>max</th></tr>${latRows}</table></section>
<section><h2>Counts</h2><table class="kv">${kv(obj(s['counts']))}</table></section>
</div>
<h2>Models</h2><table><tr><th></th><th>file</th><th>sha256</th><th>bytes</th></tr>${modelRows}</table>
<details><summary>Configuration (config_snapshot.yaml)</summary><pre>${esc(run.config?.text ?? 'config_snapshot.yaml missing')}</pre></details>
</header>`;
}

export function renderReportHtml(run: RunFolder, data: ReportData): string {
  const up = uplotFiles();
  const notes = data.notes.map((n) => `<li>${esc(n)}</li>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>myostream report ${esc(run.dir)}</title>
<style>${up.css}</style>
<style>${asset('web/report/report.css')}</style>
</head><body>
${headerHtml(run, data)}
<main>
${notes ? `<ul class="notes">${notes}</ul>` : ''}
<div id="marks-legend"></div>
<div id="charts"></div>
</main>
<footer>generated ${esc(data.generatedAt)} by myostream report</footer>
<script type="application/json" id="report-data">${scriptJson(data)}</script>
<script>${up.js}</script>
<script>${asset('web/report/report.js')}</script>
</body></html>
`;
}

#!/usr/bin/env node
// A soak through the real CLI path: `myostream run --source synthetic` for N minutes of signal
// (faster than real time with --speed), then the memory and latency series of its artifacts and
// their Theil–Sen slopes, with the watchdog's verdicts. The last stdout line is one JSON object.
//
//   npm run soak -- --minutes 30 [--speed 0] [--out DIR] [--slice-s 60] [--set key=value ...]
//   npm run soak -- --analyze RUN_DIR        (an existing run's artifacts, e.g. a live one's)
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const drift = join(root, 'dist', 'src', 'common', 'statistics.js');
const cli = join(root, 'dist', 'src', 'main.js');

function usage(msg) {
  console.error(
    `soak: ${msg}\nusage: npm run soak -- --minutes N [--speed X] [--out DIR] [--slice-s S] [--set key=value ...]\n       npm run soak -- --analyze RUN_DIR   (the series of an existing run)`,
  );
  process.exit(2);
}

const args = process.argv.slice(2);
const opt = { minutes: NaN, speed: 0, out: '', sliceS: 60, sets: [], analyze: '' };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const val = () => {
    const v = args[++i];
    if (v === undefined) usage(`${a} needs a value`);
    return v;
  };
  if (a === '--minutes') opt.minutes = Number(val());
  else if (a === '--speed') opt.speed = Number(val());
  else if (a === '--out') opt.out = val();
  else if (a === '--slice-s') opt.sliceS = Number(val());
  else if (a === '--set') opt.sets.push(val());
  else if (a === '--analyze') opt.analyze = val();
  else usage(`unknown argument ${a}`);
}
if (!opt.analyze && !(opt.minutes > 0)) usage('--minutes must be a number > 0');
if (!(opt.speed >= 0)) usage('--speed must be a number ≥ 0');
if (!(opt.sliceS > 0)) usage('--slice-s must be a number > 0');
if (!existsSync(cli) || !existsSync(drift)) usage('build first (npm run build): dist/ is missing');
const { TheilSen } = await import(drift);

const dir = resolve(opt.analyze || opt.out || mkdtempSync(join(tmpdir(), 'myostream-soak-')));
mkdirSync(dir, { recursive: true });
// The embedded broker on any free port unless told otherwise: a soak must not take 1883 from a
// running service.
if (!opt.sets.some((x) => x.startsWith('outputs.mqtt.'))) opt.sets.push('outputs.mqtt.embedded_port=0');
const runArgs = [
  cli,
  'run',
  '--source',
  'synthetic',
  '--duration',
  String(opt.minutes * 60),
  '--speed',
  String(opt.speed),
  '--artifacts',
  dir,
  '--quiet',
  ...opt.sets.flatMap((s) => ['--set', s]),
];
if (!opt.analyze) console.log(`soak: node ${runArgs.slice(1).join(' ')}`);
const t0 = performance.now();
const code = opt.analyze
  ? 0
  : await new Promise((res) => {
      const log = createWriteStream(join(dir, 'soak.log'));
      const child = spawn(process.execPath, runArgs, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.pipe(log, { end: false });
      child.stderr.pipe(log, { end: false });
      child.on('exit', (c, sig) => {
        log.end();
        res(c ?? (sig ? 128 : 1));
      });
    });
const wallS = opt.analyze
  ? Number(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')).durations?.wall_s ?? NaN)
  : (performance.now() - t0) / 1000;
if (!existsSync(join(dir, 'summary.json'))) {
  console.error(`soak: the run wrote no summary.json (exit ${code}); see ${join(dir, 'soak.log')}`);
  process.exit(1);
}

// The product's one JSON-lines reader: a torn last line (a killed run) is skipped, a corrupt one inside is said.
const { jsonlProblems, readJsonl } = await import(join(root, 'dist', 'src', 'runs', 'jsonl.js'));
const jsonl = (name) => {
  const r = readJsonl(join(dir, name));
  for (const problem of jsonlProblems(name, r)) console.error(`soak: ${problem}`);
  return r.records;
};
const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
const metrics = jsonl('streaming_metrics.jsonl');
const events = jsonl('events.jsonl');
const pct = (a, p) => {
  if (a.length === 0) return NaN;
  const s = Float64Array.from(a).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

// Latency: per slice of stream time, P50/P95 of T_compute and end-to-end; slope of the slice P95s.
const slices = new Map();
for (const m of metrics) {
  const k = Math.floor(m.t / opt.sliceS);
  if (!slices.has(k)) slices.set(k, { tc: [], e2e: [] });
  const s = slices.get(k);
  if (Number.isFinite(m.t_compute_ms)) s.tc.push(m.t_compute_ms);
  if (Number.isFinite(m.e2e_ms)) s.e2e.push(m.e2e_ms);
}
const series = [...slices.entries()]
  .sort((a, b) => a[0] - b[0])
  .map(([k, s]) => ({
    minute: (k * opt.sliceS) / 60,
    steps: s.tc.length,
    tc_p50: pct(s.tc, 50),
    tc_p95: pct(s.tc, 95),
    e2e_p95: pct(s.e2e, 95),
  }));
const fit = (xs, ys) => new TheilSen(0.95).fit(xs, ys);
const tcTrend = fit(
  series.map((s) => s.minute),
  series.map((s) => s.tc_p95),
);
const e2eTrend = fit(
  series.map((s) => s.minute),
  series.map((s) => s.e2e_p95),
);

// Memory: the watchdog's series when it ran (with external), else the session's samples.
const memSamples = summary.watchdog?.memory?.samples ?? summary.memory?.samples ?? [];
const signalPerWall = summary.durations?.wall_s > 0 ? summary.durations.signal_s / summary.durations.wall_s : NaN;
const settle = 60;
const after = memSamples.filter((s) => s.t_s >= settle);
const memFit = (key) => {
  const pts = after.filter((s) => Number.isFinite(s[key]));
  const t = fit(
    pts.map((s) => s.t_s / 3600),
    pts.map((s) => s[key]),
  );
  return t
    ? {
        mb_per_hour: round(t.slope, 2),
        lo: round(t.lo, 2),
        hi: round(t.hi, 2),
        confidence_rising: round(t.rising, 3),
        samples: t.n,
      }
    : null;
};
const memory = { rss: memFit('rss_mb'), heap_used: memFit('heap_used_mb'), external: memFit('external_mb') };

// Without the watchdog plug-in in the run (or to compare), its decision classes judge the same
// series offline: wall time only (the metrics file has no CPU time), machine load unknown.
async function offlineVerdicts() {
  const wd = await import(join(root, 'dist', 'src', 'supervision', 'watchdog.js'));
  const { watchdogSchema } = await import(join(root, 'dist', 'src', 'supervision', 'watchdog-settings.js'));
  const snap = join(dir, 'config_snapshot.yaml');
  const ev = existsSync(snap)
    ? (await import('yaml')).parse(readFileSync(snap, 'utf8'))?.eval?.streaming_latency
    : null;
  const w = watchdogSchema.parse({});
  const lat = new wd.LatencyDrift({
    p50Ms: ev?.p50_ms ?? 10,
    p95Ms: ev?.p95_ms ?? 20,
    windowUnits: w.latency.window_units,
    warmupUnits: 0,
    persistenceWindows: w.latency.persistence_windows,
    trendWindows: w.latency.trend_windows,
    trendMsPerMin: w.latency.trend_ms_per_min,
    trendMinRiseMs: w.latency.trend_min_rise_ms,
    trendConfidence: w.latency.trend_confidence,
    baselineWindows: w.latency.baseline_windows,
    starvationUnits: w.latency.starvation_units,
    unitSeconds: 0.02,
    onRegression: w.latency.on_regression,
    onContention: w.latency.on_contention,
  });
  const m = w.memory;
  const mem = new wd.MemoryDrift({
    warmupS: m.warmup_s,
    minSpanS: m.min_span_s,
    rssMbPerHour: m.rss_mb_per_hour,
    heapMbPerHour: m.heap_mb_per_hour,
    externalMbPerHour: m.external_mb_per_hour,
    minGrowthMb: m.min_growth_mb,
    confidence: m.confidence,
    onLeak: m.on_leak,
  });
  const out = [];
  let prevStep = -1;
  let since = 0;
  for (const x of metrics) {
    since = x.step === prevStep + 1 ? since + 1 : 0;
    prevStep = x.step;
    for (const v of lat.push(x.t_compute_ms, NaN, since + 1000, wd.UNKNOWN_SYSTEM) ?? [])
      out.push(`${v.kind}:${v.cause} at ${x.t.toFixed(0)} s: ${v.detail}`);
  }
  const mb = 1048576;
  for (const x of memSamples)
    for (const v of mem.sample(x.t_s, {
      rss: x.rss_mb * mb,
      heapUsed: x.heap_used_mb * mb,
      external: (x.external_mb ?? 0) * mb,
      arrayBuffers: 0,
    }) ?? [])
      out.push(`${v.kind}:${v.cause} at ${x.t_s} s wall: ${v.detail}`);
  return {
    verdicts: out,
    windows: lat.counts.windows,
    excess_windows: lat.counts.excess_windows,
    trend: lat.lastTrend
      ? {
          ms_per_min: round(lat.lastTrend.slope, 4),
          lo: round(lat.lastTrend.lo, 4),
          hi: round(lat.lastTrend.hi, 4),
          confidence: round(lat.lastTrend.rising, 3),
        }
      : null,
    memory: mem.trends,
  };
}
const offline = await offlineVerdicts();

const kinds = {};
for (const e of events) kinds[e.kind] = (kinds[e.kind] ?? 0) + 1;
const wd = summary.watchdog ?? null;
function round(x, d) {
  return Number.isFinite(x) ? Number(x.toFixed(d)) : null;
}
const f = (x) => (Number.isFinite(x) ? x.toFixed(2).padStart(7) : '      –');

console.log(
  `run ${dir}: exit ${code}, ${summary.exit}, mode ${summary.mode_final}, signal ${summary.durations?.signal_s} s in ${wallS.toFixed(0)} s wall`,
);
console.log(`minute  steps  Tc p50  Tc p95  e2e p95`);
for (const s of series)
  console.log(
    `${String(s.minute).padStart(6)} ${String(s.steps).padStart(6)} ${f(s.tc_p50)} ${f(s.tc_p95)} ${f(s.e2e_p95)}`,
  );
const tr = (t, unit) =>
  t
    ? `${t.slope.toFixed(3)} ${unit} (95 % ${t.lo.toFixed(3)}…${t.hi.toFixed(3)}, rising confidence ${t.rising.toFixed(2)}, ${t.n} slices)`
    : 'n/a';
console.log(`T_compute P95 slope: ${tr(tcTrend, 'ms/min')}`);
console.log(`end-to-end P95 slope: ${tr(e2eTrend, 'ms/min')}`);
for (const [k, m] of Object.entries(memory))
  console.log(
    `memory ${k} after ${settle} s: ${m ? `${m.mb_per_hour} MB per wall hour (95 % ${m.lo}…${m.hi}, rising confidence ${m.confidence_rising}, ${m.samples} samples)${Number.isFinite(signalPerWall) && signalPerWall > 1.5 ? `, ${(m.mb_per_hour / signalPerWall).toFixed(2)} MB per hour of signal at ${signalPerWall.toFixed(1)}× real time` : ''}` : 'n/a'}`,
  );
console.log(
  `events: ${
    Object.entries(kinds)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none'
  }; mode switches ${summary.mode_switches?.length ?? 0}`,
);
if (wd) {
  console.log(
    `watchdog: latency ${JSON.stringify(summary.acceptance?.latency_drift ?? null)}, memory ${JSON.stringify(summary.acceptance?.memory_drift ?? null)}`,
  );
  for (const v of wd.verdicts ?? [])
    console.log(`  ${v.kind} ${v.cause} (${v.action}) at ${Number(v.t).toFixed(1)} s: ${v.detail}`);
} else {
  console.log('watchdog: no watchdog section in summary.json (the plug-in is not registered in this build)');
}
console.log(
  `watchdog decision classes on this run's series, offline (wall time only, load unknown): ${offline.windows} windows, ${offline.excess_windows} over a bound, last trend ${JSON.stringify(offline.trend)}; verdicts: ${offline.verdicts.length ? '' : 'none'}`,
);
for (const v of offline.verdicts) console.log(`  ${v}`);
console.log(
  JSON.stringify({
    dir,
    exit: code,
    wall_s: round(wallS, 1),
    signal_s: summary.durations?.signal_s ?? null,
    poses: summary.counts?.poses ?? null,
    mode_final: summary.mode_final,
    metrics_lines: metrics.length,
    t_compute_p95_ms_per_min: tcTrend ? round(tcTrend.slope, 4) : null,
    t_compute_p95_ci: tcTrend ? [round(tcTrend.lo, 4), round(tcTrend.hi, 4)] : null,
    e2e_p95_ms_per_min: e2eTrend ? round(e2eTrend.slope, 4) : null,
    memory_mb_per_hour: memory,
    events: kinds,
    mode_switches: summary.mode_switches?.length ?? 0,
    offline_watchdog: {
      windows: offline.windows,
      excess_windows: offline.excess_windows,
      trend: offline.trend,
      verdicts: offline.verdicts.map((v) => v.split(' at ')[0]),
    },
    watchdog: wd
      ? {
          acceptance: {
            latency_drift: summary.acceptance?.latency_drift ?? null,
            memory_drift: summary.acceptance?.memory_drift ?? null,
          },
          verdicts: (wd.verdicts ?? []).map((v) => `${v.kind}:${v.cause}`),
        }
      : null,
    series,
  }),
);
process.exit(code === 0 ? 0 : 1);

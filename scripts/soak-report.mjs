#!/usr/bin/env node
// Stability of a long run from its artifacts: T_compute and end-to-end latency per time slice
// (growth shows as a trend across slices), memory growth after the first minute, resets, gaps,
// fallbacks. Usage: node scripts/soak-report.mjs RUN_DIR [slice_minutes=5]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonlProblems, readJsonl } from '../dist/src/runs/jsonl.js';

const [dir, sliceArg] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node scripts/soak-report.mjs RUN_DIR [slice_minutes]');
  process.exit(2);
}
const sliceS = Number(sliceArg ?? 5) * 60;
const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
const slices = new Map();
const metricsFile = join(dir, 'streaming_metrics.jsonl');
const metrics = readJsonl(metricsFile);
for (const problem of jsonlProblems(metricsFile, metrics)) console.error(`soak-report: ${problem}`);
for (const m of metrics.records) {
  const k = Math.floor(m.t / sliceS);
  if (!slices.has(k)) slices.set(k, { tc: [], e2e: [], mse: [] });
  const s = slices.get(k);
  s.tc.push(m.t_compute_ms);
  if (m.e2e_ms !== undefined) s.e2e.push(m.e2e_ms);
  if (m.mse_truth !== undefined) s.mse.push(m.mse_truth);
}
const pct = (a, p) => {
  if (a.length === 0) return NaN;
  const s = Float64Array.from(a).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const f = (x) => (Number.isFinite(x) ? x.toFixed(2).padStart(7) : '      –');
console.log(
  `run ${dir}: ${summary.exit}, mode ${summary.mode_final}, signal ${summary.durations.signal_s} s, wall ${summary.durations.wall_s} s`,
);
console.log('minutes        steps  Tc p50  Tc p95  Tc p99  e2e p50 e2e p95 e2e p99');
for (const [k, s] of [...slices.entries()].sort((a, b) => a[0] - b[0])) {
  // Minutes, with decimals only where a slice is shorter than one.
  const min = (x) => String(Number(((x * sliceS) / 60).toFixed(2)));
  console.log(
    `${`${min(k)}–${min(k + 1)}`.padEnd(14)} ${String(s.tc.length).padStart(6)} ${f(pct(s.tc, 50))} ${f(pct(s.tc, 95))} ${f(pct(s.tc, 99))} ${f(pct(s.e2e, 50))} ${f(pct(s.e2e, 95))} ${f(pct(s.e2e, 99))}`,
  );
}
const mem = summary.memory;
console.log(
  `memory: RSS ${mem.start.rss_mb} → ${mem.now.rss_mb} MB (peak ${mem.rss_peak_mb}), heap ${mem.start.heap_used_mb} → ${mem.now.heap_used_mb} MB; growth after the first minute: ${mem.growth_after_first_minute ? `RSS ${mem.growth_after_first_minute.rss_mb_per_hour} MB/h, heap ${mem.growth_after_first_minute.heap_used_mb_per_hour} MB/h` : 'n/a'}`,
);
console.log(
  `events: ${summary.counts.gaps} gaps, ${summary.counts.overruns} overruns, ${summary.counts.state_resets ?? 0} state resets, ${summary.mode_switches.length} mode switches; passed ${summary.passed}`,
);

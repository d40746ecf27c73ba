#!/usr/bin/env node
// Jitter, lag and step response of the raw pose stream against <prefix>/pose/smoothed (One Euro, the filter the
// MQTT output publishes) for a few settings: on the golden recording, on the HDF5 fixture (which
// has ground-truth joint angles) and on synthetic motion with a known clean trajectory.
// Usage (after npm run build): node scripts/smoothing-table.mjs [--data golden,fixture,synthetic] [--steps N]
// (--data: which of the three, all by default; --steps: length of the synthetic motion, 3000.)
// Prints a Markdown table; docs/mqtt.md has its output.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { OneEuroFilter } from '../dist/src/outputs/one-euro.js';
import { loadRecording } from '../dist/src/acquisition/recording.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DATA = ['golden', 'fixture', 'synthetic'];
function usage(msg) {
  console.error(
    `smoothing-table: ${msg}\nusage: node scripts/smoothing-table.mjs [--data ${DATA.join(',')}] [--steps N]`,
  );
  process.exit(2);
}
let opt;
try {
  opt = parseArgs({
    options: { data: { type: 'string', default: DATA.join(',') }, steps: { type: 'string', default: '3000' } },
  }).values;
} catch (e) {
  usage(e.message);
}
const data = opt.data.split(',').filter(Boolean);
for (const d of data) if (!DATA.includes(d)) usage(`--data: no data set ${d} (${DATA.join(', ')})`);
const syntheticSteps = Number(opt.steps);
if (!Number.isInteger(syntheticSteps) || syntheticSteps < 2 * 25)
  usage(`--steps must be an integer ≥ 50, got ${opt.steps}`);
const RATE = 50;
const SETTINGS = [
  { name: 'light', min_cutoff: 4, beta: 1, d_cutoff: 1 },
  { name: 'default', min_cutoff: 2, beta: 0.5, d_cutoff: 1 },
  { name: 'strong', min_cutoff: 0.7, beta: 0.2, d_cutoff: 1 },
];
const MAX_LAG_STEPS = 25;

/** Poses of a replay of `file` through the streaming model, as [steps][20] plus their t. */
function posesOf(file) {
  const dir = mkdtempSync(join(tmpdir(), 'myo-smooth-'));
  try {
    const out = join(dir, 'poses.jsonl');
    const r = spawnSync(
      process.execPath,
      [
        join(ROOT, 'dist/src/main.js'),
        'run',
        '--source',
        `replay:${file}`,
        '--speed',
        '0',
        '--quiet',
        '--artifacts',
        join(dir, 'runs'),
        '--set',
        `outputs.poses_out=${out}`,
        '--set',
        'outputs.mqtt.enabled=false',
        '--set',
        'logging.level=error',
        '--set',
        'eval.streaming_alignment_check=false',
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`myostream run on ${file} failed: ${r.stderr}`);
    const rows = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((p) => p.mode === 'streaming');
    return { t: rows.map((p) => p.t), angles: rows.map((p) => p.angles) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function smooth(angles, s) {
  const f = new OneEuroFilter(angles[0].length, s, RATE);
  const inp = new Float32Array(angles[0].length);
  return angles.map((a) => {
    inp.set(a);
    const o = new Float32Array(a.length);
    f.apply(inp, o);
    return Array.from(o);
  });
}

/** Mean |step-to-step change| over joints and steps, rad. */
function jitter(x) {
  let s = 0;
  let n = 0;
  for (let k = 1; k < x.length; k++)
    for (let j = 0; j < x[k].length; j++) ((s += Math.abs(x[k][j] - x[k - 1][j])), n++);
  return s / n;
}

function mae(x, ref) {
  let s = 0;
  let n = 0;
  for (let k = 0; k < x.length; k++) for (let j = 0; j < x[k].length; j++) ((s += Math.abs(x[k][j] - ref[k][j])), n++);
  return s / n;
}

/**
 * Delay of `y` behind `x` in ms, per joint: the shift d (0…25 steps) that best aligns them, i.e.
 * minimises the mean squared difference between y[k + d] and x[k], refined between steps by a
 * parabola through the minimum. Returns the median over joints and the range. (The peak of a
 * cross-correlation is no measure here: slowly varying poses correlate best at shift 0 whatever
 * the delay, and the figures said "no lag" for a filter that has one.)
 */
function lagMs(x, y) {
  const J = x[0].length;
  const perJoint = [];
  for (let j = 0; j < J; j++) {
    const e = [];
    for (let d = 0; d <= MAX_LAG_STEPS; d++) {
      let s = 0;
      let n = 0;
      for (let k = 0; k + d < y.length; k++) ((s += (y[k + d][j] - x[k][j]) ** 2), n++);
      e.push(s / n);
    }
    let best = 0;
    for (let d = 1; d < e.length; d++) if (e[d] < e[best]) best = d;
    let frac = 0;
    if (best > 0 && best < e.length - 1) {
      const den = e[best - 1] - 2 * e[best] + e[best + 1];
      if (den > 0) frac = (0.5 * (e[best - 1] - e[best + 1])) / den;
    }
    perJoint.push(((best + frac) * 1000) / RATE);
  }
  perJoint.sort((a, b) => a - b);
  const mid = perJoint.length >> 1;
  const median = perJoint.length % 2 ? perJoint[mid] : (perJoint[mid - 1] + perJoint[mid]) / 2;
  return { median, min: perJoint[0], max: perJoint.at(-1) };
}

/**
 * The filter's step response from rest: a joint still at 0 jumps by `size` rad and stays; the
 * time (ms, from the step's sample) until the output has covered 50 % and 90 % of the jump.
 */
function stepResponse(s, size) {
  const f = new OneEuroFilter(1, s, RATE);
  const inp = new Float32Array(1);
  const out = new Float32Array(1);
  for (let k = 0; k < 100; k++) f.apply(inp, out);
  inp[0] = size;
  let t50 = null;
  let t90 = null;
  for (let k = 0; k < 500 && t90 === null; k++) {
    f.apply(inp, out);
    if (t50 === null && out[0] >= 0.5 * size) t50 = (k * 1000) / RATE;
    if (out[0] >= 0.9 * size) t90 = (k * 1000) / RATE;
  }
  return { t50, t90 };
}

/** Smooth motion (a few slow sines per joint) plus white noise: the clean trajectory is the truth. */
function syntheticMotion(steps = 3000, noise = 0.02, seed = 7) {
  let st = seed;
  const rnd = () => (st = (st * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const params = Array.from({ length: 20 }, () =>
    [0, 1, 2].map(() => ({ f: 0.2 + 1.8 * rnd(), a: 0.05 + 0.25 * rnd(), p: 2 * Math.PI * rnd() })),
  );
  const truth = [];
  const raw = [];
  for (let k = 0; k < steps; k++) {
    const t = k / RATE;
    const clean = params.map((ps) => ps.reduce((a, q) => a + q.a * Math.sin(2 * Math.PI * q.f * t + q.p), 0));
    truth.push(clean);
    raw.push(clean.map((v) => v + noise * gauss()));
  }
  return { truth, raw };
}

const sci = (v) => (v === null ? '–' : v.toExponential(2));
// A minimum at the edge of the search is no measurement: say so.
const EDGE_MS = (MAX_LAG_STEPS * 1000) / RATE;
const ms = (v) => (v >= EDGE_MS ? `≥ ${EDGE_MS}` : v.toFixed(0));
const lagText = (l) => (l === null ? '–' : `${ms(l.median)} (${ms(l.min)}–${ms(l.max)})`);
const rows = [];
function measure(label, raw, truth) {
  rows.push({
    label,
    setting: 'raw',
    jitter: jitter(raw),
    lag: null,
    mae: truth ? mae(raw, truth) : null,
    lagTruth: truth ? lagMs(truth, raw) : null,
  });
  for (const s of SETTINGS) {
    const y = smooth(raw, s);
    rows.push({
      label,
      setting: `${s.name} (${s.min_cutoff}, ${s.beta}, ${s.d_cutoff})`,
      jitter: jitter(y),
      lag: lagMs(raw, y),
      mae: truth ? mae(y, truth) : null,
      lagTruth: truth ? lagMs(truth, y) : null,
    });
  }
}

if (data.includes('golden')) {
  const golden = posesOf('models/golden/input.mtb');
  measure(`golden recording (${golden.angles.length} steps)`, golden.angles, null);
}

if (data.includes('fixture')) {
  const fixturePath = 'test/fixtures/upstream_small.hdf5';
  const fixture = posesOf(fixturePath);
  const rec = await loadRecording(join(ROOT, fixturePath));
  // Ground truth at each pose's window end sample.
  const truth = fixture.t.map((t) =>
    Array.from(
      rec.jointAngles.subarray((Math.round(t * rec.sampleRate) - 1) * 20, Math.round(t * rec.sampleRate) * 20),
    ),
  );
  measure(`HDF5 fixture with ground truth (${fixture.angles.length} steps)`, fixture.angles, truth);
}

if (data.includes('synthetic')) {
  const syn = syntheticMotion(syntheticSteps);
  measure(`synthetic motion, σ 0.02 rad noise (${syntheticSteps} steps)`, syn.raw, syn.truth);
}

console.log(
  'Lag: the shift that best aligns the two streams (least mean squared difference), ms, median over the 20 joints (min–max).\n',
);
console.log(
  '| data | stream (min_cutoff Hz, beta, d_cutoff Hz) | jitter, mean abs step change (rad) | lag behind raw (ms) | MAE vs truth (rad) | lag behind truth (ms) |',
);
console.log('|---|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.label} | ${r.setting} | ${sci(r.jitter)} | ${lagText(r.lag)} | ${sci(r.mae)} | ${lagText(r.lagTruth)} |`,
  );

console.log(
  "\nStep response from rest (a joint jumps and stays): ms from the step until the output has covered 50 % / 90 % of it (0 = already on the step's own pose):\n",
);
const SIZES = [0.01, 0.1, 1];
console.log(`| setting | ${SIZES.map((z) => `${z} rad step`).join(' | ')} |`);
console.log(`|---|${SIZES.map(() => '---').join('|')}|`);
for (const s of SETTINGS) {
  console.log(
    `| ${s.name} (${s.min_cutoff}, ${s.beta}, ${s.d_cutoff}) | ${SIZES.map((z) => {
      const r = stepResponse(s, z);
      return `${r.t50 ?? '> 10000'} / ${r.t90 ?? '> 10000'}`;
    }).join(' | ')} |`,
  );
}

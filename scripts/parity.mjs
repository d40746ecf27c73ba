#!/usr/bin/env node
// Parity with the reference: runs `myostream run` over the golden input in exact mode and in
// streaming mode (both feature policies, both encoders, the incremental one in one run per step and in
// two), and prints the max |diff| of every pose
// against the PyTorch reference's golden arrays. Usage: npm run build && node scripts/parity.mjs
//   [--only a,b]   only these cases, named as printed with '-' for ' ' (exact,
//                  streaming-window-sliding_window, streaming-incremental-exact_grid-2-runs, …)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readTensorBundle } from '../dist/src/common/tensor-bundle.js';

function usage(msg) {
  console.error(`parity: ${msg}\nusage: node scripts/parity.mjs [--only case,case…]`);
  process.exit(2);
}
let opt;
try {
  opt = parseArgs({ options: { only: { type: 'string' } } }).values;
} catch (e) {
  usage(e.message);
}
const root = fileURLToPath(new URL('..', import.meta.url));
const golden = readTensorBundle(join(root, 'models/golden/reference.mtb'));
const dir = mkdtempSync(join(tmpdir(), 'myostream-parity-'));
const cases = [
  ['exact', 'exact_poses', ['--set', 'model.mode=exact']],
  ...['window', 'incremental'].flatMap((enc) => [
    [
      `streaming ${enc} sliding_window`,
      'streaming_sliding_window_poses',
      ['--set', `runtime.streaming.encoder=${enc}`, '--set', 'runtime.streaming.feature_policy=sliding_window'],
    ],
    [
      `streaming ${enc} exact_grid`,
      'streaming_exact_grid_poses',
      ['--set', `runtime.streaming.encoder=${enc}`, '--set', 'runtime.streaming.feature_policy=exact_grid'],
    ],
  ]),
  // The incremental encoder's steps as two runs each (encoder, then decoder) instead of one stream_step run.
  ...['sliding_window', 'exact_grid'].map((policy) => [
    `streaming incremental ${policy} 2 runs`,
    `streaming_${policy}_poses`,
    [
      '--set',
      'runtime.streaming.encoder=incremental',
      '--set',
      `runtime.streaming.feature_policy=${policy}`,
      '--set',
      'runtime.streaming.fused_step=false',
    ],
  ]),
];
const key = (name) => name.replace(/ /g, '-');
const only = opt.only === undefined ? undefined : opt.only.split(',').filter(Boolean);
for (const k of only ?? [])
  if (!cases.some(([name]) => key(name) === k))
    usage(`--only: no case ${k} (cases: ${cases.map(([n]) => key(n)).join(', ')})`);
let worst = 0;
for (const [name, array, args] of cases.filter(([n]) => !only || only.includes(key(n)))) {
  const out = join(dir, `${name.replace(/ /g, '-')}.jsonl`);
  const r = spawnSync(
    process.execPath,
    [
      join(root, 'dist/src/main.js'),
      'run',
      '--source',
      'replay:models/golden/input.mtb',
      '--speed',
      '0',
      '--quiet',
      '--set',
      'outputs.mqtt.enabled=false',
      '--set',
      'eval.streaming_alignment_check=false',
      '--set',
      'logging.level=error',
      '--artifacts',
      join(dir, key(name)),
      '--poses-out',
      out,
      ...args,
    ],
    { cwd: root, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`${name}: exit ${r.status}: ${r.stderr}`);
  const got = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).angles)
    .flat();
  const want = golden.arrays.get(array).data;
  if (got.length !== want.length)
    throw new Error(`${name}: ${got.length / 20} poses, reference has ${want.length / 20}`);
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]));
  worst = Math.max(worst, m);
  console.log(`${name.padEnd(43)} ${String(want.length / 20).padStart(5)} poses  max |diff| ${m.toExponential(2)}`);
}
console.log(`worst ${worst.toExponential(2)} (bound 1e-5): ${worst <= 1e-5 ? 'PASS' : 'FAIL'}`);
process.exitCode = worst <= 1e-5 ? 0 : 1;

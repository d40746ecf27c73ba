#!/usr/bin/env node
// The int8 variant's published deviation (USAGE.md, "int8 streaming"): int8 streaming against
// fp32 streaming and against fp32 exact, max and P99 |Δ angle| in degrees per joint, and the
// largest |Δ| of each segment (does it grow with time), on the golden recording and on seeded
// synthetic inputs.
//
//   npm run build && node scripts/int8-deviation.mjs [--seconds 180] [--seeds 1,2] [--segment 30]
//
// Prints one JSON object per input, then a summary line.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readTensorBundle, requireArray } from '../dist/src/common/tensor-bundle.js';
import { silentLogger } from '../dist/src/common/logger.js';
import { loadModels } from '../dist/src/inference/models.js';
import { MODEL_KEYS_WITH_INCREMENTAL } from '../dist/src/inference/incremental-encoder.js';
import { precisionStudy, syntheticEmg } from '../dist/src/daemon/precision-study.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: a } = parseArgs({
  options: {
    seconds: { type: 'string', default: '180' },
    seeds: { type: 'string', default: '1,2' },
    segment: { type: 'string', default: '30' },
    models: { type: 'string', default: join(root, 'models') },
  },
});
const keys = [
  ...MODEL_KEYS_WITH_INCREMENTAL,
  'stream_step',
  'decoder_step_int8',
  'encoder_incremental_int8',
  'stream_step_int8',
];
const models = await loadModels(
  a.models,
  { executionProviders: ['cpu'], deviceId: 0, intraOpThreads: 1, interOpThreads: 1 },
  silentLogger(),
  keys,
);
const goldenPath = join(a.models, 'golden', 'input.mtb');
const inputs = [['golden', () => requireArray(readTensorBundle(goldenPath), 'emg', goldenPath).data]];
for (const s of a.seeds.split(',').filter(Boolean))
  inputs.push([`synthetic seed ${s}, ${a.seconds} s`, () => syntheticEmg(Number(a.seconds), Number(s))]);
let worst = 0;
for (const [name, emg] of inputs) {
  const r = await precisionStudy(models, emg(), { segmentS: Number(a.segment) });
  worst = Math.max(worst, r.int8_vs_fp32_streaming.max_deg);
  console.log(JSON.stringify({ input: name, ...r }));
}
console.log(`worst int8 vs fp32 streaming: ${worst} deg`);

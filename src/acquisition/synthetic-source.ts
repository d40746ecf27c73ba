import { z } from 'zod';
import { sourceRow } from './source-row.js';
import { mainThreadStages, withPreprocessing } from './stages.js';
import { SyntheticSource } from './synthetic.js';
import { preprocessOn } from './worker-config.js';

/** `--source synthetic`: its keys in the acquisition section (its seed is shared with the ADC simulators). */
export const syntheticSettings = {
  synthetic_mode: z.enum(['model', 'raw']).default('model').meta({
    description:
      "What the synthetic source emits: model, EMG already in the model's units and band (no preprocessing); raw, volts with electrode offset and drift.",
  }),
};

export const syntheticSource = sourceRow(
  'synthetic',
  syntheticSettings,
  (own, { shared, maxSamples, sampleRate, speed, log }) => {
    const raw = own.synthetic_mode === 'raw';
    const syn = new SyntheticSource({
      seed: shared.synthetic_seed,
      sampleRate,
      mode: own.synthetic_mode,
      unitsPerVolt: shared.preprocess.units_per_volt,
      speed,
      maxSamples,
      chunkSamples: 40,
    });
    return mainThreadStages(
      preprocessOn(shared.preprocess, raw) ? withPreprocessing(syn, shared.preprocess, log) : syn,
      shared,
      log,
    );
  },
);

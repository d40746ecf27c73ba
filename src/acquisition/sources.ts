import { UserError } from '../common/errors.js';
import { resolveDataPath } from '../common/paths.js';
import type { Config } from '../config/schema.js';
import { SAMPLE_RATE } from '../inference/geometry.js';
import { loadRecording } from './recording.js';
import { ReplaySource } from './replay-source.js';
import type { EmgSource } from './source.js';

/** Builds the source named by input.source (`--source`). */
export async function createSource(cfg: Config): Promise<EmgSource> {
  const spec = cfg.input.source;
  const maxSamples = Math.round(cfg.input.duration_s * SAMPLE_RATE);
  if (spec.startsWith('replay:')) {
    const file = spec.slice('replay:'.length);
    if (!file) throw new UserError('input.source = "replay:": name a file, e.g. replay:models/golden/input.mtb');
    const rec = await loadRecording(resolveDataPath(file));
    return new ReplaySource(rec, { speed: cfg.input.speed, chunkSamples: 40, maxSamples });
  }
  throw new UserError(`input.source = ${JSON.stringify(spec)}: unknown source (expected synthetic, replay:FILE or ads1299)`);
}

import { UserError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import type { Config } from '../config/schema.js';
import { SAMPLE_RATE } from '../domain/geometry.js';
import { createAds1299Source } from './ads1299/source.js';
import { createI2cSource } from './i2c/source.js';
import { createReplaySource } from './replay-source.js';
import type { EmgSource, SourceContext } from './source.js';
import { mainThreadStages, withPreprocessing } from './stages.js';
import { SyntheticSource } from './synthetic.js';
import { preprocessOn } from './worker-config.js';

/** One row per source `--source` accepts. Adding a source is its module and one row here. */
export interface SourceRow {
  /** The name as given to --source; a name ending in ':' takes an argument (replay:FILE). */
  readonly name: string;
  /** The configuration keys it reads, for the docs and whoever adds the next row. */
  readonly settings: string;
  create(ctx: SourceContext): EmgSource | Promise<EmgSource>;
}

const SOURCES: readonly SourceRow[] = [
  { name: 'synthetic', settings: 'acquisition.synthetic_*', create: createSyntheticSource },
  { name: 'replay:', settings: 'acquisition.replay_full_scale', create: createReplaySource },
  { name: 'ads1299', settings: 'acquisition.ads1299', create: (c) => createAds1299Source(c, c.cfg.acquisition.ads1299.simulate) },
  { name: 'ads1299-sim', settings: 'acquisition.ads1299 (sim.*)', create: (c) => createAds1299Source(c, true) },
  { name: 'i2c', settings: 'acquisition.i2c', create: (c) => createI2cSource(c, c.cfg.acquisition.i2c.simulate) },
  { name: 'i2c-sim', settings: 'acquisition.i2c (sim.*)', create: (c) => createI2cSource(c, true) },
];

/** Source names `--source` accepts, for messages. */
export const SOURCE_NAMES = SOURCES.map((r) => (r.name.endsWith(':') ? `${r.name}FILE` : r.name)).join(', ');

/**
 * Builds the source named by input.source (`--source`). Hardware is checked here, before the
 * models load, so a missing device node ends the run at once with a message naming it.
 */
export async function createSource(cfg: Config, log: Logger = createLogger(cfg.logging.level, cfg.logging.format)): Promise<EmgSource> {
  const spec = cfg.input.source;
  const row = SOURCES.find((r) => (r.name.endsWith(':') ? spec.startsWith(r.name) : spec === r.name));
  if (!row) throw new UserError(`input.source = ${JSON.stringify(spec)}: unknown source (expected ${SOURCE_NAMES})`);
  const arg = row.name.endsWith(':') ? spec.slice(row.name.length) : '';
  const maxSamples = Math.round(cfg.input.duration_s * SAMPLE_RATE);
  return row.create({ cfg, arg, sampleRate: SAMPLE_RATE, maxSamples, log: log.child({ component: 'acquisition' }) });
}

function createSyntheticSource({ cfg, maxSamples, sampleRate, log }: SourceContext): EmgSource {
  const raw = cfg.acquisition.synthetic_mode === 'raw';
  const syn = new SyntheticSource({
    seed: cfg.acquisition.synthetic_seed,
    sampleRate,
    mode: cfg.acquisition.synthetic_mode,
    unitsPerVolt: cfg.acquisition.preprocess.units_per_volt,
    speed: cfg.input.speed,
    maxSamples,
    chunkSamples: 40,
  });
  return mainThreadStages(preprocessOn(cfg, raw) ? withPreprocessing(syn, cfg, log) : syn, cfg, log);
}

import { z } from 'zod';
import { UserError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import type { CoreConfig } from '../config/schema.js';
import { SAMPLE_RATE } from '../domain/geometry.js';
import type { AdcDevice } from './adc-device.js';
import { ADC_DEVICES } from './adc-devices.js';
import { replaySource } from './replay-source.js';
import { sharedAcquisitionShape, sharedSettings } from './shared-settings.js';
import type { EmgSource, SourceContext } from './source.js';
import { sourceRow, type SourceRow } from './source-row.js';
import { syntheticSource } from './synthetic-source.js';
import { AdcWorkerSource } from './worker-source.js';

/** The sources that run on the main thread, one row each; the ADCs come from ADC_DEVICES. */
const MAIN_THREAD_SOURCES = [syntheticSource, replaySource] as const;

/** `--source <key>` (hardware unless the ADC's `simulate`) and `<key>-sim` of one ADC. */
function adcSources(d: AdcDevice): SourceRow[] {
  const row = (name: string, simulate: (own: unknown) => boolean): SourceRow =>
    sourceRow(name, { [d.key]: d.settings }, (own, ctx) => {
      const settings = own[d.key];
      return new AdcWorkerSource(d.prepare(settings, ctx, simulate(settings)), ctx.log);
    });
  return [row(d.key, (s) => d.simulates(s)), row(`${d.key}-sim`, () => true)];
}

const DEVICES: readonly AdcDevice[] = ADC_DEVICES;
const SOURCES: readonly SourceRow[] = [...MAIN_THREAD_SOURCES, ...DEVICES.flatMap((d) => adcSources(d))];

type Devices = (typeof ADC_DEVICES)[number];
type MainThreadShape = (typeof MAIN_THREAD_SOURCES)[number] extends infer R
  ? R extends SourceRow<infer S>
    ? S
    : never
  : never;
type Intersect<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
/** The section's shape, as the rows declare it: shared keys, each source's keys, one key per ADC. */
type SectionShape = typeof sharedAcquisitionShape &
  Intersect<MainThreadShape> & { [D in Devices as D['key']]: z.ZodPrefault<D['settings']> };

function sectionShape(): SectionShape {
  const shape: Record<string, z.ZodType> = { ...sharedAcquisitionShape };
  for (const r of MAIN_THREAD_SOURCES) Object.assign(shape, r.settings);
  for (const d of DEVICES) shape[d.key] = d.settings.prefault({});
  // Built from the same rows the type is: the cast only restates it.
  return shape as unknown as SectionShape;
}

/**
 * The `acquisition:` section of the configuration, composed from the rows: the keys every source
 * shares (shared-settings.ts), each main-thread source's keys and each ADC's settings under its
 * key. The configuration schema takes it as is.
 */
export const acquisitionSettings = z
  .object(sectionShape())
  .strict()
  .meta({ description: 'How samples are obtained and conditioned before the ring buffer (docs/acquisition.md).' });

export type AcquisitionSettings = z.infer<typeof acquisitionSettings>;

/** What a source is built from: the core sections (input, logging) and the `acquisition:` section. */
export type SourceConfig = Pick<CoreConfig, 'input' | 'logging'> & { acquisition: AcquisitionSettings };

/** Source names `--source` accepts, for messages. */
export const SOURCE_NAMES = SOURCES.map((r) => (r.name.endsWith(':') ? `${r.name}FILE` : r.name)).join(', ');

/** What every source gets besides its own keys, from the configuration. */
export function sourceContext(cfg: SourceConfig, log: Logger, arg = ''): SourceContext {
  return {
    arg,
    sampleRate: SAMPLE_RATE,
    maxSamples: Math.round(cfg.input.duration_s * SAMPLE_RATE),
    speed: cfg.input.speed,
    shared: sharedSettings(cfg.acquisition),
    log,
  };
}

/**
 * Builds the source named by input.source (`--source`). Hardware is checked here, before the
 * models load, so a missing device node ends the run at once with a message naming it.
 */
export async function createSource(
  cfg: SourceConfig,
  log: Logger = createLogger(cfg.logging.level, cfg.logging.format),
): Promise<EmgSource> {
  const spec = cfg.input.source;
  const row = SOURCES.find((r) => (r.name.endsWith(':') ? spec.startsWith(r.name) : spec === r.name));
  if (!row) throw new UserError(`input.source = ${JSON.stringify(spec)}: unknown source (expected ${SOURCE_NAMES})`);
  const arg = row.name.endsWith(':') ? spec.slice(row.name.length) : '';
  return row.create(cfg.acquisition, sourceContext(cfg, log.child({ component: 'acquisition' }), arg));
}

import { UserError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { resolveDataPath } from '../common/paths.js';
import type { Config } from '../config/schema.js';
import { SAMPLE_RATE } from '../domain/geometry.js';
import { ads1299WorkerConfig } from './ads1299/options.js';
import { GPIO_CHIP, I2C_DEVICE, SPI_DEVICE, checkDeviceNode, checkSysfsGpio, gpioChipPath } from './bindings/device-check.js';
import { gpiomonMajorVersion } from './bindings/gpio-chardev.js';
import { checkI2cBandwidth } from './i2c-transport.js';
import { i2cWorkerConfig } from './i2c/options.js';
import { Preprocessor, preprocessSink } from './preprocess.js';
import { withSanitizer } from './sanitize.js';
import { loadRecording } from './recording.js';
import { ReplaySource } from './replay-source.js';
import type { AcquisitionStats, EmgSource, SampleSink, SourceInfo } from './source.js';
import { SyntheticSource } from './synthetic.js';
import { AdcWorkerSource } from './worker-source.js';
import { preprocessOn, preprocessOptions, qualitySettings } from './worker-config.js';
import { withQuality } from './signal-quality.js';

/** What a source's constructor gets: the configuration, the text after `name:` (if any), its logger. */
export interface SourceContext {
  readonly cfg: Config;
  readonly arg: string;
  readonly maxSamples: number;
  readonly log: Logger;
}

/** One row per source `--source` accepts. Adding a source is its module and one row here. */
export interface SourceRow {
  /** The name as given to --source; a name ending in ':' takes an argument (replay:FILE). */
  readonly name: string;
  /** The configuration keys it reads, for messages and the docs. */
  readonly settings: string;
  create(ctx: SourceContext): EmgSource | Promise<EmgSource>;
}

const SOURCES: readonly SourceRow[] = [
  { name: 'synthetic', settings: 'acquisition.synthetic_*', create: syntheticSource },
  { name: 'replay:', settings: 'acquisition.replay_full_scale', create: replaySource },
  { name: 'ads1299', settings: 'acquisition.ads1299', create: (c) => ads1299Source(c, c.cfg.acquisition.ads1299.simulate) },
  { name: 'ads1299-sim', settings: 'acquisition.ads1299 (sim.*)', create: (c) => ads1299Source(c, true) },
  { name: 'i2c', settings: 'acquisition.i2c', create: (c) => i2cSource(c, c.cfg.acquisition.i2c.simulate) },
  { name: 'i2c-sim', settings: 'acquisition.i2c (sim.*)', create: (c) => i2cSource(c, true) },
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
  return row.create({ cfg, arg, maxSamples: Math.round(cfg.input.duration_s * SAMPLE_RATE), log: log.child({ component: 'acquisition' }) });
}

async function replaySource({ cfg, arg, maxSamples, log }: SourceContext): Promise<EmgSource> {
  if (!arg) throw new UserError('input.source = "replay:": name a file, e.g. replay:models/golden/input.mtb');
  const rec = await loadRecording(resolveDataPath(arg));
  const replay = new ReplaySource(rec, { speed: cfg.input.speed, chunkSamples: 40, maxSamples });
  // Dataset files are already filtered: preprocessing only when asked for explicitly. The
  // sanitizer is always there: a file may hold NaN, Inf or values no electrode can give.
  const inner = preprocessOn(cfg, false) ? withPreprocessing(replay, cfg, log) : replay;
  const fullScale = cfg.acquisition.replay_full_scale;
  const judged = withQuality(inner, qualitySettings(cfg, replay.info.sampleRate), { clipLevel: fullScale > 0 ? fullScale : Infinity, flatRange: 0 });
  return sanitized(judged, cfg, log, fullScale);
}

function syntheticSource({ cfg, maxSamples, log }: SourceContext): EmgSource {
  const raw = cfg.acquisition.synthetic_mode === 'raw';
  const syn = new SyntheticSource({
    seed: cfg.acquisition.synthetic_seed,
    sampleRate: SAMPLE_RATE,
    mode: cfg.acquisition.synthetic_mode,
    unitsPerVolt: cfg.acquisition.preprocess.units_per_volt,
    speed: cfg.input.speed,
    maxSamples,
    chunkSamples: 40,
  });
  const inner = preprocessOn(cfg, raw) ? withPreprocessing(syn, cfg, log) : syn;
  return sanitized(withQuality(inner, qualitySettings(cfg, SAMPLE_RATE), { clipLevel: Infinity, flatRange: 0 }), cfg, log);
}

function ads1299Source({ cfg, log }: SourceContext, simulate: boolean): EmgSource {
  if (!simulate) preflightAds1299(cfg);
  return new AdcWorkerSource(ads1299WorkerConfig(cfg, simulate, SAMPLE_RATE), log);
}

function i2cSource({ cfg, log }: SourceContext, simulate: boolean): EmgSource {
  const w = i2cWorkerConfig(cfg, simulate, SAMPLE_RATE);
  // Before anything is opened: a bus too slow for the configuration ends the run with the numbers.
  checkI2cBandwidth(w.driver);
  if (!simulate) {
    const i = cfg.acquisition.i2c;
    checkDeviceNode(`/dev/i2c-${i.bus}`, I2C_DEVICE);
    preflightDrdy(cfg, i.drdy_chip, i.gpiomon);
  }
  return new AdcWorkerSource(w, log);
}

/**
 * The last stage before the ring for sources that write through the sink on this thread: no
 * NaN, Inf or value beyond `fullScale` reaches the model (acquisition.preprocess.bad_sample_policy
 * says what replaces it). The ADC worker writes the ring itself; its samples are integer counts
 * within the converter's range, and its own preprocessing applies the same policy to saturation.
 */
export function sanitized(inner: EmgSource, cfg: Config, log: Logger, fullScale?: number): EmgSource {
  return withSanitizer(inner, {
    policy: cfg.acquisition.preprocess.bad_sample_policy,
    noteIntervalMs: cfg.acquisition.note_interval_ms,
    log,
    ...(fullScale !== undefined && fullScale > 0 ? { fullScale } : {}),
  });
}

/** Device nodes, permissions and tools the ADS1299 driver will need, checked on this thread. */
export function preflightAds1299(cfg: Config): void {
  const a = cfg.acquisition.ads1299;
  for (const cs of a.chip_selects) checkDeviceNode(`/dev/spidev${a.spi_bus}.${cs}`, SPI_DEVICE);
  preflightDrdy(cfg, a.drdy_chip, a.gpiomon);
}

function preflightDrdy(cfg: Config, drdyChip: string, gpiomon: string): void {
  if (cfg.acquisition.gpio_binding === 'sysfs') {
    checkSysfsGpio();
  } else {
    const chip = gpioChipPath(drdyChip);
    if (chip) checkDeviceNode(chip, GPIO_CHIP);
    gpiomonMajorVersion(gpiomon);
  }
}

/**
 * Puts preprocessing in front of any source's sink. Bad samples are counted and logged (the
 * first at once, then a summary at most once a second).
 */
export function withPreprocessing(inner: EmgSource, cfg: Config, log: Logger): EmgSource {
  const pre = new Preprocessor(preprocessOptions(cfg, inner.info.sampleRate, inner.info.channels));
  const info: SourceInfo = {
    ...inner.info,
    description: `${inner.info.description}, preprocessed (high-pass ${cfg.acquisition.preprocess.highpass_hz} Hz, ×${cfg.acquisition.preprocess.units_per_volt})`,
  };
  return {
    info,
    run(sink: SampleSink, signal: AbortSignal): Promise<void> {
      const policy = cfg.acquisition.preprocess.bad_sample_policy;
      const wrapped = preprocessSink(sink, pre, {
        onBadSamples: (s) => log.warn({ ...s, policy }, 'bad samples (NaN, Inf or saturated) in the input'),
      });
      return inner.run(wrapped, signal);
    },
    stats(): AcquisitionStats {
      const s: Record<string, number> = { ...(inner.stats?.() ?? {}) };
      for (const [k, v] of Object.entries(pre.stats)) s[`preprocess_${k}`] = v;
      return s;
    },
  };
}

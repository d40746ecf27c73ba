import { UserError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/logger.js';
import { resolveDataPath } from '../common/paths.js';
import type { Config } from '../config/schema.js';
import { SAMPLE_RATE } from '../domain/geometry.js';
import { ads1299WorkerConfig, preprocessOn, preprocessOptions } from './ads1299/options.js';
import { Ads1299Source } from './ads1299/source.js';
import { GPIO_CHIP, SPI_DEVICE, checkDeviceNode, checkSysfsGpio, gpioChipPath } from './bindings/device-check.js';
import { gpiomonMajorVersion } from './bindings/gpio-chardev.js';
import { Preprocessor, preprocessSink } from './preprocess.js';
import { withSanitizer } from './sanitize.js';
import { loadRecording } from './recording.js';
import { ReplaySource } from './replay-source.js';
import type { AcquisitionStats, EmgSource, SampleSink, SourceInfo } from './source.js';
import { SyntheticSource } from './synthetic.js';

/** Source names `--source` accepts, for messages. */
export const SOURCE_NAMES = 'synthetic, replay:FILE, ads1299 or ads1299-sim';

/**
 * Builds the source named by input.source (`--source`). Hardware is checked here, before the
 * models load, so a missing device node ends the run at once with a message naming it.
 */
export async function createSource(cfg: Config, log: Logger = createLogger(cfg.logging.level, cfg.logging.format)): Promise<EmgSource> {
  const spec = cfg.input.source;
  const maxSamples = Math.round(cfg.input.duration_s * SAMPLE_RATE);
  const alog = log.child({ component: 'acquisition' });
  if (spec.startsWith('replay:')) {
    const file = spec.slice('replay:'.length);
    if (!file) throw new UserError('input.source = "replay:": name a file, e.g. replay:models/golden/input.mtb');
    const rec = await loadRecording(resolveDataPath(file));
    const replay = new ReplaySource(rec, { speed: cfg.input.speed, chunkSamples: 40, maxSamples });
    // Dataset files are already filtered: preprocessing only when asked for explicitly. The
    // sanitizer is always there: a file may hold NaN or Inf, and nothing else would catch it.
    return sanitized(preprocessOn(cfg, false) ? withPreprocessing(replay, cfg, alog) : replay, cfg, alog);
  }
  if (spec === 'synthetic') {
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
    return sanitized(preprocessOn(cfg, raw) ? withPreprocessing(syn, cfg, alog) : syn, cfg, alog);
  }
  if (spec === 'ads1299' || spec === 'ads1299-sim') {
    const simulate = spec === 'ads1299-sim' || cfg.acquisition.ads1299.simulate;
    if (!simulate) preflightAds1299(cfg);
    return new Ads1299Source(ads1299WorkerConfig(cfg, simulate, SAMPLE_RATE), alog);
  }
  throw new UserError(`input.source = ${JSON.stringify(spec)}: unknown source (expected ${SOURCE_NAMES})`);
}

/**
 * The last stage before the ring for sources that write through the sink on this thread: no
 * NaN or Inf reaches the model (acquisition.preprocess.bad_sample_policy says what replaces it).
 * The ADS1299 worker writes the ring itself; its samples are integer counts, never non-finite,
 * and its own preprocessing applies the same policy to what the filter produces.
 */
export function sanitized(inner: EmgSource, cfg: Config, log: Logger): EmgSource {
  return withSanitizer(inner, { policy: cfg.acquisition.preprocess.bad_sample_policy, noteIntervalMs: cfg.acquisition.note_interval_ms, log });
}

/** Device nodes, permissions and tools the ADS1299 driver will need, checked on this thread. */
export function preflightAds1299(cfg: Config): void {
  const a = cfg.acquisition.ads1299;
  for (const cs of a.chip_selects) checkDeviceNode(`/dev/spidev${a.spi_bus}.${cs}`, SPI_DEVICE);
  if (cfg.acquisition.gpio_binding === 'sysfs') {
    checkSysfsGpio();
  } else {
    const chip = gpioChipPath(a.drdy_chip);
    if (chip) checkDeviceNode(chip, GPIO_CHIP);
    gpiomonMajorVersion(a.gpiomon);
  }
}

/**
 * Puts preprocessing in front of any source's sink. Bad samples are counted and logged (the
 * first at once, then a summary at most once a second).
 */
export function withPreprocessing(inner: EmgSource, cfg: Config, log: Logger): EmgSource {
  const pre = new Preprocessor(preprocessOptions(cfg, inner.info.sampleRate));
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

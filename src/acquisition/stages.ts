import type { Logger } from '../common/logger.js';
import { Preprocessor, preprocessSink } from './preprocess.js';
import { withSanitizer } from './sanitize.js';
import { withQuality } from './signal-quality.js';
import type { PreprocessConfig, SharedAcquisitionSettings } from './shared-settings.js';
import type { AcquisitionStats, EmgSource, SampleSink, SourceInfo } from './source.js';
import { preprocessOptions, qualitySettings } from './worker-config.js';

/**
 * The stages a source that writes through the sink on this thread passes before the ring: its
 * quality judged on what it delivers, then the sanitizer. No NaN, Inf or value beyond
 * `fullScale` reaches the model (acquisition.preprocess.bad_sample_policy says what replaces
 * it). The ADC worker writes the ring itself: its samples are integer counts within the
 * converter's range, and its own preprocessing and quality monitor run there.
 */
export function mainThreadStages(
  inner: EmgSource,
  shared: SharedAcquisitionSettings,
  log: Logger,
  fullScale = 0,
): EmgSource {
  const limit = fullScale > 0 ? fullScale : Infinity;
  const judged = withQuality(inner, qualitySettings(shared.quality, inner.info.sampleRate), {
    clipLevel: limit,
    flatRange: 0,
  });
  return withSanitizer(judged, {
    policy: shared.preprocess.bad_sample_policy,
    noteIntervalMs: shared.note_interval_ms,
    log,
    ...(fullScale > 0 ? { fullScale } : {}),
  });
}

/**
 * Puts preprocessing in front of any source's sink. Bad samples are counted and logged (the
 * first at once, then a summary at most once a second).
 */
export function withPreprocessing(inner: EmgSource, p: PreprocessConfig, log: Logger): EmgSource {
  const pre = new Preprocessor(preprocessOptions(p, inner.info.sampleRate, inner.info.channels));
  const info: SourceInfo = {
    ...inner.info,
    description: `${inner.info.description}, preprocessed (high-pass ${p.highpass_hz} Hz, ×${p.units_per_volt})`,
  };
  return {
    info,
    run(sink: SampleSink, signal: AbortSignal): Promise<void> {
      const policy = p.bad_sample_policy;
      const wrapped = preprocessSink(sink, pre, {
        onBadSamples: (s) => log.warn({ ...s, policy }, 'bad samples (NaN, Inf or saturated) in the input'),
      });
      return inner.run(wrapped, signal);
    },
    stats(): AcquisitionStats {
      const s: Record<string, number> = { ...(inner.stats?.() ?? {}) };
      for (const [k, v] of Object.entries(pre.stats) as [string, number][]) s[`preprocess_${k}`] = v;
      return s;
    },
  };
}

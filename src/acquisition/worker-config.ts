import type { PreprocessOptions } from './preprocess.js';
import type { PreprocessConfig, QualityConfig, SharedAcquisitionSettings } from './shared-settings.js';
import type { SourceContext } from './source.js';

/** Signal-quality settings every source shares (acquisition.quality). */
export interface QualitySettings {
  readonly mainsHz: number;
  readonly hopSamples: number;
  readonly blocks: number;
  readonly maxClipFraction: number;
  readonly maxMainsShare: number;
}

export function qualitySettings(q: QualityConfig, sampleRate: number): QualitySettings {
  // Two hops per window: judged every half window, so a change shows within one window.
  return {
    mainsHz: q.mains_hz,
    hopSamples: Math.round((q.window_ms / 2000) * sampleRate),
    blocks: 2,
    maxClipFraction: q.max_clip_fraction,
    maxMainsShare: q.max_mains_share,
  };
}

/** The DRDY binding of a real ADC (GPIO character device through gpiomon, or sysfs). */
export interface DrdyBindingConfig {
  readonly gpioBinding: 'chardev' | 'sysfs';
  readonly drdyChip: string;
  readonly drdyLine: number;
  readonly gpiomon: string;
}

/**
 * What the acquisition worker needs whatever the ADC, as plain data (it crosses the thread
 * boundary). Each ADC's worker configuration extends it with its driver's settings.
 */
export interface WorkerCommonConfig {
  /** The key of the ADC's row in ADC_DEVICES (adc-devices.ts), whose module opens the device. */
  readonly device: string;
  /** The source's kind (ads1299, ads1299-sim, i2c, i2c-sim) and what it reads, for logs and summary.json. */
  readonly kind: string;
  readonly where: string;
  readonly sampleRate: number;
  readonly channels: number;
  /** Simulators: 1 = real time, N = N×, 0 = as fast as the ring's reader takes it. */
  readonly speed: number;
  /** No new frame for this long (wall ms) while frames are due is a stall: noted, then the driver is re-initialised. */
  readonly stallMs: number;
  readonly reinitBackoffMs: number;
  readonly reinitBackoffMaxMs: number;
  /** Failed re-initialisations in a row before acquisition ends with the error (0 = keep trying). */
  readonly reinitMaxAttempts: number;
  /** Losses of at most this many frames are bridged instead of reported as gaps (0 = never). */
  readonly bridgeMax: number;
  /** Bridged-gap notes: the first at once, then one summary per this interval. */
  readonly noteIntervalMs: number;
  /** Conditioning applied in the worker before the ring; saturation levels come from the driver. */
  readonly preprocess?: Omit<PreprocessOptions, 'saturation'> & { readonly detectSaturation: boolean };
  /** Stop after this many samples reach the ring (0 = endless). */
  readonly maxSamples: number;
  /** Frames held back while a gap waits for the main thread's acknowledgement (at most half the ring). */
  readonly stagingFrames: number;
  readonly statsEveryMs: number;
  readonly quality: QualitySettings;
}

/** Whether preprocessing applies to a live source under `preprocess.enabled`. */
export function preprocessOn(p: PreprocessConfig, live: boolean): boolean {
  return p.enabled === 'auto' ? live : p.enabled;
}

export function preprocessOptions(
  p: PreprocessConfig,
  sampleRate: number,
  channels: number,
): Omit<PreprocessOptions, 'saturation'> {
  return {
    channels,
    sampleRate,
    highpassHz: p.highpass_hz,
    order: p.highpass_order,
    scale: p.units_per_volt,
    badSamplePolicy: p.bad_sample_policy,
  };
}

export function workerCommonConfig(
  ctx: SourceContext,
  device: string,
  label: { kind: string; where: string },
  channels: number,
): WorkerCommonConfig {
  const a = ctx.shared;
  const { sampleRate } = ctx;
  const pre = preprocessOn(a.preprocess, true)
    ? { ...preprocessOptions(a.preprocess, sampleRate, channels), detectSaturation: a.preprocess.detect_saturation }
    : undefined;
  return {
    device,
    ...label,
    sampleRate,
    channels,
    speed: ctx.speed,
    maxSamples: ctx.maxSamples,
    stagingFrames: sampleRate,
    statsEveryMs: 1000,
    quality: qualitySettings(a.quality, sampleRate),
    stallMs: a.stall_ms,
    reinitBackoffMs: a.reinit_backoff_ms,
    reinitBackoffMaxMs: Math.max(a.reinit_backoff_ms, a.reinit_backoff_max_ms),
    reinitMaxAttempts: a.reinit_max_attempts,
    bridgeMax: a.bridge_max_samples,
    noteIntervalMs: a.note_interval_ms,
    ...(pre ? { preprocess: pre } : {}),
  };
}

export function drdyBinding(
  shared: SharedAcquisitionSettings,
  chip: string,
  line: number,
  gpiomon: string,
): DrdyBindingConfig {
  return { gpioBinding: shared.gpio_binding, drdyChip: chip, drdyLine: line, gpiomon };
}

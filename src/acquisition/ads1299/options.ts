import type { Config } from '../../config/schema.js';
import type { SpiMode } from '../bindings/types.js';
import type { PreprocessOptions } from '../preprocess.js';
import { ADS1299_CHANNELS, type Ads1299Options } from './driver.js';

/** Everything the acquisition worker needs, as plain data (it crosses the thread boundary). */
export interface Ads1299WorkerConfig {
  readonly driver: Ads1299Options;
  /** Real hardware; absent when simulating. */
  readonly hardware?: {
    readonly spiBus: number;
    readonly chipSelects: readonly number[];
    readonly spiClockHz: number;
    readonly spiMode: SpiMode;
    readonly gpioBinding: 'chardev' | 'sysfs';
    readonly drdyChip: string;
    readonly drdyLine: number;
    readonly gpiomon: string;
  };
  /** The register-level simulator, fed by the synthetic generator in raw (volts) mode. */
  readonly sim?: {
    readonly seed: number;
    readonly unitsPerVolt: number;
    /** 1 = real time, N = N×, 0 = as fast as the ring's reader takes it. */
    readonly speed: number;
    readonly spiClockHz: number;
    readonly missedDrdyEvery: number;
    readonly lateReadEvery: number;
    readonly badStatusEvery: number;
    readonly stuckBusEvery: number;
    readonly stuckBusFrames: number;
    readonly stuckBusLevel: 0xff | 0x00;
    readonly spiErrorEvery: number;
    readonly dropFraction: number;
    readonly dropSeed: number;
  };
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
}

/** Whether preprocessing applies to a live source under `preprocess.enabled`. */
export function preprocessOn(cfg: Config, live: boolean): boolean {
  const e = cfg.acquisition.preprocess.enabled;
  return e === 'auto' ? live : e;
}

export function preprocessOptions(cfg: Config, sampleRate: number): Omit<PreprocessOptions, 'saturation'> {
  const p = cfg.acquisition.preprocess;
  return {
    channels: ADS1299_CHANNELS,
    sampleRate,
    highpassHz: p.highpass_hz,
    order: p.highpass_order,
    scale: p.units_per_volt,
    badSamplePolicy: p.bad_sample_policy,
  };
}

export function ads1299WorkerConfig(cfg: Config, simulate: boolean, sampleRate: number): Ads1299WorkerConfig {
  const a = cfg.acquisition.ads1299;
  const gains = typeof a.gain === 'number' ? Array<number>(ADS1299_CHANNELS).fill(a.gain) : [...a.gain];
  // Gains are given in ring channel order; the driver wants them per ADC channel.
  const adcGains = Array<number>(ADS1299_CHANNELS).fill(24);
  for (let i = 0; i < ADS1299_CHANNELS; i++) adcGains[a.channel_map[i]!] = gains[i]!;
  const driver: Ads1299Options = {
    topology: a.topology,
    sampleRate,
    gains: adcGains,
    vref: a.vref,
    reference: a.reference,
    biasDrive: a.bias_drive,
    channelMap: [...a.channel_map],
    lateMarginMs: a.late_margin_us / 1000,
    maxConsecutiveBadFrames: a.max_consecutive_bad_frames,
  };
  const pre = preprocessOn(cfg, true)
    ? { ...preprocessOptions(cfg, sampleRate), detectSaturation: cfg.acquisition.preprocess.detect_saturation }
    : undefined;
  const common = {
    driver,
    maxSamples: Math.round(cfg.input.duration_s * sampleRate),
    stagingFrames: sampleRate,
    statsEveryMs: 1000,
    stallMs: cfg.acquisition.stall_ms,
    reinitBackoffMs: cfg.acquisition.reinit_backoff_ms,
    reinitBackoffMaxMs: Math.max(cfg.acquisition.reinit_backoff_ms, cfg.acquisition.reinit_backoff_max_ms),
    reinitMaxAttempts: cfg.acquisition.reinit_max_attempts,
    bridgeMax: cfg.acquisition.bridge_max_samples,
    noteIntervalMs: cfg.acquisition.note_interval_ms,
    ...(pre ? { preprocess: pre } : {}),
  };
  if (simulate) {
    return {
      ...common,
      sim: {
        seed: cfg.acquisition.synthetic_seed,
        unitsPerVolt: cfg.acquisition.preprocess.units_per_volt,
        speed: cfg.input.speed,
        spiClockHz: a.spi_clock_hz,
        missedDrdyEvery: a.sim.missed_drdy_every,
        lateReadEvery: a.sim.late_read_every,
        badStatusEvery: a.sim.bad_status_every,
        stuckBusEvery: a.sim.stuck_bus_every,
        stuckBusFrames: a.sim.stuck_bus_frames,
        stuckBusLevel: a.sim.stuck_bus_level === 'high' ? 0xff : 0x00,
        spiErrorEvery: a.sim.spi_error_every,
        dropFraction: a.sim.drop_fraction,
        dropSeed: a.sim.drop_seed,
      },
    };
  }
  return {
    ...common,
    hardware: {
      spiBus: a.spi_bus,
      chipSelects: [...a.chip_selects],
      spiClockHz: a.spi_clock_hz,
      spiMode: a.spi_mode as SpiMode,
      gpioBinding: cfg.acquisition.gpio_binding,
      drdyChip: a.drdy_chip,
      drdyLine: a.drdy_line,
      gpiomon: a.gpiomon,
    },
  };
}

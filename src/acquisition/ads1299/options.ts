import type { SpiMode } from '../bindings/types.js';
import type { SourceContext } from '../source.js';
import { drdyBinding, workerCommonConfig, type DrdyBindingConfig, type WorkerCommonConfig } from '../worker-config.js';
import { ADS1299_CHANNELS, type Ads1299Options } from './driver.js';
import type { Ads1299Settings } from './settings.js';

/** Everything the acquisition worker needs for the ADS1299, as plain data (it crosses the thread boundary). */
export interface Ads1299WorkerConfig extends WorkerCommonConfig {
  readonly driver: Ads1299Options;
  /** Real hardware; absent when simulating. */
  readonly hardware?: DrdyBindingConfig & {
    readonly spiBus: number;
    readonly chipSelects: readonly number[];
    readonly spiClockHz: number;
    readonly spiMode: SpiMode;
  };
  /** The register-level simulator, fed by the synthetic generator in raw (volts) mode. */
  readonly sim?: {
    readonly seed: number;
    readonly unitsPerVolt: number;
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
    /** Ring channels whose electrode comes off, from/for how many conversions (for 0 = for good). */
    readonly detachChannels: readonly number[];
    readonly detachAt: number;
    readonly detachFor: number;
    readonly humVolts: number;
    readonly humHz: number;
    readonly humChannels: readonly number[];
  };
}

export function ads1299WorkerConfig(a: Ads1299Settings, ctx: SourceContext, simulate: boolean): Ads1299WorkerConfig {
  const { shared, sampleRate } = ctx;
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
    leadOff: a.lead_off,
  };
  const where = simulate
    ? `${a.topology}, simulated, seed ${shared.synthetic_seed}`
    : `${a.topology}, /dev/spidev${a.spi_bus}.${a.chip_selects.join('+')}, DRDY ${shared.gpio_binding} ${a.drdy_chip}:${a.drdy_line}`;
  const label = { kind: simulate ? 'ads1299-sim' : 'ads1299', where };
  const common = { ...workerCommonConfig(ctx, 'ads1299', label, ADS1299_CHANNELS), driver };
  if (simulate) {
    return {
      ...common,
      sim: {
        seed: shared.synthetic_seed,
        unitsPerVolt: shared.preprocess.units_per_volt,
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
        detachChannels: [...a.sim.detach_channels],
        detachAt: Math.round(a.sim.detach_at_s * sampleRate),
        detachFor: Math.round(a.sim.detach_for_s * sampleRate),
        humVolts: a.sim.hum_volts,
        humHz: shared.quality.mains_hz,
        humChannels: [...a.sim.hum_channels],
      },
    };
  }
  return {
    ...common,
    hardware: {
      ...drdyBinding(shared, a.drdy_chip, a.drdy_line, a.gpiomon),
      spiBus: a.spi_bus,
      chipSelects: [...a.chip_selects],
      spiClockHz: a.spi_clock_hz,
      spiMode: a.spi_mode as SpiMode,
    },
  };
}

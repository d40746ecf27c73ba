import type { SourceContext } from '../source.js';
import { drdyBinding, workerCommonConfig, type DrdyBindingConfig, type WorkerCommonConfig } from '../worker-config.js';
import type { I2cDriverOptions } from './driver.js';
import type { I2cSettings } from './settings.js';

/** Everything the acquisition worker needs for the I2C ADC, as plain data. */
export interface I2cWorkerConfig extends WorkerCommonConfig {
  readonly driver: I2cDriverOptions;
  readonly bus: number;
  /** Real hardware's data-ready line; absent when simulating. */
  readonly hardware?: DrdyBindingConfig;
  /** The transaction-level simulator, fed by the synthetic generator in raw (volts) mode. */
  readonly sim?: {
    readonly seed: number;
    readonly unitsPerVolt: number;
    readonly missedDrdyEvery: number;
    readonly drdyLostAt: number;
    readonly stuckBusEvery: number;
    readonly stuckBusFrames: number;
    readonly nackEvery: number;
    readonly nackFrames: number;
    readonly clockStretchEvery: number;
    readonly clockStretchUs: number;
    /** Where the simulated device answers (its own address; a different one from `driver.address` NACKs). */
    readonly deviceAddress: number;
  };
}

export function i2cWorkerConfig(i: I2cSettings, ctx: SourceContext, simulate: boolean): I2cWorkerConfig {
  const { shared, sampleRate } = ctx;
  const driver: I2cDriverOptions = {
    address: i.address,
    busHz: i.bus_hz,
    dataRegister: i.data_register,
    channels: i.channels,
    bitsPerSample: i.bits_per_sample,
    sampleRate,
    gain: i.gain,
    vref: i.vref,
    lateMarginMs: i.late_margin_us / 1000,
    maxConsecutiveErrors: i.max_consecutive_errors,
  };
  const addr = `0x${i.address.toString(16)}`;
  const where = simulate
    ? `simulated at ${addr}, ${i.bus_hz / 1000} kHz SCL, ${i.bits_per_sample}-bit, seed ${shared.synthetic_seed}`
    : `/dev/i2c-${i.bus} at ${addr}, ${i.bus_hz / 1000} kHz SCL, ${i.bits_per_sample}-bit, DRDY ${shared.gpio_binding} ${i.drdy_chip}:${i.drdy_line}`;
  const common = {
    ...workerCommonConfig(ctx, 'i2c', { kind: simulate ? 'i2c-sim' : 'i2c', where }, i.channels),
    driver,
    bus: i.bus,
  };
  if (!simulate) return { ...common, hardware: drdyBinding(shared, i.drdy_chip, i.drdy_line, i.gpiomon) };
  const s = i.sim;
  return {
    ...common,
    sim: {
      seed: shared.synthetic_seed,
      unitsPerVolt: shared.preprocess.units_per_volt,
      missedDrdyEvery: s.missed_drdy_every,
      drdyLostAt: s.drdy_lost_at,
      stuckBusEvery: s.stuck_bus_every,
      stuckBusFrames: s.stuck_bus_frames,
      nackEvery: s.nack_every,
      nackFrames: s.nack_frames,
      clockStretchEvery: s.clock_stretch_every,
      clockStretchUs: s.clock_stretch_us,
      deviceAddress: s.device_address || i.address,
    },
  };
}

import type { AdcDevice } from '../adc-device.js';
import { I2C_DEVICE, checkDeviceNode } from '../bindings/device-check.js';
import { preflightDrdy } from '../bindings/drdy.js';
import { checkI2cBandwidth } from '../i2c-transport.js';
import { i2cWorkerConfig, type I2cWorkerConfig } from './options.js';
import { i2cSettings } from './settings.js';

/** The I2C ADC: `--source i2c` (hardware unless acquisition.i2c.simulate) and `i2c-sim`. */
export const i2cDevice: AdcDevice<'i2c', typeof i2cSettings, I2cWorkerConfig> = {
  key: 'i2c',
  label: 'I2C ADC',
  settings: i2cSettings,
  simulates: (i) => i.simulate,
  prepare(i, ctx, simulate) {
    const w = i2cWorkerConfig(i, ctx, simulate);
    // Before anything is opened: a bus too slow for the configuration ends the run with the numbers.
    checkI2cBandwidth(w.driver);
    if (!simulate) {
      checkDeviceNode(`/dev/i2c-${i.bus}`, I2C_DEVICE);
      preflightDrdy(ctx.shared.gpio_binding, i.drdy_chip, i.gpiomon);
    }
    return w;
  },
  // Loaded on the worker thread only; native bindings only for real hardware.
  open: async (cfg, epoch, sink) => (await import('./runtime.js')).openI2cDevice(cfg, epoch, sink),
};

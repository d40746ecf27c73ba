import { I2C_DEVICE, checkDeviceNode } from '../bindings/device-check.js';
import { preflightDrdy } from '../bindings/drdy.js';
import { checkI2cBandwidth } from '../i2c-transport.js';
import type { EmgSource, SourceContext } from '../source.js';
import { AdcWorkerSource } from '../worker-source.js';
import { i2cWorkerConfig } from './options.js';

/** `--source i2c` (hardware unless acquisition.i2c.simulate) and `i2c-sim`. */
export function createI2cSource({ cfg, log, sampleRate }: SourceContext, simulate: boolean): EmgSource {
  const w = i2cWorkerConfig(cfg, simulate, sampleRate);
  // Before anything is opened: a bus too slow for the configuration ends the run with the numbers.
  checkI2cBandwidth(w.driver);
  if (!simulate) {
    const i = cfg.acquisition.i2c;
    checkDeviceNode(`/dev/i2c-${i.bus}`, I2C_DEVICE);
    preflightDrdy(cfg.acquisition.gpio_binding, i.drdy_chip, i.gpiomon);
  }
  return new AdcWorkerSource(w, log);
}

import type { AdcDevice } from '../adc-device.js';
import { SPI_DEVICE, checkDeviceNode } from '../bindings/device-check.js';
import { preflightDrdy } from '../bindings/drdy.js';
import type { SharedAcquisitionSettings } from '../shared-settings.js';
import { ads1299WorkerConfig, type Ads1299WorkerConfig } from './options.js';
import { ads1299Settings, type Ads1299Settings } from './settings.js';

/** The ADS1299 pair: `--source ads1299` (hardware unless acquisition.ads1299.simulate) and `ads1299-sim`. */
export const ads1299Device: AdcDevice<'ads1299', typeof ads1299Settings, Ads1299WorkerConfig> = {
  key: 'ads1299',
  label: 'ADS1299',
  settings: ads1299Settings,
  simulates: (a) => a.simulate,
  prepare(a, ctx, simulate) {
    if (!simulate) preflightAds1299(a, ctx.shared);
    return ads1299WorkerConfig(a, ctx, simulate);
  },
  // Loaded on the worker thread only; native bindings only for real hardware.
  open: async (cfg, epoch, sink) => (await import('./runtime.js')).openAds1299Device(cfg, epoch, sink),
};

/** Device nodes, permissions and tools the ADS1299 driver will need, checked on this thread before the models load. */
export function preflightAds1299(a: Ads1299Settings, shared: SharedAcquisitionSettings): void {
  for (const cs of a.chip_selects) checkDeviceNode(`/dev/spidev${a.spi_bus}.${cs}`, SPI_DEVICE);
  preflightDrdy(shared.gpio_binding, a.drdy_chip, a.gpiomon);
}

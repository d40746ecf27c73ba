import type { Config } from '../../config/schema.js';
import { SPI_DEVICE, checkDeviceNode } from '../bindings/device-check.js';
import { preflightDrdy } from '../bindings/drdy.js';
import type { EmgSource, SourceContext } from '../source.js';
import { AdcWorkerSource } from '../worker-source.js';
import { ads1299WorkerConfig } from './options.js';

/** `--source ads1299` (hardware unless acquisition.ads1299.simulate) and `ads1299-sim`. */
export function createAds1299Source({ cfg, log, sampleRate }: SourceContext, simulate: boolean): EmgSource {
  if (!simulate) preflightAds1299(cfg);
  return new AdcWorkerSource(ads1299WorkerConfig(cfg, simulate, sampleRate), log);
}

/** Device nodes, permissions and tools the ADS1299 driver will need, checked on this thread before the models load. */
export function preflightAds1299(cfg: Config): void {
  const a = cfg.acquisition.ads1299;
  for (const cs of a.chip_selects) checkDeviceNode(`/dev/spidev${a.spi_bus}.${cs}`, SPI_DEVICE);
  preflightDrdy(cfg.acquisition.gpio_binding, a.drdy_chip, a.gpiomon);
}

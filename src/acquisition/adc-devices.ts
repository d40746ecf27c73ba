import { ads1299Device } from './ads1299/source.js';
import { i2cDevice } from './i2c/source.js';

/**
 * Every ADC, one row each. The acquisition worker opens the row its configuration names; the
 * source table makes `--source <key>` and `<key>-sim` of each; the configuration schema takes
 * each row's settings as `acquisition.<key>`. Adding an ADC is its files plus one row here.
 */
export const ADC_DEVICES = [ads1299Device, i2cDevice] as const;

/**
 * The `acquisition:` section is composed from the acquisition rows (acquisition/sources.ts): the
 * keys every source shares, each source's keys, each ADC's settings under its key. Each declares
 * its schema beside itself; docs/acquisition.md explains them.
 */
export { acquisitionSettings as acquisitionSchema, type AcquisitionSettings as AcquisitionConfig } from '../acquisition/sources.js';

/**
 * The register map of the I2C ADC this source drives: a 16-channel, register-mapped converter
 * with an auto-incrementing register pointer, a data-ready output and a PGA. Sample data sit in
 * one block (channel-major, big-endian two's complement) from `acquisition.i2c.data_register`,
 * so one repeated-start read returns every channel of the latest conversion.
 */
export const I2C_REG = {
  /** bit 7 RESET (self-clearing: every register back to its reset value), bit 0 START conversions. */
  CONTROL: 0x40,
  /** Sample rate in Hz, big-endian over two registers. */
  RATE_HI: 0x41,
  RATE_LO: 0x42,
  /** PGA: gain = 2^GAIN[2:0] (1 … 128). */
  GAIN: 0x43,
  /** Read-only: the part's identity. */
  ID: 0x4f,
} as const;

export const CONTROL_RESET = 0x80;
export const CONTROL_START = 0x01;
/** What the ID register of the supported part reads. */
export const I2C_ADC_ID = 0xa7;

export const I2C_REGISTER_NAMES: Readonly<Record<number, string>> = {
  [I2C_REG.CONTROL]: 'CONTROL',
  [I2C_REG.RATE_HI]: 'RATE_HI',
  [I2C_REG.RATE_LO]: 'RATE_LO',
  [I2C_REG.GAIN]: 'GAIN',
  [I2C_REG.ID]: 'ID',
};

/** The GAIN register's code for a PGA gain (a power of two from 1 to 128). */
export function gainCode(gain: number): number {
  const code = Math.log2(gain);
  if (!Number.isInteger(code) || code < 0 || code > 7)
    throw new RangeError(`I2C ADC: gain ${gain} is not a power of two from 1 to 128`);
  return code;
}

/** Bipolar input range ±vref/gain over 2^bits codes. */
export function i2cVoltsPerCount(vref: number, gain: number, bits: number): number {
  return (2 * vref) / gain / 2 ** bits;
}

/** Largest positive code of a `bits`-bit two's complement sample. */
export function countMax(bits: number): number {
  return 2 ** (bits - 1) - 1;
}

import { UserError } from '../common/errors.js';
import type { I2cBus } from './bindings/types.js';

export interface I2cAdcOptions {
  readonly address: number;
  /** SCL clock in Hz. */
  readonly busHz: number;
  /** First data register; one block read per sample covers every channel. */
  readonly dataRegister: number;
  readonly channels: number;
  readonly bitsPerSample: number;
  readonly sampleRate: number;
}

/**
 * Bits on the wire for one sample: a register-pointer write then a repeated-start read
 * (START, address+W, register, Sr, address+R, data…, STOP). Every byte costs 9 clocks (8 + ACK);
 * START, repeated START and STOP cost about one clock each.
 */
export function i2cBitsPerSample(channels: number, bitsPerSample: number): number {
  const dataBytes = channels * Math.ceil(bitsPerSample / 8);
  return 3 * 9 + dataBytes * 9 + 3;
}

/** Share of the SCL clock a sampling loop can really use (clock stretching, gaps between transactions). */
export const I2C_USABLE_FRACTION = 0.8;

/**
 * Refuses, before anything is opened, a configuration the bus cannot carry, with the numbers.
 * Returns the bus load (needed bits per second over usable bits per second).
 */
export function checkI2cBandwidth(o: I2cAdcOptions): number {
  const perSample = i2cBitsPerSample(o.channels, o.bitsPerSample);
  const need = perSample * o.sampleRate;
  const usable = o.busHz * I2C_USABLE_FRACTION;
  if (need > usable) {
    const payload = o.channels * o.bitsPerSample * o.sampleRate;
    throw new UserError(
      `I2C: ${o.channels} channels × ${o.bitsPerSample} bits × ${o.sampleRate} Hz = ${fmt(payload)} bit/s of samples needs ` +
        `${fmt(need)} bit/s on the wire (${perSample} clocks per sample with addressing and ACKs), but a ${fmt(o.busHz)} Hz bus ` +
        `carries at most ${fmt(usable)} bit/s (${I2C_USABLE_FRACTION * 100}% of SCL); lower the rate or channels, raise acquisition.i2c.bus_hz, or use SPI`,
    );
  }
  return need / usable;
}

function fmt(v: number): string {
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} k` : String(v);
}

/**
 * Sample transport for register-mapped ADCs on I2C: one block read of every channel per sample,
 * big-endian two's complement. Construction performs the bandwidth check.
 */
export class I2cAdcTransport {
  readonly load: number;
  private readonly raw: Uint8Array;
  private readonly one = new Uint8Array(1);
  private readonly bytesPerSample: number;

  constructor(
    private readonly bus: I2cBus,
    private readonly o: I2cAdcOptions,
  ) {
    this.load = checkI2cBandwidth(o);
    this.bytesPerSample = Math.ceil(o.bitsPerSample / 8);
    this.raw = new Uint8Array(o.channels * this.bytesPerSample);
  }

  get busName(): string {
    return this.bus.name;
  }

  writeRegister(register: number, value: number): void {
    this.bus.writeRegister(this.o.address, register, value);
  }

  readRegister(register: number): number {
    this.bus.readRegisters(this.o.address, register, this.one);
    return this.one[0]!;
  }

  /** Reads one sample of every channel into `counts` (sign-extended). */
  readSample(counts: Int32Array): void {
    const { raw, bytesPerSample: n } = this;
    this.bus.readRegisters(this.o.address, this.o.dataRegister, raw);
    const shift = 32 - this.o.bitsPerSample;
    for (let c = 0, o = 0; c < this.o.channels; c++, o += n) {
      let v = 0;
      for (let i = 0; i < n; i++) v = (v << 8) | raw[o + i]!;
      // Align the sample's top bit with bit 31, then shift back with sign.
      const pad = n * 8 - this.o.bitsPerSample;
      counts[c] = ((v >>> pad) << shift) >> shift;
    }
  }

  close(): void {
    this.bus.close();
  }
}

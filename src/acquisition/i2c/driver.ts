import { UserError, errorMessage } from '../../common/errors.js';
import type { Clock } from '../clock.js';
import type { DataReadyLine } from '../bindings/types.js';
import { EdgeTiming, type ConfigureReport, type FrameSink } from '../device.js';
import { EdgeDrivenAdc, hex, type DriverStats } from '../edge-driver.js';
import { i2cBitsPerSample, type I2cAdcOptions, type I2cAdcTransport } from '../i2c-transport.js';
import {
  CONTROL_RESET,
  CONTROL_START,
  I2C_ADC_ID,
  I2C_REG,
  I2C_REGISTER_NAMES,
  countMax,
  gainCode,
  i2cVoltsPerCount,
} from './registers.js';

export interface I2cDriverOptions extends I2cAdcOptions {
  readonly gain: number;
  readonly vref: number;
  /** A read must end this long before the next data-ready edge or its frame is dropped as late. */
  readonly lateMarginMs: number;
  /** Failed reads in a row before the driver gives up (a stall, then re-initialisation). */
  readonly maxConsecutiveErrors: number;
}

export interface I2cDriverStats extends DriverStats {
  /** Reads the device did not acknowledge (ENXIO / EREMOTEIO). */
  nacks: number;
  /** Reads the adapter gave up on (ETIMEDOUT: SDA or SCL held low). */
  busTimeouts: number;
  /** Other failed reads (EIO, arbitration lost, …). */
  busErrors: number;
}

const NACK_CODES = new Set(['ENXIO', 'EREMOTEIO', 'ENODEV']);

/**
 * The I2C ADC driver: reset, identity check, register set-up with read-back, then one block read
 * of every channel per data-ready edge. Missed and late conversions are found from the edge
 * times, as for the ADS1299, and reported as lost; a read the bus refuses is lost too, and too
 * many refused in a row stop the driver so that the worker's stall path re-initialises it.
 */
export class I2cAdcDriver extends EdgeDrivenAdc {
  readonly stats: I2cDriverStats = {
    edges: 0,
    framesRead: 0,
    framesDelivered: 0,
    missedDrdy: 0,
    lateReads: 0,
    tornReads: 0,
    spuriousEdges: 0,
    lostFrames: 0,
    nacks: 0,
    busTimeouts: 0,
    busErrors: 0,
    maxReadUs: 0,
  };
  readonly lsb: Float64Array;
  readonly countMax: number;
  protected readonly timing: EdgeTiming;
  protected readonly frameCounts: Int32Array;
  protected readonly frameVolts: Float32Array;
  private lastError = '';

  constructor(
    private readonly transport: I2cAdcTransport,
    drdy: DataReadyLine,
    clock: Clock,
    private readonly opts: I2cDriverOptions,
    sink: FrameSink,
  ) {
    super(drdy, clock, sink, opts.maxConsecutiveErrors);
    const ch = opts.channels;
    this.frameCounts = new Int32Array(ch);
    this.frameVolts = new Float32Array(ch);
    this.lsb = new Float64Array(ch).fill(i2cVoltsPerCount(opts.vref, opts.gain, opts.bitsPerSample));
    this.countMax = countMax(opts.bitsPerSample);
    const periodMs = 1000 / opts.sampleRate;
    const readMs = (i2cBitsPerSample(ch, opts.bitsPerSample) * 1000) / opts.busHz;
    this.timing = new EdgeTiming(periodMs, opts.lateMarginMs, readMs);
  }

  describeChannel(i: number): string {
    return `I2C 0x${this.opts.address.toString(16)} AIN${i}`;
  }

  configure(): ConfigureReport {
    const t = this.transport;
    const who = `I2C ADC at 0x${this.opts.address.toString(16)} on ${t.busName}`;
    let id: number;
    try {
      t.writeRegister(I2C_REG.CONTROL, CONTROL_RESET);
      this.clock.sleep(1);
      id = t.readRegister(I2C_REG.ID);
    } catch (e) {
      throw new UserError(
        `${who}: ${errorMessage(e)}; check acquisition.i2c.address and bus, the wiring and the pull-ups`,
      );
    }
    if (id !== I2C_ADC_ID) {
      throw new UserError(
        `${who}: ID register (0x${hex(I2C_REG.ID)}) reads 0x${hex(id)}, expected 0x${hex(I2C_ADC_ID)}: another device answers at this address`,
      );
    }
    const rate = Math.round(this.opts.sampleRate);
    const image: [number, number][] = [
      [I2C_REG.RATE_HI, (rate >> 8) & 0xff],
      [I2C_REG.RATE_LO, rate & 0xff],
      [I2C_REG.GAIN, gainCode(this.opts.gain)],
    ];
    const written: Record<string, number> = {};
    for (const [reg, value] of image) {
      t.writeRegister(reg, value);
      written[I2C_REGISTER_NAMES[reg]!] = value;
    }
    for (const [reg, value] of image) {
      const got = t.readRegister(reg);
      if (got !== value) {
        throw new UserError(
          `${who}: register ${I2C_REGISTER_NAMES[reg]} (0x${hex(reg)}) reads back 0x${hex(got)} after writing 0x${hex(value)}; check the bus clock and the wiring`,
        );
      }
    }
    return { ids: [id], registers: [written] };
  }

  async start(onFatal: (e: Error) => void): Promise<void> {
    this.consecutiveBad = 0;
    this.transport.writeRegister(I2C_REG.CONTROL, CONTROL_START);
    await this.startEdges(onFatal);
  }

  /** Stops conversions and releases the line and the bus. Safe to call twice. */
  close(): void {
    if (this.running) {
      this.halt();
      try {
        this.transport.writeRegister(I2C_REG.CONTROL, 0);
      } catch {
        // The bus may be the thing that failed; nothing left to protect.
      }
    }
    this.transport.close();
  }

  /** One block read of every channel, no allocation. */
  protected readFrame(): void {
    this.transport.readSample(this.frameCounts);
  }

  // Clock stretching can push the read past the next conversion: the edge path drops a torn block.
  protected decodeFrame(): number {
    const lsb = this.lsb[0]!;
    for (let c = 0; c < this.frameCounts.length; c++) this.frameVolts[c] = this.frameCounts[c]! * lsb;
    return 0;
  }

  protected readFailed(e: unknown): void {
    const st = this.stats;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NACK_CODES.has(code)) st.nacks++;
    else if (code === 'ETIMEDOUT') st.busTimeouts++;
    else st.busErrors++;
    this.lastError = errorMessage(e);
    this.badFrame('bus_error');
  }

  protected giveUpError(): Error {
    return new Error(`I2C ADC: ${this.consecutiveBad} reads in a row failed; last: ${this.lastError}`);
  }
}

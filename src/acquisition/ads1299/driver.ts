import { UserError } from '../../common/errors.js';
import type { Clock } from '../clock.js';
import type { DataReadyLine, SpiBus } from '../bindings/types.js';
import { EdgeTiming, type ConfigureReport, type FrameSink } from '../device.js';
import { EdgeDrivenAdc, hex, type DriverStats } from '../edge-driver.js';
import { decodeChip, leadOffBits, statusMarkerOk } from './frame.js';
import {
  BYTES_PER_CHIP,
  CHANNELS_PER_CHIP,
  CMD,
  COUNT_MAX,
  ID_8CH,
  ID_MASK,
  READ_ONLY,
  READ_ONLY_MASK,
  REG,
  REGISTER_NAMES,
  registerImage,
  voltsPerCount,
} from './registers.js';

export type { ConfigureReport, FrameSink, LossReason } from '../device.js';

export const ADS1299_CHANNELS = 2 * CHANNELS_PER_CHIP;

export interface Ads1299Options {
  /** daisy: one SPI device, both chips in a chain; separate: one SPI device per chip (first, second). */
  readonly topology: 'daisy' | 'separate';
  readonly sampleRate: number;
  /** 16 PGA gains, ADC channel order (first chip CH1-CH8, then the second chip's). */
  readonly gains: readonly number[];
  readonly vref: number;
  readonly reference: 'srb1' | 'differential';
  readonly biasDrive: boolean;
  /** channelMap[i] = ADC channel that becomes output channel i. */
  readonly channelMap: readonly number[];
  /** A read must end this long before the next DRDY or its frame is dropped as late. */
  readonly lateMarginMs: number;
  /** Consecutive frames without the status marker before acquisition stops. */
  readonly maxConsecutiveBadFrames: number;
  /** DC lead-off detection: each frame's status word flags inputs whose electrode is off. */
  readonly leadOff?: boolean;
}

/**
 * The ADS1299's counters besides every driver's (edge-driver.ts): missedDrdy counts edge
 * intervals of 2T and more, lateReads edges handled too late to finish the read, tornReads reads
 * that ended after the next conversion could overwrite the data; those frames are dropped.
 */
export interface Ads1299Stats extends DriverStats {
  /** Frames without the 1100 status marker: dropped. */
  badStatus: number;
  /** Of those, frames whose bytes were all 0xFF or all 0x00 (MISO stuck). */
  stuckFrames: number;
  /** Frame reads whose SPI transfer failed (the ioctl threw): frame dropped. */
  spiErrors: number;
}

/**
 * The ADS1299 driver: configuration with read-back verification, then one frame per DRDY edge
 * in RDATAC mode. The chip has no FIFO and no sample counter, so frames that are missed or read
 * too late are detected from the DRDY timestamps and reported to the sink as lost, never
 * replaced by a stale or torn read.
 */
export class Ads1299Driver extends EdgeDrivenAdc {
  readonly stats: Ads1299Stats = {
    edges: 0,
    framesRead: 0,
    framesDelivered: 0,
    missedDrdy: 0,
    lateReads: 0,
    tornReads: 0,
    badStatus: 0,
    stuckFrames: 0,
    spuriousEdges: 0,
    lostFrames: 0,
    spiErrors: 0,
    maxReadUs: 0,
  };
  readonly periodMs: number;
  /** Volts per count, output channel order. */
  readonly lsb: Float64Array;
  /** Positive full scale in volts per output channel (for saturation detection). */
  readonly fullScaleVolts: Float64Array;

  private readonly tx: Uint8Array[];
  private readonly rx: Uint8Array[];
  private readonly adcCounts = new Int32Array(ADS1299_CHANNELS);
  protected readonly frameCounts = new Int32Array(ADS1299_CHANNELS);
  protected readonly frameVolts = new Float32Array(ADS1299_CHANNELS);
  /** Lead-off flags of the last frame, ADC channel order (bit per channel). */
  private adcLeadOff = 0;
  private readonly readMs: number;
  protected readonly timing: EdgeTiming;
  /** 0xFF or 0x00 when the last bad frame was all that byte (a stuck MISO), −2 after a failed read, else −1. */
  private lastBadByte = -1;
  private lastError = '';

  constructor(
    private readonly buses: readonly SpiBus[],
    drdy: DataReadyLine,
    clock: Clock,
    private readonly opts: Ads1299Options,
    sink: FrameSink,
  ) {
    super(drdy, clock, sink, opts.maxConsecutiveBadFrames);
    const want = opts.topology === 'daisy' ? 1 : 2;
    if (buses.length !== want)
      throw new RangeError(`ADS1299 ${opts.topology}: ${want} SPI device(s) expected, got ${buses.length}`);
    if (opts.gains.length !== ADS1299_CHANNELS || opts.channelMap.length !== ADS1299_CHANNELS) {
      throw new RangeError(`ADS1299: gains and channel map need ${ADS1299_CHANNELS} entries`);
    }
    this.periodMs = 1000 / opts.sampleRate;
    const frameBytes = opts.topology === 'daisy' ? 2 * BYTES_PER_CHIP : BYTES_PER_CHIP;
    this.tx = buses.map(() => new Uint8Array(frameBytes));
    this.rx = buses.map(() => new Uint8Array(frameBytes));
    this.lsb = new Float64Array(ADS1299_CHANNELS);
    this.fullScaleVolts = new Float64Array(ADS1299_CHANNELS);
    for (let i = 0; i < ADS1299_CHANNELS; i++) {
      const adc = opts.channelMap[i]!;
      this.lsb[i] = voltsPerCount(opts.vref, opts.gains[adc]!);
      this.fullScaleVolts[i] = COUNT_MAX * this.lsb[i]!;
    }
    this.readMs = buses.reduce((s, b) => s + (frameBytes * 8 * 1000) / b.clockHz, 0);
    this.timing = new EdgeTiming(this.periodMs, opts.lateMarginMs, this.readMs);
    if (this.readMs >= this.periodMs - opts.lateMarginMs) {
      throw new UserError(
        `ADS1299: reading a frame takes ${(this.readMs * 1000).toFixed(0)} µs at ${buses[0]!.clockHz} Hz SCLK, ` +
          `more than the ${(this.periodMs * 1000).toFixed(0)} µs between conversions less the ${(opts.lateMarginMs * 1000).toFixed(0)} µs margin; raise acquisition.ads1299.spi_clock_hz`,
      );
    }
  }

  /** Output channel → which chip and input it is, for logs and docs. */
  describeChannel(i: number): string {
    const adc = this.opts.channelMap[i]!;
    return `${adc < CHANNELS_PER_CHIP ? 'chip 1' : 'chip 2'} CH${(adc % CHANNELS_PER_CHIP) + 1}`;
  }

  /**
   * Reset, stop continuous mode, check the ID, write every register and read each one back.
   * Throws a UserError naming the register, the value written and the value read.
   */
  configure(): ConfigureReport {
    const { opts, clock } = this;
    for (const bus of this.buses) {
      // A chip left running by a previous process is in RDATAC and ignores register commands.
      this.command(bus, CMD.SDATAC);
      this.command(bus, CMD.STOP);
      this.command(bus, CMD.RESET);
    }
    clock.sleep(1); // ≥ 18 tCLK after RESET
    for (const bus of this.buses) this.command(bus, CMD.SDATAC); // RESET re-enters RDATAC
    clock.sleep(0.01);

    const ids: number[] = [];
    const registers: Record<string, number>[] = [];
    for (let b = 0; b < this.buses.length; b++) {
      const bus = this.buses[b]!;
      const who = opts.topology === 'daisy' ? `${bus.name} (daisy chain, first chip)` : `${bus.name} (chip ${b + 1})`;
      const id = this.readRegisters(bus, REG.ID, 1)[0]!;
      checkId(id, who);
      ids.push(id);
      const image = registerImage({
        daisyChain: opts.topology === 'daisy',
        // The first chip drives its 2.048 MHz clock to the second; a chip clocked from its
        // CLK pin ignores CLK_EN, so in a daisy chain both may receive the same CONFIG1.
        clockOut: b === 0,
        sampleRate: opts.sampleRate,
        gains:
          opts.topology === 'daisy' && b === 0
            ? opts.gains.slice(0, CHANNELS_PER_CHIP)
            : opts.gains.slice(b * CHANNELS_PER_CHIP, (b + 1) * CHANNELS_PER_CHIP),
        reference: opts.reference,
        biasDrive: opts.biasDrive,
        leadOff: opts.leadOff === true,
      });
      if (opts.topology === 'daisy') {
        // Register writes reach both chips of a chain at once, so their gains must agree.
        for (let c = 0; c < CHANNELS_PER_CHIP; c++) {
          if (opts.gains[c] !== opts.gains[c + CHANNELS_PER_CHIP]) {
            throw new UserError(
              `ADS1299 daisy chain: channel ${c + 1} of the two chips has gains ${opts.gains[c]} and ${opts.gains[c + CHANNELS_PER_CHIP]}; ` +
                'register writes reach both chips of a chain, so use equal gains per input or topology: separate',
            );
          }
        }
      }
      const written: Record<string, number> = {};
      for (const [reg, value] of image) {
        this.writeRegister(bus, reg, value);
        written[REGISTER_NAMES[reg]!] = value;
      }
      for (const [reg, value] of image) {
        if (READ_ONLY.has(reg)) continue;
        const got = this.readRegisters(bus, reg, 1)[0]!;
        const mask = ~(READ_ONLY_MASK[reg] ?? 0) & 0xff;
        if ((got & mask) !== (value & mask)) {
          throw new UserError(
            `ADS1299 ${who}: register ${REGISTER_NAMES[reg]} (0x${hex(reg)}) reads back 0x${hex(got)} after writing 0x${hex(value)}; ` +
              'check SPI wiring, spi_mode (1) and a clock ≤ 4 MHz during set-up',
          );
        }
      }
      registers.push(written);
    }
    // In a daisy chain the second chip shares chip select and DIN, so it takes every write, but
    // RREG data leave the first chip's DOUT only: its ID cannot be read. Its presence is checked
    // on every frame instead (the 1100 marker of its status word).
    return { ids: opts.topology === 'daisy' ? [...ids, null] : ids, registers };
  }

  /** START + RDATAC, then one frame per DRDY edge. `onFatal` gets a stuck bus or a dead DRDY line. */
  async start(onFatal: (e: Error) => void): Promise<void> {
    // With separate chip selects the second chip starts first, so its conversion is always
    // complete by the first chip's DRDY (the one wired). Tie the START pins for exact alignment.
    for (let b = this.buses.length - 1; b >= 0; b--) this.command(this.buses[b]!, CMD.START);
    for (let b = this.buses.length - 1; b >= 0; b--) this.command(this.buses[b]!, CMD.RDATAC);
    await this.startEdges(onFatal);
  }

  /** Stops conversions and releases the DRDY line. Safe to call twice. */
  stop(): void {
    if (this.running) this.halt();
  }

  protected override halt(): void {
    super.halt();
    for (const bus of this.buses) {
      try {
        this.command(bus, CMD.SDATAC);
        this.command(bus, CMD.STOP);
      } catch {
        // The bus may already be gone at shutdown; nothing left to protect.
      }
    }
  }

  protected readFrame(): void {
    for (let b = 0; b < this.buses.length; b++) this.buses[b]!.transfer(this.tx[b]!, this.rx[b]);
  }

  protected readFailed(e: unknown): void {
    this.stats.spiErrors++;
    this.lastBadByte = -2;
    this.lastError = e instanceof Error ? e.message : String(e);
    this.badFrame('spi_error');
  }

  /** Both status words checked, then the ADC channels mapped to output channels. */
  protected decodeFrame(): number {
    if (!this.parse()) {
      this.stats.badStatus++;
      this.badFrame('bad_status');
      return -1;
    }
    const map = this.opts.channelMap;
    const lsb = this.lsb;
    const adcOff = this.adcLeadOff;
    let leadOff = 0;
    for (let i = 0; i < ADS1299_CHANNELS; i++) {
      const adc = map[i]!;
      const c = this.adcCounts[adc]!;
      this.frameCounts[i] = c;
      this.frameVolts[i] = c * lsb[i]!;
      if (adcOff & (1 << adc)) leadOff |= 1 << i;
    }
    return leadOff;
  }

  /** Checks both status words and decodes into adcCounts. False when a marker is wrong. */
  private parse(): boolean {
    if (this.opts.topology === 'daisy') {
      const rx = this.rx[0]!;
      if (!statusMarkerOk(rx, 0) || !statusMarkerOk(rx, BYTES_PER_CHIP)) return this.noteStuck(rx);
      decodeChip(rx, 0, this.adcCounts, 0);
      decodeChip(rx, BYTES_PER_CHIP, this.adcCounts, CHANNELS_PER_CHIP);
      this.adcLeadOff = leadOffBits(rx, 0) | (leadOffBits(rx, BYTES_PER_CHIP) << CHANNELS_PER_CHIP);
      return true;
    }
    const a = this.rx[0]!;
    const b = this.rx[1]!;
    if (!statusMarkerOk(a, 0)) return this.noteStuck(a);
    if (!statusMarkerOk(b, 0)) return this.noteStuck(b);
    decodeChip(a, 0, this.adcCounts, 0);
    decodeChip(b, 0, this.adcCounts, CHANNELS_PER_CHIP);
    this.adcLeadOff = leadOffBits(a, 0) | (leadOffBits(b, 0) << CHANNELS_PER_CHIP);
    return true;
  }

  private noteStuck(rx: Uint8Array): false {
    const first = rx[0]!;
    let uniform = first === 0xff || first === 0x00;
    for (let i = 1; uniform && i < rx.length; i++) uniform = rx[i] === first;
    if (uniform) this.stats.stuckFrames++;
    this.lastBadByte = uniform ? first : -1;
    return false;
  }

  protected giveUpError(): Error {
    const n = this.consecutiveBad;
    if (this.lastBadByte === -2) return new Error(`ADS1299: ${n} frame reads in a row failed; last: ${this.lastError}`);
    const what =
      this.lastBadByte === 0xff
        ? 'every byte reads 0xFF: MISO floats high (chip unpowered, not selected, or DOUT unconnected)'
        : this.lastBadByte === 0x00
          ? 'every byte reads 0x00: MISO stuck low'
          : 'the status words lack the 1100 marker: frame alignment lost or bus noise';
    return new Error(`ADS1299: ${n} frames in a row without a valid status word; ${what}`);
  }

  private command(bus: SpiBus, opcode: number): void {
    bus.transfer(Uint8Array.of(opcode), new Uint8Array(1));
  }

  /** Set-up path: allocation is fine here. Multi-byte commands need 4 tCLK between bytes. */
  private readRegisters(bus: SpiBus, start: number, count: number): Uint8Array {
    const tx = new Uint8Array(2 + count);
    tx[0] = CMD.RREG | start;
    tx[1] = count - 1;
    const rx = bus.transfer(tx, new Uint8Array(tx.length), { interByteDelayUs: interByteDelayUs(bus.clockHz) });
    return rx.subarray(2);
  }

  private writeRegister(bus: SpiBus, reg: number, value: number): void {
    bus.transfer(Uint8Array.of(CMD.WREG | reg, 0, value), new Uint8Array(3), {
      interByteDelayUs: interByteDelayUs(bus.clockHz),
    });
  }
}

/** tSDECODE = 4 tCLK = 1.96 µs at 2.048 MHz; a byte at SCLK ≥ 4.1 MHz is shorter than that. */
export function interByteDelayUs(clockHz: number): number {
  const byteUs = (8 / clockHz) * 1e6;
  const need = 4 / 2.048;
  return byteUs >= need ? 0 : Math.ceil(need - byteUs);
}

function checkId(id: number, who: string): void {
  if ((id & ID_MASK) === ID_8CH) return;
  const why =
    id === 0xff
      ? 'MISO reads all 1s: no chip answering (power, chip select, or DOUT wiring)'
      : id === 0x00
        ? 'MISO reads all 0s: the line is stuck low or the chip is held in reset (RESET/PWDN pins)'
        : `not an 8-channel ADS1299 (its low 5 bits should read 0x${hex(ID_8CH)}; 0x3C/0x3D are the 4- and 6-channel parts)`;
  throw new UserError(`ADS1299 ${who}: ID register reads 0x${hex(id)}: ${why}`);
}

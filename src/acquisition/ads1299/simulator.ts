import type { VirtualClock } from '../clock.js';
import type { SpiBus, SpiMode, SpiTransferOptions } from '../bindings/types.js';
import { SimDataReadyLine } from '../sim-drdy.js';
import { encodeChip } from './frame.js';
import {
  BYTES_PER_CHIP,
  CHANNELS_PER_CHIP,
  CMD,
  READ_ONLY,
  READ_ONLY_MASK,
  REG,
  REGISTER_COUNT,
  RESET_VALUES,
  gainFromChset,
  opName,
  rateFromConfig1,
  regName,
  voltsPerCount,
} from './registers.js';

/** Fills `counts` (16 entries, ADC channel order) with conversion `k`'s values. */
export type SimSignal = (k: number, counts: Int32Array) => void;

/** Faults the model injects, by conversion index (counted from START). */
export interface SimFaults {
  /** The DRDY pulse of conversion k never reaches the host (the conversion itself happens). */
  missedDrdy?(k: number): boolean;
  /** Extra delay before the host sees edge k (scheduling latency): a late read. */
  lateDeliveryMs?(k: number): number;
  /** The bus stalls this long in the middle of the read that follows edge k. */
  stallMs?(k: number): number;
  /** Conversion k of chip `chip` (0/1) carries a corrupted status marker. */
  badStatus?(k: number, chip: number): boolean;
  /** The electrode of ADC channel `adc` is off at conversion k (seen by the lead-off comparators). */
  detached?: (k: number, adc: number) => boolean;
  /** MISO is stuck during reads that follow edge k: every byte reads this value. */
  stuckBus?(k: number): 0xff | 0x00 | undefined;
  /** The read that follows edge k fails (the transfer throws, as an ioctl returning EIO does). */
  spiError?(k: number): boolean;
}

export interface SimOptions {
  topology: 'daisy' | 'separate';
  signal: SimSignal;
  clock: VirtualClock;
  /** What each chip's ID register reads (wrong-ID fault); default 0x3E. */
  ids?: readonly number[];
  faults?: SimFaults;
  /** Host latency from a DRDY edge to the handler, in ms. */
  edgeLatencyMs?: number;
  /** Stuck MISO from the start (set-up included): every byte reads this. */
  stuckFromStart?: 0xff | 0x00;
  spiClockHz?: number;
  spiMode?: SpiMode;
}

const TCLK_MS = 1 / 2048; // 2.048 MHz master clock
const T_SDECODE_MS = 4 * TCLK_MS;

/** One ADS1299: register map, command decoder, conversion timing, output shift register. */
class ChipModel {
  readonly regs = new Uint8Array(REGISTER_COUNT);
  rdatac = true;
  converting = false;
  standby = false;
  /** Time of conversion 0 (START + one period of settling). */
  t0 = 0;
  periodMs = 4;
  readonly frame = new Uint8Array(BYTES_PER_CHIP);
  private frameConv = -1;

  constructor(
    readonly index: number,
    private readonly id: number,
    private readonly sim: Ads1299Simulator,
  ) {
    this.reset();
  }

  reset(): void {
    this.regs.set(RESET_VALUES);
    this.regs[REG.ID] = this.id;
    this.rdatac = true;
    this.converting = false;
    this.frameConv = -1;
  }

  start(now: number): void {
    this.periodMs = 1000 / rateFromConfig1(this.regs[REG.CONFIG1]!);
    this.converting = true;
    this.t0 = now + this.periodMs;
    this.frameConv = -1;
  }

  /** Latest conversion available at time t (−1: none yet). */
  conversionAt(t: number): number {
    if (!this.converting || this.standby || t < this.t0) return -1;
    return Math.floor((t - this.t0) / this.periodMs + 1e-9);
  }

  /** The 27 bytes of conversion k, built once per conversion. */
  frameBytes(k: number): Uint8Array {
    if (k !== this.frameConv) {
      const counts = this.sim.countsOf(k);
      const bad = this.sim.faults.badStatus?.(k, this.index) ?? false;
      // Status: 1100 + LOFF_STATP + LOFF_STATN + GPIO[7:4]; the fault flips the marker bits.
      const status =
        (bad ? 0x40_0000 : 0xc0_0000) | (this.leadOffStatus(k) << 4) | ((this.regs[REG.GPIO]! >> 4) & 0x0f);
      encodeChip(this.frame, 0, status, counts, this.index * CHANNELS_PER_CHIP);
      this.frameConv = k;
    }
    return this.frame;
  }

  /** LOFF_STATP << 8 | LOFF_STATN: comparators on (CONFIG4 PD_LOFF_COMP) and the input sensed. */
  private leadOffStatus(k: number): number {
    const off = this.sim.faults.detached;
    if (!off || !(this.regs[REG.CONFIG4]! & 0x02)) return 0;
    let p = 0;
    for (let c = 0; c < CHANNELS_PER_CHIP; c++) if (off(k, this.index * CHANNELS_PER_CHIP + c)) p |= 1 << c;
    return ((p & this.regs[REG.LOFF_SENSP]!) << 8) | (p & this.regs[REG.LOFF_SENSN]!);
  }

  writeRegister(reg: number, value: number): void {
    if (reg >= REGISTER_COUNT || READ_ONLY.has(reg)) return;
    const keep = READ_ONLY_MASK[reg] ?? 0;
    this.regs[reg] = (this.regs[reg]! & keep) | (value & ~keep & 0xff);
  }
}

/** Decodes one chip-select transaction byte by byte, as the chip's serial interface does. */
class Transaction {
  private opcode = -1;
  private count = -1;
  private index = 0;
  private lastByteEnd = -Infinity;
  private rdataConv = -1;
  private rdataPos = 0;

  constructor(
    private readonly chips: readonly ChipModel[],
    private readonly sim: Ads1299Simulator,
  ) {}

  /** Chip select asserted: the serial interface starts decoding afresh. */
  begin(): void {
    this.opcode = -1;
    this.count = -1;
    this.index = 0;
    this.lastByteEnd = -Infinity;
    this.rdataConv = -1;
    this.rdataPos = 0;
  }

  /** Returns the byte DOUT shifts out while `din` shifts in, the byte ending at `tEnd`. */
  exchange(din: number, tStart: number, tEnd: number, pos: number): number {
    const first = this.chips[0]!;
    let out = 0;
    // Output first: RDATAC shifts the data out from the first SCLK, whatever DIN carries.
    if (this.opcode === -1 && first.rdatac) out = this.dataByte(pos, tStart);
    else if (this.opcode === CMD.RDATA && this.count === -2) out = this.rdataByte();
    else if ((this.opcode & 0xe0) === CMD.RREG && this.count >= 0 && this.index < this.count) {
      out = first.regs[((this.opcode & 0x1f) + this.index) & 0x1f] ?? 0;
    }
    this.input(din, tStart, tEnd);
    return out;
  }

  private dataByte(pos: number, t: number): number {
    const first = this.chips[0]!;
    const k = first.conversionAt(t);
    if (k < 0) return 0;
    if (pos < BYTES_PER_CHIP) return first.frameBytes(k)[pos]!;
    // Daisy-chain mode shifts the second chip's data in behind the first chip's; multiple-
    // readback mode (DAISY_EN = 1) repeats the first chip's.
    const daisy = (first.regs[REG.CONFIG1]! & 0x40) === 0;
    const second = this.chips[1];
    const p = pos % BYTES_PER_CHIP;
    if (daisy && second && pos < 2 * BYTES_PER_CHIP) {
      const k2 = second.conversionAt(t);
      return k2 < 0 ? 0 : second.frameBytes(k2)[p]!;
    }
    return daisy ? 0 : first.frameBytes(k)[p]!;
  }

  private rdataByte(): number {
    const first = this.chips[0]!;
    const b = this.rdataConv < 0 ? 0 : first.frameBytes(this.rdataConv)[this.rdataPos % BYTES_PER_CHIP]!;
    this.rdataPos++;
    return b;
  }

  private input(din: number, tStart: number, tEnd: number): void {
    const multiByteFollower = this.opcode !== -1 && this.count !== -2;
    if (multiByteFollower && tEnd - this.lastByteEnd < T_SDECODE_MS - 1e-9) {
      this.sim.violation(
        `byte 0x${din.toString(16)} of ${opName(this.opcode)} arrived ${((tEnd - this.lastByteEnd) * 1000).toFixed(2)} µs after the previous byte (< 4 tCLK = 1.95 µs): not decoded`,
      );
      this.opcode = -3; // the rest of this transaction is garbage to the chip
      return;
    }
    this.lastByteEnd = tEnd;
    if (this.opcode === -3) return;
    if (this.opcode === -1) {
      this.command(din, tStart);
      return;
    }
    if ((this.opcode & 0xe0) === CMD.RREG || (this.opcode & 0xe0) === CMD.WREG) {
      if (this.count === -1) {
        this.count = (din & 0x1f) + 1;
        this.index = 0;
        if ((this.opcode & 0xe0) === CMD.RREG)
          this.sim.log(`RREG ${regName(this.opcode & 0x1f)}${this.count > 1 ? `+${this.count - 1}` : ''}`);
        return;
      }
      if (this.index < this.count) {
        const reg = (this.opcode & 0x1f) + this.index;
        if ((this.opcode & 0xe0) === CMD.WREG) {
          for (const c of this.chips) c.writeRegister(reg, din);
          this.sim.log(`WREG ${regName(reg)}=0x${din.toString(16).padStart(2, '0')}`);
        }
        this.index++;
        if (this.index === this.count) this.opcode = -1;
      }
    }
  }

  private command(op: number, t: number): void {
    const chips = this.chips;
    const first = chips[0]!;
    if (op === 0x00 || op === 0xff) return; // clocking data out, not a command
    if ((op & 0xe0) === CMD.RREG || (op & 0xe0) === CMD.WREG) {
      // The chip ignores register commands in RDATAC mode; their bytes are not decoded.
      if (first.rdatac) {
        this.sim.violation(
          `${(op & 0xe0) === CMD.RREG ? 'RREG' : 'WREG'} ${regName(op & 0x1f)} sent in RDATAC mode: ignored`,
        );
        this.opcode = -3;
        return;
      }
      this.opcode = op;
      this.count = -1;
      return;
    }
    const name = opName(op);
    this.sim.log(name);
    switch (op) {
      case CMD.WAKEUP:
        for (const c of chips) c.standby = false;
        break;
      case CMD.STANDBY:
        for (const c of chips) c.standby = true;
        break;
      case CMD.RESET:
        for (const c of chips) c.reset();
        break;
      case CMD.START:
        for (const c of chips) c.start(t);
        this.sim.started();
        break;
      case CMD.STOP:
        for (const c of chips) c.converting = false;
        break;
      case CMD.RDATAC:
        for (const c of chips) c.rdatac = true;
        break;
      case CMD.SDATAC:
        for (const c of chips) c.rdatac = false;
        break;
      case CMD.RDATA:
        this.opcode = CMD.RDATA;
        this.count = -2;
        this.rdataConv = first.conversionAt(t);
        this.rdataPos = 0;
        break;
      default:
        this.sim.violation(`unknown opcode 0x${op.toString(16)}`);
    }
  }
}

class SimSpiBus implements SpiBus {
  readonly mode: SpiMode;
  private readonly txn: Transaction;

  constructor(
    readonly name: string,
    readonly clockHz: number,
    mode: SpiMode,
    chips: ChipModel[],
    private readonly sim: Ads1299Simulator,
  ) {
    this.mode = mode;
    this.txn = new Transaction(chips, sim);
  }

  transfer(tx: Uint8Array, rx: Uint8Array = new Uint8Array(tx.length), opts?: SpiTransferOptions): Uint8Array {
    if (rx.length < tx.length) throw new RangeError('transfer: rx shorter than tx');
    if (this.mode !== 1)
      this.sim.violation(`SPI mode ${this.mode}: the ADS1299 needs mode 1 (CPOL 0, CPHA 1); data would be shifted`);
    const clock = this.sim.clock;
    const byteMs = 8000 / this.clockHz;
    const gapMs = (opts?.interByteDelayUs ?? 0) / 1000;
    const stall = this.sim.pendingStallMs();
    const stuck = this.sim.stuckLevel();
    if (this.sim.spiErrorNow()) throw new Error(`${this.name}: SPI transfer failed: EIO (simulated)`);
    const t = this.txn;
    t.begin();
    for (let i = 0; i < tx.length; i++) {
      if (stall > 0 && i === tx.length >> 1) clock.advanceBy(stall);
      const tStart = clock.now();
      clock.advanceBy(byteMs);
      const out = t.exchange(tx[i]!, tStart, clock.now(), i);
      rx[i] = stuck ?? out;
      if (gapMs > 0 && i + 1 < tx.length) clock.advanceBy(gapMs);
    }
    this.sim.transfers++;
    return rx;
  }

  close(): void {
    // Nothing to release.
  }
}

/**
 * A register-level model of one or two ADS1299s behind the SpiBus and DataReadyLine interfaces,
 * on a virtual clock. `runUntil(t)` plays the conversions due by t: each one is latched into the
 * output register at its time and announced on DRDY, so a read that starts late or overlaps the
 * next conversion gets what the chip would give: a newer frame, or a torn one.
 */
export class Ads1299Simulator {
  readonly clock: VirtualClock;
  readonly chips: ChipModel[];
  readonly buses: SpiBus[];
  readonly drdy: SimDataReadyLine;
  faults: SimFaults;
  /** Every command and register access, in order (tests check the sequence). */
  readonly commandLog: string[] = [];
  /** Protocol errors the host made (register command in RDATAC, bytes too close, wrong mode). */
  readonly violations: string[] = [];
  transfers = 0;
  /** Conversions whose DRDY edge was delivered / suppressed. */
  edgesDelivered = 0;
  edgesSuppressed = 0;

  private nextConv = 0;
  private currentEdge = -1;
  private readonly counts = new Int32Array(2 * CHANNELS_PER_CHIP);
  private countsConv = -1;
  private readonly signal: SimSignal;
  private readonly latency: number;
  private readonly stuckFromStart: 0xff | 0x00 | undefined;
  private logCommands = true;
  private stalledEdge = -1;

  constructor(o: SimOptions) {
    this.clock = o.clock;
    this.signal = o.signal;
    this.faults = o.faults ?? {};
    this.latency = o.edgeLatencyMs ?? 0.02;
    this.stuckFromStart = o.stuckFromStart;
    const ids = o.ids ?? [0x3e, 0x3e];
    this.chips = [new ChipModel(0, ids[0] ?? 0x3e, this), new ChipModel(1, ids[1] ?? 0x3e, this)];
    const hz = o.spiClockHz ?? 4_000_000;
    const mode = o.spiMode ?? 1;
    this.buses =
      o.topology === 'daisy'
        ? [new SimSpiBus('sim:spidev0.0', hz, mode, this.chips, this)]
        : [
            new SimSpiBus('sim:spidev0.0', hz, mode, [this.chips[0]!], this),
            new SimSpiBus('sim:spidev0.1', hz, mode, [this.chips[1]!], this),
          ];
    this.drdy = new SimDataReadyLine('sim:drdy');
  }

  /** Whether the first chip is converting (START given, no STOP or STANDBY since). */
  get converting(): boolean {
    const c = this.chips[0]!;
    return c.converting && !c.standby;
  }

  /** Conversions played so far (the next conversion's index). */
  get conversions(): number {
    return this.nextConv;
  }

  /**
   * Plays every conversion of the first chip (whose DRDY is wired) due by `tMs`, delivering each
   * edge to the host after its latency. Returns the number of conversions played.
   */
  runUntil(tMs: number): number {
    const chip = this.chips[0]!;
    let n = 0;
    for (;;) {
      if (!chip.converting || chip.standby) return n;
      const k = this.nextConv;
      const tk = chip.t0 + k * chip.periodMs;
      if (tk > tMs) return n;
      this.nextConv++;
      n++;
      this.clock.advanceTo(tk);
      if (this.faults.missedDrdy?.(k)) {
        this.edgesSuppressed++;
        continue;
      }
      const h = this.drdy.handler;
      if (!h) continue;
      this.clock.advanceTo(tk + this.latency + (this.faults.lateDeliveryMs?.(k) ?? 0));
      this.currentEdge = k;
      this.edgesDelivered++;
      h(tk);
      this.currentEdge = -1;
    }
  }

  /** Plays the next `n` conversions. */
  runConversions(n: number): void {
    const chip = this.chips[0]!;
    if (!chip.converting) return;
    this.runUntil(chip.t0 + (this.nextConv + n - 1) * chip.periodMs);
  }

  /** Time of conversion k on the first chip. */
  conversionTime(k: number): number {
    const chip = this.chips[0]!;
    return chip.t0 + k * chip.periodMs;
  }

  /** The 16 counts of conversion k (ADC channel order), from the signal; reused array. */
  countsOf(k: number): Int32Array {
    if (k !== this.countsConv) {
      this.signal(k, this.counts);
      this.countsConv = k;
    }
    return this.counts;
  }

  /** Volts → counts for a chip channel with its current gain (for feeding analog signals). */
  voltsToCounts(adcChannel: number, volts: number, vref = 4.5): number {
    const chip = this.chips[adcChannel < CHANNELS_PER_CHIP ? 0 : 1]!;
    const gain = gainFromChset(chip.regs[REG.CH1SET + (adcChannel % CHANNELS_PER_CHIP)]!);
    const c = Math.round(volts / voltsPerCount(vref, gain));
    return c > 0x7fffff ? 0x7fffff : c < -0x800000 ? -0x800000 : c;
  }

  /** Register value as the chip holds it (tests read it without the bus). */
  register(chip: number, reg: number): number {
    return this.chips[chip]!.regs[reg]!;
  }

  /** Stop recording the command log (long streams). */
  quiet(): void {
    this.logCommands = false;
  }

  log(s: string): void {
    if (this.logCommands) this.commandLog.push(s);
  }

  violation(s: string): void {
    this.violations.push(s);
  }

  /** @internal START resets the conversion count. */
  started(): void {
    this.nextConv = 0;
  }

  /** @internal A stall hits the first transfer after its edge only. */
  pendingStallMs(): number {
    const k = this.currentEdge;
    if (k < 0 || k === this.stalledEdge) return 0;
    const ms = this.faults.stallMs?.(k) ?? 0;
    if (ms > 0) this.stalledEdge = k;
    return ms;
  }

  /** @internal */
  spiErrorNow(): boolean {
    return this.currentEdge >= 0 && (this.faults.spiError?.(this.currentEdge) ?? false);
  }

  /** @internal */
  stuckLevel(): number | undefined {
    if (this.stuckFromStart !== undefined) return this.stuckFromStart;
    return this.currentEdge >= 0 ? this.faults.stuckBus?.(this.currentEdge) : undefined;
  }
}

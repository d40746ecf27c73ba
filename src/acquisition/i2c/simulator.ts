import type { VirtualClock } from '../clock.js';
import type { I2cBus } from '../bindings/types.js';
import type { SimPlayer } from '../device.js';
import { SimDataReadyLine } from '../sim-drdy.js';
import { CONTROL_RESET, CONTROL_START, I2C_ADC_ID, I2C_REG } from './registers.js';

/** Fills `counts` (one entry per channel) with conversion `k`'s codes. */
export type I2cSimSignal = (k: number, counts: Int32Array) => void;

/** Faults the model injects, by conversion index (counted from START). */
export interface I2cSimFaults {
  /** The DRDY pulse of conversion k never reaches the host (the conversion itself happens). */
  missedDrdy?(k: number): boolean;
  /** From this conversion on the data-ready line stays silent until the chip is set up again. */
  drdyLostAt?: number;
  /** The device holds SDA low during transactions after edge k: the adapter times out. */
  stuckBus?(k: number): boolean;
  /** The device does not acknowledge its address during transactions after edge k (busy, browning out). */
  nack?(k: number): boolean;
  /** The device stretches SCL this long (µs) after its address in transactions after edge k. */
  stretchUs?(k: number): number;
}

export interface I2cSimOptions {
  readonly clock: VirtualClock;
  readonly address: number;
  readonly busHz: number;
  readonly channels: number;
  readonly bitsPerSample: number;
  readonly dataRegister: number;
  readonly signal: I2cSimSignal;
  readonly faults?: I2cSimFaults;
  /** Host latency from a DRDY edge to the handler, in ms. */
  readonly edgeLatencyMs?: number;
}

/** An error as the Linux I2C adapter reports it (errno code on the error, as i2c-bus passes it on). */
function busError(message: string, code: string): Error {
  return Object.assign(new Error(`${message} (${code}, simulated)`), { code });
}

/**
 * A transaction-level model of the I2C ADC behind the I2cBus and DataReadyLine interfaces, on a
 * virtual clock: every START, address byte (ACK or NACK), register-pointer byte, repeated START,
 * data byte and STOP costs its SCL clocks; the register pointer auto-increments across a block
 * read; a read returns the conversion latched when the read phase began.
 */
export class I2cAdcSimulator implements SimPlayer {
  readonly clock: VirtualClock;
  readonly drdy = new SimDataReadyLine('sim:drdy');
  readonly bus: I2cBus;
  faults: I2cSimFaults;
  /** Transactions and how they ended (tests check them). */
  readonly counters = { transactions: 0, nacks: 0, timeouts: 0, stretchedUs: 0, edgesDelivered: 0, edgesSuppressed: 0 };

  private readonly regs = new Uint8Array(256);
  private readonly counts: Int32Array;
  private readonly bytesPerSample: number;
  private readonly bitMs: number;
  private converting = false;
  private t0 = 0;
  private periodMs = 0.5;
  private nextConv = 0;
  private currentEdge = -1;
  private latchedConv = -2;
  private readonly latency: number;

  constructor(private readonly o: I2cSimOptions) {
    this.clock = o.clock;
    this.faults = o.faults ?? {};
    this.latency = o.edgeLatencyMs ?? 0.02;
    this.counts = new Int32Array(o.channels);
    this.bytesPerSample = Math.ceil(o.bitsPerSample / 8);
    this.bitMs = 1000 / o.busHz;
    this.reset();
    this.bus = {
      name: `sim:i2c@0x${o.address.toString(16)}`,
      readRegisters: (address: number, register: number, out: Uint8Array): void => {
        this.read(address, register, out);
      },
      writeRegister: (address: number, register: number, value: number): void => {
        this.write(address, register, value);
      },
      close(): void {
        // Nothing to release.
      },
    };
  }

  get conversions(): number {
    return this.nextConv;
  }

  get isConverting(): boolean {
    return this.converting;
  }

  conversionTime(k: number): number {
    return this.t0 + k * this.periodMs;
  }

  /** Register value as the device holds it (tests read it without the bus). */
  register(reg: number): number {
    return this.regs[reg]!;
  }

  /** Plays every conversion due by `tMs`, delivering each edge after its latency. */
  runUntil(tMs: number): number {
    let n = 0;
    for (;;) {
      if (!this.converting) return n;
      const k = this.nextConv;
      const tk = this.t0 + k * this.periodMs;
      if (tk > tMs) return n;
      this.nextConv++;
      n++;
      this.clock.advanceTo(tk);
      const lostAt = this.faults.drdyLostAt;
      if ((lostAt !== undefined && lostAt > 0 && k >= lostAt) || this.faults.missedDrdy?.(k)) {
        this.counters.edgesSuppressed++;
        continue;
      }
      const h = this.drdy.handler;
      if (!h) continue;
      this.clock.advanceTo(tk + this.latency);
      this.currentEdge = k;
      this.counters.edgesDelivered++;
      h(tk);
      this.currentEdge = -1;
    }
  }

  runConversions(n: number): void {
    if (!this.converting) return;
    this.runUntil(this.t0 + (this.nextConv + n - 1) * this.periodMs);
  }

  private reset(): void {
    this.regs.fill(0);
    this.regs[I2C_REG.RATE_HI] = 0x07; // 2000 Hz
    this.regs[I2C_REG.RATE_LO] = 0xd0;
    this.regs[I2C_REG.ID] = I2C_ADC_ID;
    this.converting = false;
    this.latchedConv = -2;
  }

  private bits(n: number): void {
    this.clock.advanceBy(n * this.bitMs);
  }

  /** START, then the address byte and its ACK bit; throws as the adapter does on a NACK or a stuck SDA. */
  private addressPhase(address: number, first: boolean): void {
    const k = this.currentEdge;
    this.bits(1);
    if (first) this.counters.transactions++;
    if (k >= 0 && this.faults.stuckBus?.(k)) {
      // SDA held low: the master cannot even produce a START; the adapter gives up after its timeout.
      this.clock.advanceBy(1);
      this.counters.timeouts++;
      throw busError(`${this.bus.name}: bus stuck, SDA held low`, 'ETIMEDOUT');
    }
    this.bits(9);
    if (address !== this.o.address || (k >= 0 && this.faults.nack?.(k))) {
      this.bits(1); // STOP after the NACK
      this.counters.nacks++;
      throw busError(`${this.bus.name}: no ACK from address 0x${address.toString(16)}`, 'ENXIO');
    }
    const stretch = k >= 0 ? (this.faults.stretchUs?.(k) ?? 0) : 0;
    if (stretch > 0) {
      this.clock.advanceBy(stretch / 1000);
      this.counters.stretchedUs += stretch;
    }
  }

  private read(address: number, register: number, out: Uint8Array): void {
    this.addressPhase(address, true);
    this.bits(9); // register pointer
    this.addressPhase(address, false); // repeated START, address + R
    // The read phase latches the newest complete conversion into the output registers.
    this.latch(this.conversionAt(this.clock.now()));
    let p = register;
    for (let i = 0; i < out.length; i++, p = (p + 1) & 0xff) {
      this.bits(9);
      out[i] = this.regs[p]!;
    }
    this.bits(1); // STOP
  }

  private write(address: number, register: number, value: number): void {
    this.addressPhase(address, true);
    this.bits(18 + 1);
    if (register === I2C_REG.ID || register < I2C_REG.CONTROL) return; // read-only: ignored
    if (register === I2C_REG.CONTROL) {
      if (value & CONTROL_RESET) {
        this.reset();
        return;
      }
      if (value & CONTROL_START && !this.converting) {
        const rate = (this.regs[I2C_REG.RATE_HI]! << 8) | this.regs[I2C_REG.RATE_LO]!;
        this.periodMs = 1000 / Math.max(1, rate);
        this.converting = true;
        this.t0 = this.clock.now() + this.periodMs;
        this.nextConv = 0;
      } else if (!(value & CONTROL_START)) {
        this.converting = false;
      }
      this.regs[register] = value & CONTROL_START;
      return;
    }
    this.regs[register] = value & 0xff;
  }

  private conversionAt(t: number): number {
    if (!this.converting || t < this.t0) return -1;
    return Math.floor((t - this.t0) / this.periodMs + 1e-9);
  }

  /** Writes conversion k into the data block (big-endian two's complement, left-aligned). */
  private latch(k: number): void {
    if (k === this.latchedConv) return;
    this.latchedConv = k;
    const { counts, bytesPerSample: n } = this;
    if (k < 0) counts.fill(0);
    else this.o.signal(k, counts);
    const pad = n * 8 - this.o.bitsPerSample;
    let p = this.o.dataRegister;
    for (let c = 0; c < counts.length; c++) {
      let v = (counts[c]! << pad) >>> 0;
      for (let i = n - 1; i >= 0; i--) {
        this.regs[(p + i) & 0xff] = v & 0xff;
        v >>>= 8;
      }
      p += n;
    }
  }
}

/**
 * The small hardware interfaces the acquisition code is written against. Real bindings
 * (spi-device, onoff, libgpiod's gpiomon, i2c-bus) and the register-level simulator both
 * implement them, so the driver that runs on the base station is the one the tests drive.
 */

export type SpiMode = 0 | 1 | 2 | 3;

export interface SpiTransferOptions {
  /**
   * Pause after every byte, in microseconds. Chips that decode commands byte by byte (the
   * ADS1299 needs 4 tCLK between the bytes of a multi-byte command) need it at fast clocks.
   */
  readonly interByteDelayUs?: number;
}

/** One SPI device: one chip select on one bus. Synchronous: the acquisition worker owns its thread. */
export interface SpiBus {
  /** For messages: e.g. /dev/spidev0.0. */
  readonly name: string;
  readonly clockHz: number;
  readonly mode: SpiMode;
  /**
   * Full duplex: clocks `tx` out while clocking as many bytes into `rx`, chip select held low for
   * the whole transfer. Returns `rx` (a new array when none is given; the hot path passes one).
   */
  transfer(tx: Uint8Array, rx?: Uint8Array, opts?: SpiTransferOptions): Uint8Array;
  close(): void;
}

/** Called once per active (falling) DRDY edge, with the edge's time in ms on the driver's Clock. */
export type EdgeHandler = (timeMs: number) => void;

/** The ADC's data-ready output, as edge events. */
export interface DataReadyLine {
  /** For messages: e.g. gpiochip0 line 25. */
  readonly name: string;
  /**
   * True when each edge's time is stamped by the kernel at the edge (GPIO character device);
   * false when it is the time the event reached this thread (sysfs), which hides lateness.
   */
  readonly kernelTimestamps: boolean;
  /** Starts delivering edges; resolves once the line is being watched. `onError` reports a line that dies later. */
  start(onEdge: EdgeHandler, onError: (e: Error) => void): Promise<void>;
  /** Stops delivering edges and releases the line. Idempotent. */
  stop(): void;
}

/** A register-mapped device on an I2C bus. */
export interface I2cBus {
  /** For messages: e.g. /dev/i2c-1. */
  readonly name: string;
  /** Reads `out.length` consecutive registers starting at `register` (one combined transaction). */
  readRegisters(address: number, register: number, out: Uint8Array): void;
  writeRegister(address: number, register: number, value: number): void;
  close(): void;
}

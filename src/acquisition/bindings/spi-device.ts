import type * as SpiDeviceLib from 'spi-device';
import { UserError, errorMessage } from '../../common/errors.js';
import { SPI_DEVICE, checkDeviceNode, deviceError } from './device-check.js';
import type { SpiBus, SpiMode, SpiTransferOptions } from './types.js';

type SpiDeviceModule = typeof SpiDeviceLib;
type SpiDevice = ReturnType<SpiDeviceModule['openSync']>;
type SpiMessage = Parameters<SpiDevice['transferSync']>[0];

/** Loads spi-device on first use, so machines without its native part run everything else. */
async function loadSpiDevice(): Promise<SpiDeviceModule> {
  try {
    const m = (await import('spi-device')) as SpiDeviceModule & { default?: SpiDeviceModule };
    return m.default ?? m;
  } catch (e) {
    throw new UserError(
      `SPI: the optional module spi-device is not available (${errorMessage(e)}); install it with npm (its native part needs g++ and Node headers)`,
    );
  }
}

/** /dev/spidev<bus>.<chipSelect> through spi-device (the kernel's spidev ioctl interface). */
export async function openSpiDevice(bus: number, chipSelect: number, clockHz: number, mode: SpiMode): Promise<SpiBus> {
  const path = `/dev/spidev${bus}.${chipSelect}`;
  checkDeviceNode(path, SPI_DEVICE);
  const spi = await loadSpiDevice();
  let dev: SpiDevice;
  try {
    dev = spi.openSync(bus, chipSelect, { mode, maxSpeedHz: clockHz });
  } catch (e) {
    throw deviceError(path, SPI_DEVICE, e);
  }
  return new SpiDeviceBus(path, dev, clockHz, mode);
}

class SpiDeviceBus implements SpiBus {
  private lastTx: Uint8Array | undefined;
  private lastRx: Uint8Array | undefined;
  private message: SpiMessage = [];

  constructor(
    readonly name: string,
    private readonly dev: SpiDevice,
    readonly clockHz: number,
    readonly mode: SpiMode,
  ) {}

  transfer(tx: Uint8Array, rx: Uint8Array = new Uint8Array(tx.length), opts?: SpiTransferOptions): Uint8Array {
    const delay = opts?.interByteDelayUs ?? 0;
    if (delay > 0) {
      // Set-up path: one transfer per byte, chip select held, a pause after each.
      const msg: SpiMessage = [];
      for (let i = 0; i < tx.length; i++) {
        msg.push({
          byteLength: 1,
          sendBuffer: Buffer.from(tx.buffer, tx.byteOffset + i, 1),
          receiveBuffer: Buffer.from(rx.buffer, rx.byteOffset + i, 1),
          speedHz: this.clockHz,
          microSecondDelay: delay,
        });
      }
      this.dev.transferSync(msg);
      return rx;
    }
    // Frame path: the driver reuses its buffers, so the message (and its Buffer views) is built once.
    if (tx !== this.lastTx || rx !== this.lastRx) {
      this.message = [
        {
          byteLength: tx.length,
          sendBuffer: Buffer.from(tx.buffer, tx.byteOffset, tx.length),
          receiveBuffer: Buffer.from(rx.buffer, rx.byteOffset, tx.length),
          speedHz: this.clockHz,
        },
      ];
      this.lastTx = tx;
      this.lastRx = rx;
    }
    this.dev.transferSync(this.message);
    return rx;
  }

  close(): void {
    try {
      this.dev.closeSync();
    } catch {
      // Closing twice, or after the device vanished, leaves nothing to release.
    }
  }
}

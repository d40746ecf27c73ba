import { UserError, errorMessage } from '../../common/errors.js';
import { I2C_DEVICE, checkDeviceNode, deviceError } from './device-check.js';
import type { I2cBus } from './types.js';

/** The part of i2c-bus's synchronous API we use (the package ships no type declarations). */
interface I2cBusHandle {
  readI2cBlockSync(address: number, command: number, length: number, buffer: Buffer): number;
  writeByteSync(address: number, command: number, byte: number): void;
  closeSync(): void;
}
interface I2cBusModule {
  openSync(busNumber: number): I2cBusHandle;
}

async function loadI2cBus(): Promise<I2cBusModule> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- `as string` keeps tsc from resolving i2c-bus, which ships no types and is optional
    const m = (await import('i2c-bus' as string)) as I2cBusModule & { default?: I2cBusModule };
    return m.default ?? m;
  } catch (e) {
    throw new UserError(
      `I2C: the optional module i2c-bus is not available (${errorMessage(e)}); install it with npm (its native part needs g++ and Node headers)`,
    );
  }
}

/** /dev/i2c-<bus> through i2c-bus (SMBus block reads, I2C_RDWR under the hood). */
export async function openI2cBus(bus: number): Promise<I2cBus> {
  const path = `/dev/i2c-${bus}`;
  checkDeviceNode(path, I2C_DEVICE);
  const mod = await loadI2cBus();
  let h: I2cBusHandle;
  try {
    h = mod.openSync(bus);
  } catch (e) {
    throw deviceError(path, I2C_DEVICE, e);
  }
  return new I2cBusBinding(path, h);
}

class I2cBusBinding implements I2cBus {
  private view: Buffer | undefined;
  private viewOf: Uint8Array | undefined;

  constructor(
    readonly name: string,
    private readonly h: I2cBusHandle,
  ) {}

  readRegisters(address: number, register: number, out: Uint8Array): void {
    if (out !== this.viewOf) {
      this.view = Buffer.from(out.buffer, out.byteOffset, out.length);
      this.viewOf = out;
    }
    const n = this.h.readI2cBlockSync(address, register, out.length, this.view!);
    if (n !== out.length)
      throw new Error(`I2C ${this.name}: read ${n} of ${out.length} bytes from 0x${address.toString(16)}`);
  }

  writeRegister(address: number, register: number, value: number): void {
    this.h.writeByteSync(address, register, value);
  }

  close(): void {
    try {
      this.h.closeSync();
    } catch {
      // Already closed.
    }
  }
}

import { accessSync, constants, existsSync } from 'node:fs';
import { UserError } from '../../common/errors.js';

const DOC = 'see docs/acquisition.md';

export interface DeviceKind {
  /** What the node is for, as the user knows it: "SPI", "DRDY GPIO", "I2C". */
  readonly what: string;
  /** How to make the node appear. */
  readonly enable: string;
  /** The group (and udev rule) that grants access. */
  readonly group: string;
}

export const SPI_DEVICE: DeviceKind = {
  what: 'SPI',
  enable:
    'enable the SPI controller (Raspberry Pi: dtparam=spi=on; Jetson: sudo /opt/nvidia/jetson-io/jetson-io.py, SPI1) and check acquisition.ads1299.spi_bus/chip_selects',
  group: 'spi',
};
export const GPIO_CHIP: DeviceKind = {
  what: 'DRDY GPIO',
  enable: 'check acquisition.ads1299.drdy_chip (gpiodetect lists the chips)',
  group: 'gpio',
};
export const I2C_DEVICE: DeviceKind = {
  what: 'I2C',
  enable: 'enable the I2C controller (Raspberry Pi: dtparam=i2c_arm=on; load i2c-dev) and check acquisition.i2c.bus',
  group: 'i2c',
};

/**
 * Refuses, with a message naming the node, a device node that is missing or that this user may
 * not open for reading and writing. Runs before any native module is loaded.
 */
export function checkDeviceNode(path: string, kind: DeviceKind): void {
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
  } catch (e) {
    throw deviceError(path, kind, e);
  }
}

/** Turns an open()/ioctl() failure on `path` into a UserError that says what to do. */
export function deviceError(path: string, kind: DeviceKind, e: unknown): UserError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new UserError(`${kind.what}: ${path} does not exist: ${kind.enable} (${DOC})`);
  if (code === 'EACCES' || code === 'EPERM') {
    return new UserError(
      `${kind.what}: permission denied on ${path}: add the service user to group "${kind.group}" and install the udev rule from ${DOC} (then log in again)`,
    );
  }
  if (code === 'EBUSY') return new UserError(`${kind.what}: ${path} is busy: another process holds it`);
  return new UserError(`${kind.what}: cannot open ${path} (${code ?? (e as Error).message})`);
}

/** /dev/gpiochipN for "gpiochipN", "N" or a path; undefined for a chip named by label. */
export function gpioChipPath(chip: string): string | undefined {
  if (chip.startsWith('/')) return chip;
  if (/^\d+$/.test(chip)) return `/dev/gpiochip${chip}`;
  if (/^gpiochip\d+$/.test(chip)) return `/dev/${chip}`;
  return undefined;
}

export const SYSFS_GPIO = '/sys/class/gpio';

/** Refuses the sysfs binding where the kernel has no sysfs GPIO, or this user may not export. */
export function checkSysfsGpio(root = SYSFS_GPIO): void {
  if (!existsSync(root)) {
    throw new UserError(
      `DRDY GPIO: ${root} does not exist: this kernel has no sysfs GPIO (removed on JetPack 6 and on kernels built without CONFIG_GPIO_SYSFS); ` +
        `set acquisition.gpio_binding: chardev (${DOC})`,
    );
  }
  try {
    accessSync(`${root}/export`, constants.W_OK);
  } catch (e) {
    throw deviceError(`${root}/export`, GPIO_CHIP, e);
  }
}

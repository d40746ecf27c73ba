import type { Clock } from '../clock.js';
import { GPIO_CHIP, checkDeviceNode, checkSysfsGpio, gpioChipPath } from './device-check.js';
import { gpiomonMajorVersion } from './gpio-chardev.js';
import type { DrdyBindingConfig } from '../worker-config.js';
import type { DataReadyLine } from './types.js';

/** Opens a real ADC's data-ready line; the native binding loads here, on the caller's thread, and only for hardware. */
export async function openDrdyLine(hw: DrdyBindingConfig, clock: Clock): Promise<DataReadyLine> {
  return hw.gpioBinding === 'sysfs'
    ? (await import('./gpio-sysfs.js')).openSysfsDrdy(hw.drdyLine, clock)
    : (await import('./gpio-chardev.js')).openChardevDrdy(
        { gpiomon: hw.gpiomon, chip: hw.drdyChip, line: hw.drdyLine },
        clock,
      );
}

/** The DRDY line's node, permissions and tool, checked on the main thread before anything starts. */
export function preflightDrdy(binding: DrdyBindingConfig['gpioBinding'], drdyChip: string, gpiomon: string): void {
  if (binding === 'sysfs') {
    checkSysfsGpio();
  } else {
    const chip = gpioChipPath(drdyChip);
    if (chip) checkDeviceNode(chip, GPIO_CHIP);
    gpiomonMajorVersion(gpiomon);
  }
}

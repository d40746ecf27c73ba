import type * as OnoffLib from 'onoff';
import { UserError, errorMessage } from '../../common/errors.js';
import type { Clock } from '../clock.js';
import { GPIO_CHIP, SYSFS_GPIO, checkSysfsGpio, deviceError } from './device-check.js';
import type { DataReadyLine, EdgeHandler } from './types.js';

type OnoffModule = typeof OnoffLib;
type Gpio = InstanceType<OnoffModule['Gpio']>;

async function loadOnoff(): Promise<OnoffModule> {
  try {
    const m = (await import('onoff')) as OnoffModule & { default?: OnoffModule };
    return m.default ?? m;
  } catch (e) {
    throw new UserError(
      `DRDY GPIO (sysfs): the optional module onoff is not available (${errorMessage(e)}); install it, or use acquisition.gpio_binding: chardev`,
    );
  }
}

/**
 * DRDY through the legacy sysfs GPIO interface (onoff: export, edge = falling, epoll on the
 * value file). sysfs carries no event timestamps, so each edge is stamped when its callback
 * runs; edges that arrive while the thread is busy coalesce into one event. Lost frames are
 * then seen only as long intervals between edges. Prefer the chardev binding where it exists.
 */
export async function openSysfsDrdy(gpio: number, clock: Clock, root = SYSFS_GPIO): Promise<DataReadyLine> {
  checkSysfsGpio(root);
  const onoff = await loadOnoff();
  return new SysfsLine(gpio, onoff, clock);
}

class SysfsLine implements DataReadyLine {
  readonly kernelTimestamps = false;
  readonly name: string;
  private gpio: Gpio | undefined;

  constructor(
    private readonly number: number,
    private readonly onoff: OnoffModule,
    private readonly clock: Clock,
  ) {
    this.name = `sysfs GPIO ${number}`;
  }

  async start(onEdge: EdgeHandler, onError: (e: Error) => void): Promise<void> {
    try {
      this.gpio = new this.onoff.Gpio(this.number, 'in', 'falling');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EINVAL') {
        throw new UserError(
          `DRDY GPIO: sysfs GPIO ${this.number} does not exist on this board (sysfs numbers are global: base of the chip + offset; ` +
            'JetPack 5 names Orin pins by port, e.g. PQ.05); check acquisition.ads1299.drdy_line or use gpio_binding: chardev',
        );
      }
      throw deviceError(`${SYSFS_GPIO}/gpio${this.number}`, GPIO_CHIP, e);
    }
    const clock = this.clock;
    this.gpio.watch((err) => {
      if (err) onError(new Error(`DRDY GPIO ${this.number}: ${err.message}`));
      else onEdge(clock.now());
    });
  }

  stop(): void {
    const g = this.gpio;
    this.gpio = undefined;
    if (!g) return;
    try {
      g.unwatchAll();
      g.unexport();
    } catch {
      // Already unexported.
    }
  }
}

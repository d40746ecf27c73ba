import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { UserError } from '../../common/errors.js';
import { type Clock, monotonicOffsetMs } from '../clock.js';
import { GPIO_CHIP, checkDeviceNode, gpioChipPath } from './device-check.js';
import type { DataReadyLine, EdgeHandler } from './types.js';

/**
 * DRDY through the GPIO character device (/dev/gpiochipN), the kernel's current GPIO interface
 * and the only one on JetPack 6. libgpiod's Node addons need libgpiod's headers at build time,
 * so this binding runs libgpiod's own `gpiomon` (package gpiod) and reads its event lines: the
 * kernel stamps each edge when it happens (CLOCK_MONOTONIC), and the kernel's event queue keeps
 * every edge even when this thread is late, so both missed and late frames stay visible.
 *
 * The pipe adds delivery latency (tens of µs) but not timing error: the driver judges lateness
 * from the kernel's timestamp, not from when the line arrived.
 */
export interface GpiomonOptions {
  readonly gpiomon: string;
  readonly chip: string;
  readonly line: number;
}

export async function openChardevDrdy(o: GpiomonOptions, clock: Clock): Promise<DataReadyLine> {
  const path = gpioChipPath(o.chip);
  if (path) checkDeviceNode(path, GPIO_CHIP);
  const major = gpiomonMajorVersion(o.gpiomon);
  return new GpiomonLine(o, major, clock);
}

/** Runs `gpiomon --version`; refuses a missing or unrecognised tool. */
export function gpiomonMajorVersion(gpiomon: string): 1 | 2 {
  const r = spawnSync(gpiomon, ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new UserError(
        `DRDY GPIO (chardev): ${gpiomon} not found: install libgpiod's tools (apt install gpiod) or set acquisition.ads1299.gpiomon to its path`,
      );
    }
    throw new UserError(`DRDY GPIO (chardev): cannot run ${gpiomon} (${code ?? r.error.message})`);
  }
  const m = /v(\d+)\.\d+/.exec(`${r.stdout}${r.stderr}`);
  if (!m)
    throw new UserError(
      `DRDY GPIO (chardev): ${gpiomon} --version printed no libgpiod version (got "${(r.stdout || r.stderr).trim().slice(0, 80)}")`,
    );
  return Number(m[1]) >= 2 ? 2 : 1;
}

/** The command line that prints one "seconds nanoseconds" (v1) or "seconds.nanoseconds" (v2) line per falling edge. */
export function gpiomonArgs(o: GpiomonOptions, major: 1 | 2): string[] {
  const chip = gpioChipPath(o.chip) ?? o.chip;
  if (major === 1) return ['--falling-edge', '--line-buffered', '--format=%s %n', chip, String(o.line)];
  // v2 flushes after every batch of events it reads; --banner tells us the line is requested.
  return ['--banner', '--edges=falling', '--format=%S', '--chip', chip, String(o.line)];
}

/**
 * Incremental parser of gpiomon's event lines into timestamps in ms. Works on raw bytes so that
 * 2000 lines a second cost no string allocation. Lines that are not a timestamp (the banner) are
 * skipped.
 */
export class GpiomonParser {
  private sec = 0;
  private frac = 0;
  private fracDigits = 0;
  private part = 0; // 0: seconds, 1: fraction (after '.' or ' '), 2: ignore rest of line
  private digits = 0;
  private decimal = false;
  private junk = false;

  constructor(private readonly onTimestamp: (ms: number) => void) {}

  push(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b === 0x0a) {
        this.endLine();
        continue;
      }
      if (this.part === 2 || this.junk) continue;
      if (b >= 0x30 && b <= 0x39) {
        if (this.part === 0) this.sec = this.sec * 10 + (b - 0x30);
        else if (this.fracDigits < 9) {
          this.frac = this.frac * 10 + (b - 0x30);
          this.fracDigits++;
        }
        this.digits++;
      } else if ((b === 0x2e || b === 0x20) && this.part === 0 && this.digits > 0) {
        this.part = 1;
        this.decimal = b === 0x2e;
      } else if (b === 0x20 || b === 0x09 || b === 0x0d) {
        if (this.part === 1 && this.fracDigits > 0) this.part = 2;
      } else {
        this.junk = true;
      }
    }
  }

  private endLine(): void {
    if (!this.junk && this.part >= 1 && this.fracDigits > 0) {
      // "%s %n" (v1) prints whole nanoseconds; "%S" (v2) prints a decimal fraction of a second.
      const ns = this.decimal ? this.frac * 10 ** (9 - this.fracDigits) : this.frac;
      this.onTimestamp(this.sec * 1000 + ns / 1e6);
    }
    this.sec = 0;
    this.frac = 0;
    this.fracDigits = 0;
    this.part = 0;
    this.digits = 0;
    this.decimal = false;
    this.junk = false;
  }
}

class GpiomonLine implements DataReadyLine {
  readonly kernelTimestamps = true;
  readonly name: string;
  private child: ChildProcess | undefined;
  private stopping = false;

  constructor(
    private readonly o: GpiomonOptions,
    private readonly major: 1 | 2,
    private readonly clock: Clock,
  ) {
    this.name = `${o.chip} line ${o.line} (gpiomon v${major})`;
  }

  start(onEdge: EdgeHandler, onError: (e: Error) => void): Promise<void> {
    const args = gpiomonArgs(this.o, this.major);
    // Kernel timestamps are CLOCK_MONOTONIC (kernels before 5.7: CLOCK_REALTIME); map either onto the clock.
    const monoOffset = monotonicOffsetMs();
    let offset: number | undefined;
    const clock = this.clock;
    const parser = new GpiomonParser((ms) => {
      if (offset === undefined) {
        const now = clock.now();
        offset = Math.abs(ms - (now + monoOffset)) < 60_000 ? monoOffset : performance.timeOrigin;
      }
      onEdge(ms - offset);
    });
    let stderr = '';
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (e?: Error): void => {
        if (settled) {
          if (e && !this.stopping) onError(e);
          return;
        }
        settled = true;
        if (e) reject(e);
        else resolve();
      };
      const child = spawn(this.o.gpiomon, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      this.child = child;
      child.stdout.on('data', (chunk: Buffer) => {
        if (!settled && this.major === 2) settle();
        parser.push(chunk);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString('utf8')).slice(-2000);
      });
      child.on('error', (e) =>
        settle(new UserError(`DRDY GPIO (chardev): cannot run ${this.o.gpiomon}: ${e.message}`)),
      );
      child.on('exit', (code, sig) => {
        this.child = undefined;
        if (this.stopping) return;
        settle(gpiomonError(this.o, code, sig, stderr));
      });
      // v1 prints nothing until the first edge; give it time to fail on a bad line or permission.
      if (this.major === 1) setTimeout(() => settle(), 300).unref();
    });
  }

  stop(): void {
    this.stopping = true;
    this.child?.kill('SIGTERM');
    this.child = undefined;
  }
}

/** Turns gpiomon's exit into a message that names the chip, the line and the cause. */
export function gpiomonError(
  o: GpiomonOptions,
  code: number | null,
  sig: NodeJS.Signals | null,
  stderr: string,
): UserError {
  const where = `${o.chip} line ${o.line}`;
  const text = stderr.trim().split('\n').pop() ?? '';
  if (/permission denied/i.test(stderr)) {
    return new UserError(
      `DRDY GPIO: permission denied on ${gpioChipPath(o.chip) ?? o.chip}: add the service user to group "gpio" and install the udev rule from docs/acquisition.md`,
    );
  }
  if (/no such file|cannot find|not found|does not exist/i.test(stderr)) {
    return new UserError(`DRDY GPIO: ${where} not found (${text}); gpiodetect and gpioinfo list chips and lines`);
  }
  if (/busy/i.test(stderr))
    return new UserError(`DRDY GPIO: ${where} is in use by another consumer (gpioinfo shows which)`);
  return new UserError(`DRDY GPIO: gpiomon for ${where} exited (${sig ?? `code ${code}`})${text ? `: ${text}` : ''}`);
}

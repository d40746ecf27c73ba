import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../src/common/errors.js';
import { monotonicClock } from '../src/acquisition/clock.js';
import {
  GPIO_CHIP,
  SPI_DEVICE,
  checkDeviceNode,
  checkSysfsGpio,
  deviceError,
  gpioChipPath,
} from '../src/acquisition/bindings/device-check.js';
import {
  GpiomonParser,
  gpiomonArgs,
  gpiomonError,
  gpiomonMajorVersion,
  openChardevDrdy,
} from '../src/acquisition/bindings/gpio-chardev.js';
import { openSysfsDrdy } from '../src/acquisition/bindings/gpio-sysfs.js';
import { openI2cBus } from '../src/acquisition/bindings/i2c-bus.js';
import { openSpiDevice } from '../src/acquisition/bindings/spi-device.js';
import type { I2cBus } from '../src/acquisition/bindings/types.js';
import { I2cAdcTransport, checkI2cBandwidth, i2cBitsPerSample } from '../src/acquisition/i2c-transport.js';

function userError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    return e.message;
  }
  return assert.fail('expected a UserError');
}

test('gpiomon output parser: v1 "%s %n" and v2 "%S" lines, split anywhere, banner skipped', () => {
  const got: number[] = [];
  const p = new GpiomonParser((ms) => got.push(ms));
  const text = "Monitoring line '25'...\n1234.000500000\n1234 1000500\n99.5\n 7 12\r\ngarbage line\n";
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += 3) p.push(bytes.subarray(i, i + 3));
  assert.deepEqual(got, [1234000.5, 1234001.0005, 99500, 7000.000012]);
});

test('gpiomon command lines for libgpiod v1 and v2 ask for falling edges and timestamps only', () => {
  const o = { gpiomon: 'gpiomon', chip: 'gpiochip0', line: 25 };
  assert.deepEqual(gpiomonArgs(o, 1), ['--falling-edge', '--line-buffered', '--format=%s %n', '/dev/gpiochip0', '25']);
  assert.deepEqual(gpiomonArgs(o, 2), ['--banner', '--edges=falling', '--format=%S', '--chip', '/dev/gpiochip0', '25']);
  assert.equal(gpioChipPath('3'), '/dev/gpiochip3');
  assert.equal(gpioChipPath('/dev/gpiochip1'), '/dev/gpiochip1');
  assert.equal(gpioChipPath('tegra234-gpio'), undefined, 'a label is left to gpiomon to resolve');
});

/** A stand-in for libgpiod's gpiomon: prints a version, or a banner then timestamped edges. */
function fakeGpiomon(dir: string, version: 1 | 2, behaviour: 'edges' | 'denied' | 'busy'): string {
  const path = join(dir, `gpiomon-v${version}-${behaviour}`);
  writeFileSync(
    path,
    `#!${process.execPath}
const v = ${version};
if (process.argv.includes('--version')) { console.log('gpiomon (libgpiod) v' + v + '.6.3'); process.exit(0); }
if (${JSON.stringify(behaviour)} === 'denied') { console.error('gpiomon: unable to request lines on chip /dev/gpiochip0: Permission denied'); process.exit(1); }
if (${JSON.stringify(behaviour)} === 'busy') { console.error('gpiomon: unable to request lines: Device or resource busy'); process.exit(1); }
if (v === 2) console.log("Monitoring line '25'...");
let n = 0;
const tick = () => {
  const ns = process.hrtime.bigint();
  const s = ns / 1000000000n, f = ns % 1000000000n;
  process.stdout.write(v === 2 ? s + '.' + String(f).padStart(9, '0') + '\\n' : s + ' ' + f + '\\n');
  if (++n < 50) setTimeout(tick, 1);
};
setTimeout(tick, 20);
setInterval(() => {}, 1000);
`,
  );
  chmodSync(path, 0o755);
  return path;
}

for (const version of [1, 2] as const) {
  test(`chardev binding (gpiomon v${version}): kernel timestamps arrive on the driver's clock, in order`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'myo-gpiomon-'));
    const gpiomon = fakeGpiomon(dir, version, 'edges');
    assert.equal(gpiomonMajorVersion(gpiomon), version);
    const line = await openChardevDrdy({ gpiomon, chip: 'fakechip', line: 25 }, monotonicClock);
    assert.equal(line.kernelTimestamps, true);
    const edges: number[] = [];
    const errors: Error[] = [];
    await line.start(
      (t) => edges.push(t),
      (e) => errors.push(e),
    );
    const until = Date.now() + 5000;
    while (edges.length < 50 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    line.stop();
    assert.equal(edges.length, 50);
    assert.deepEqual(errors, []);
    const now = monotonicClock.now();
    for (let i = 0; i < edges.length; i++) {
      assert.ok(
        edges[i]! <= now + 1 && edges[i]! > now - 5000,
        `edge ${i} at ${edges[i]} is on this thread's clock (now ${now})`,
      );
      if (i > 0) assert.ok(edges[i]! > edges[i - 1]!);
    }
  });
}

test('chardev binding: gpiomon failures become UserErrors naming the line and the fix', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'myo-gpiomon-'));
  for (const [behaviour, pattern] of [
    ['denied', /permission denied on fakechip: add the service user to group "gpio"/],
    ['busy', /fakechip line 25 is in use/],
  ] as const) {
    const line = await openChardevDrdy(
      { gpiomon: fakeGpiomon(dir, 2, behaviour), chip: 'fakechip', line: 25 },
      monotonicClock,
    );
    await assert.rejects(
      line.start(
        () => undefined,
        () => undefined,
      ),
      (e: unknown) => e instanceof UserError && pattern.test(e.message),
    );
  }
  assert.match(
    userError(() => gpiomonMajorVersion('/nonexistent/gpiomon')),
    /\/nonexistent\/gpiomon not found: install libgpiod's tools \(apt install gpiod\)/,
  );
  await assert.rejects(
    openChardevDrdy({ gpiomon: 'gpiomon', chip: 'gpiochip0', line: 25 }, monotonicClock),
    /DRDY GPIO: \/dev\/gpiochip0 does not exist/,
  );
  assert.match(
    gpiomonError({ gpiomon: 'g', chip: 'gpiochip9', line: 3 }, 1, null, 'gpiomon: cannot find GPIO chip gpiochip9\n')
      .message,
    /gpiochip9 line 3 not found/,
  );
});

test('sysfs binding: a kernel without /sys/class/gpio is refused with the way out', async () => {
  const msg = userError(() => checkSysfsGpio('/nonexistent/gpio'));
  assert.match(msg, /\/nonexistent\/gpio does not exist: this kernel has no sysfs GPIO \(removed on JetPack 6/);
  assert.match(msg, /gpio_binding: chardev/);
  await assert.rejects(openSysfsDrdy(25, monotonicClock, '/nonexistent/gpio'), /no sysfs GPIO/);
});

test('SPI and I2C: missing nodes are named before any native module is touched', async () => {
  await assert.rejects(
    openSpiDevice(0, 0, 4_000_000, 1),
    (e: unknown) =>
      e instanceof UserError && /^SPI: \/dev\/spidev0\.0 does not exist: enable the SPI controller/.test(e.message),
  );
  await assert.rejects(
    openI2cBus(1),
    (e: unknown) => e instanceof UserError && /^I2C: \/dev\/i2c-1 does not exist/.test(e.message),
  );
  assert.match(
    userError(() => checkDeviceNode('/dev/spidev7.3', SPI_DEVICE)),
    /\/dev\/spidev7\.3 does not exist/,
  );
});

test('permission and busy errors say which group and udev rule grant access', () => {
  const err = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });
  assert.match(
    deviceError('/dev/spidev0.0', SPI_DEVICE, err('EACCES')).message,
    /permission denied on \/dev\/spidev0\.0: add the service user to group "spi" and install the udev rule/,
  );
  assert.match(deviceError('/dev/gpiochip0', GPIO_CHIP, err('EPERM')).message, /group "gpio"/);
  assert.match(deviceError('/dev/spidev0.0', SPI_DEVICE, err('EBUSY')).message, /is busy/);
});

test('the native modules load lazily and are present here', async () => {
  // Loaded only when a binding is opened; on this machine their native parts were built.
  const spi = (await import('spi-device')) as { default?: { openSync?: unknown }; openSync?: unknown };
  assert.equal(typeof (spi.default?.openSync ?? spi.openSync), 'function');
  const onoff = (await import('onoff')) as { Gpio?: { accessible?: boolean } };
  assert.equal(onoff.Gpio?.accessible, false, 'no sysfs GPIO on this machine');
});

test('I2C transport refuses a configuration the bus cannot carry, with the numbers', () => {
  const o = { address: 0x48, busHz: 400_000, dataRegister: 0, channels: 16, bitsPerSample: 24, sampleRate: 2000 };
  assert.equal(i2cBitsPerSample(16, 24), 27 + 16 * 3 * 9 + 3);
  const msg = userError(() => checkI2cBandwidth(o));
  assert.match(
    msg,
    /16 channels × 24 bits × 2000 Hz = 768\.0 k bit\/s of samples needs 924\.0 k bit\/s on the wire \(462 clocks per sample/,
  );
  assert.match(msg, /a 400\.0 k Hz bus carries at most 320\.0 k bit\/s/);
  assert.throws(
    () => checkI2cBandwidth({ ...o, busHz: 1_000_000 }),
    /needs 924\.0 k bit\/s/,
    'fast-mode plus is not enough either',
  );
  assert.ok(checkI2cBandwidth({ ...o, busHz: 3_400_000 }) < 1);
  assert.ok(checkI2cBandwidth({ ...o, channels: 4, bitsPerSample: 16, sampleRate: 1000 }) < 1);
});

test('I2C transport reads every channel in one block and sign-extends', () => {
  const regs = new Uint8Array(256);
  const reads: [number, number, number][] = [];
  const bus: I2cBus = {
    name: 'fake-i2c',
    readRegisters: (addr, reg, out) => {
      reads.push([addr, reg, out.length]);
      out.set(regs.subarray(reg, reg + out.length));
    },
    writeRegister: (_a, reg, v) => {
      regs[reg] = v;
    },
    close: () => undefined,
  };
  const t24 = new I2cAdcTransport(bus, {
    address: 0x48,
    busHz: 3_400_000,
    dataRegister: 0x10,
    channels: 2,
    bitsPerSample: 24,
    sampleRate: 1000,
  });
  regs.set([0xff, 0xff, 0xfe, 0x12, 0x34, 0x56], 0x10);
  const counts = new Int32Array(2);
  t24.readSample(counts);
  assert.deepEqual([...counts], [-2, 0x123456]);
  assert.deepEqual(reads[0], [0x48, 0x10, 6]);
  const t12 = new I2cAdcTransport(bus, {
    address: 0x49,
    busHz: 400_000,
    dataRegister: 0x20,
    channels: 1,
    bitsPerSample: 12,
    sampleRate: 100,
  });
  regs.set([0x80, 0x00], 0x20); // 12-bit left-justified: most negative
  t12.readSample(counts);
  assert.equal(counts[0], -2048);
  t12.writeRegister(0x01, 0x83);
  assert.equal(regs[0x01], 0x83);
});

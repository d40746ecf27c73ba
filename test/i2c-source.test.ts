import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../src/common/errors.js';
import { silentLogger } from '../src/common/logger.js';
import { loadConfig } from '../src/daemon/config.js';
import { VirtualClock } from '../src/acquisition/clock.js';
import { checkI2cBandwidth, I2cAdcTransport, i2cBitsPerSample } from '../src/acquisition/i2c-transport.js';
import { I2cAdcSimulator } from '../src/acquisition/i2c/simulator.js';
import { I2C_ADC_ID, I2C_REG, i2cVoltsPerCount } from '../src/acquisition/i2c/registers.js';
import { createSource } from '../src/acquisition/sources.js';
import { SyntheticGenerator } from '../src/acquisition/synthetic.js';
import { driveSource } from './acquisition-helpers.js';
import { runCli } from './helpers.js';

function sim(over: Partial<ConstructorParameters<typeof I2cAdcSimulator>[0]> = {}): I2cAdcSimulator {
  return new I2cAdcSimulator({
    clock: new VirtualClock(0),
    address: 0x48,
    busHz: 1_000_000,
    channels: 16,
    bitsPerSample: 16,
    dataRegister: 0,
    signal: (k, counts) => {
      for (let c = 0; c < counts.length; c++) counts[c] = (k * 100 + c) * (c % 2 ? -1 : 1);
    },
    ...over,
  });
}

const codeOf = (e: unknown): unknown => (e as { code?: unknown }).code;

test('i2c simulator: addressing, NACK on a wrong address, register pointer and block reads', () => {
  const s = sim();
  const one = new Uint8Array(1);
  s.bus.readRegisters(0x48, I2C_REG.ID, one);
  assert.equal(one[0], I2C_ADC_ID);
  assert.throws(
    () => s.bus.readRegisters(0x49, I2C_REG.ID, one),
    (e: unknown) => codeOf(e) === 'ENXIO' && /no ACK from address 0x49/.test(String(e)),
  );
  assert.equal(s.counters.nacks, 1);
  // Auto-increment: a 3-byte read from RATE_HI returns RATE_HI, RATE_LO, GAIN.
  s.bus.writeRegister(0x48, I2C_REG.GAIN, 5);
  const three = new Uint8Array(3);
  s.bus.readRegisters(0x48, I2C_REG.RATE_HI, three);
  assert.deepEqual([...three], [0x07, 0xd0, 5]);
  // The ID register is read-only.
  s.bus.writeRegister(0x48, I2C_REG.ID, 0);
  assert.equal(s.register(I2C_REG.ID), I2C_ADC_ID);
});

test('i2c simulator: a block read costs its SCL clocks, clock stretching adds to it, a stuck bus times out', async () => {
  let stretch = 0;
  let stuck = false;
  const s = sim({ faults: { stretchUs: () => stretch, stuckBus: () => stuck } });
  const t = new I2cAdcTransport(s.bus, {
    address: 0x48,
    busHz: 1_000_000,
    dataRegister: 0,
    channels: 16,
    bitsPerSample: 16,
    sampleRate: 2000,
  });
  t.writeRegister(I2C_REG.CONTROL, 0x01);
  const counts = new Int32Array(16);
  const edges: number[] = [];
  let readUs = 0;
  await s.drdy.start((tk) => {
    edges.push(tk);
    const t0 = s.clock.now();
    try {
      t.readSample(counts);
    } catch (e) {
      assert.equal(codeOf(e), 'ETIMEDOUT');
      return;
    }
    readUs = (s.clock.now() - t0) * 1000;
  });
  s.runConversions(1);
  // One clock per START/Sr/STOP and 9 per byte: exactly the figure the bandwidth check uses.
  assert.ok(Math.abs(readUs - i2cBitsPerSample(16, 16)) < 1e-6, `${readUs} µs`);
  assert.deepEqual(Array.from(counts.subarray(0, 4)), [0, -1, 2, -3]);
  stretch = 120;
  s.runConversions(1);
  assert.ok(
    Math.abs(readUs - i2cBitsPerSample(16, 16) - 240) < 1e-6,
    `stretched twice (write and read address phases): ${readUs} µs`,
  );
  assert.deepEqual(Array.from(counts.subarray(0, 3)), [100, -101, 102]);
  stuck = true;
  s.runConversions(1);
  assert.equal(s.counters.timeouts, 1);
  assert.equal(edges.length, 3);
});

test('i2c bandwidth: the defaults fit Fast-mode Plus; 100 kHz is refused with the bit rates', () => {
  const cfg = loadConfig(undefined, []).acquisition.i2c;
  const load = checkI2cBandwidth({
    address: cfg.address,
    busHz: cfg.bus_hz,
    dataRegister: 0,
    channels: cfg.channels,
    bitsPerSample: cfg.bits_per_sample,
    sampleRate: 2000,
  });
  assert.ok(load < 1 && load > 0.5, `load ${load}`);
  const r = runCli([
    'run',
    '--source',
    'i2c-sim',
    '--duration',
    '1',
    '--speed',
    '0',
    '--set',
    'acquisition.i2c.bus_hz=100000',
  ]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    /512\.0 k bit\/s of samples needs 636\.0 k bit\/s on the wire .* 100\.0 k Hz bus carries at most 80\.0 k bit\/s/,
  );
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('i2c-sim through the worker: every sample equals the generator quantised to 16 bits', async () => {
  const cfg = loadConfig(undefined, [
    'input.source=i2c-sim',
    'input.duration_s=2',
    'acquisition.synthetic_seed=3',
    'acquisition.preprocess.enabled=false',
  ]);
  const src = await createSource(cfg, silentLogger());
  assert.equal(src.info.kind, 'i2c-sim');
  assert.equal(src.info.live, true);
  const r = await driveSource(src, 8000);
  assert.equal(r.ring.written, 4000);
  assert.deepEqual(r.gaps, []);
  const lsb = i2cVoltsPerCount(2.5, 32, 16);
  const gen = new SyntheticGenerator({ seed: 3, sampleRate: 2000, mode: 'raw', unitsPerVolt: 1e4 });
  const v = new Float32Array(16);
  const got = new Float32Array(16);
  for (let j = 0; j < 4000; j++) {
    gen.next(1, v, 0);
    r.ring.sliceEndingAt(j + 1, 1, got);
    for (let c = 0; c < 16; c++) {
      const want = Math.fround(Math.max(-32768, Math.min(32767, Math.round(v[c]! / lsb))) * lsb);
      if (got[c] !== want) assert.fail(`sample ${j} channel ${c}: ${got[c]} ≠ ${want}`);
    }
  }
  const st = src.stats!();
  assert.equal(st['framesDelivered'], st['ringFrames']);
});

for (const [name, sets, cause] of [
  ['lost data-ready', ['acquisition.i2c.sim.drdy_lost_at=1500'], /no sample for \d+ ms/],
  [
    'stuck bus',
    ['acquisition.i2c.sim.stuck_bus_every=1500', 'acquisition.i2c.sim.stuck_bus_frames=200'],
    /bus stuck, SDA held low \(ETIMEDOUT/,
  ],
  [
    'NACK',
    ['acquisition.i2c.sim.nack_every=1500', 'acquisition.i2c.sim.nack_frames=200'],
    /no ACK from address 0x48 \(ENXIO/,
  ],
] as const) {
  test(`i2c-sim fault drill, ${name}: a stall note, a re-initialisation, a gap, and samples again`, async () => {
    const cfg = loadConfig(undefined, ['input.source=i2c-sim', 'input.duration_s=3', ...sets]);
    const src = await createSource(cfg, silentLogger());
    const r = await driveSource(src, 12_000);
    assert.equal(r.ring.written, 6000, 'the run reaches its sample count after the faults');
    const stall = r.notes.find((n) => n.kind === 'stall');
    assert.ok(stall, r.notes.map((n) => n.kind).join(', '));
    assert.match(stall.detail, cause);
    assert.ok(r.notes.some((n) => n.kind === 'reinit' && /re-initialised/.test(n.detail)));
    assert.ok(
      r.gaps.some((g) => /stalled/.test(g.reason)),
      JSON.stringify(r.gaps),
    );
    const st = src.stats!();
    assert.ok(st['stalls']! >= 1 && st['reinits']! >= 1);
  });
}

test('i2c-sim with the device at another address: exit 2 naming the address that did not answer', async () => {
  const cfg = loadConfig(undefined, [
    'input.source=i2c-sim',
    'input.duration_s=1',
    'acquisition.i2c.sim.device_address=0x49',
  ]);
  const src = await createSource(cfg, silentLogger());
  await assert.rejects(
    driveSource(src, 4000),
    (e: unknown) => e instanceof UserError && /no ACK from address 0x48/.test(e.message),
  );
});

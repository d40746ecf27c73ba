import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../src/acquisition/clock.js';
import { readInt24 } from '../src/acquisition/ads1299/frame.js';
import { CMD, REG, RESET_VALUES } from '../src/acquisition/ads1299/registers.js';
import { Ads1299Simulator } from '../src/acquisition/ads1299/simulator.js';

/** The simulator alone, driven byte by byte as a host would, without the driver. */
function sim(topology: 'daisy' | 'separate' = 'daisy', spiClockHz = 4_000_000): Ads1299Simulator {
  return new Ads1299Simulator({
    topology,
    clock: new VirtualClock(0),
    spiClockHz,
    signal: (k, out) => {
      for (let c = 0; c < 16; c++) out[c] = k * 100 + c - 800;
    },
  });
}

const send = (s: Ads1299Simulator, bytes: number[], bus = 0, delayUs = 0): number[] => [
  ...s.buses[bus]!.transfer(Uint8Array.from(bytes), undefined, { interByteDelayUs: delayUs }),
];

test('register map: reset values, RREG of a range, WREG, read-only ID and status bits', () => {
  const s = sim();
  send(s, [CMD.SDATAC]);
  assert.deepEqual(send(s, [CMD.RREG | 0, 23, ...Array<number>(24).fill(0)]).slice(2), [...RESET_VALUES]);
  send(s, [CMD.WREG | REG.CH1SET, 1, 0x50, 0x40]);
  send(s, [CMD.WREG | REG.ID, 0, 0x00]);
  send(s, [CMD.WREG | REG.CONFIG3, 0, 0xff]);
  assert.deepEqual(send(s, [CMD.RREG | REG.CH1SET, 1, 0, 0]).slice(2), [0x50, 0x40]);
  assert.equal(send(s, [CMD.RREG | REG.ID, 0, 0])[2], 0x3e, 'ID is read-only');
  assert.equal(send(s, [CMD.RREG | REG.CONFIG3, 0, 0])[2], 0xfe, "BIAS_STAT is the chip's own bit");
  send(s, [CMD.RESET]);
  send(s, [CMD.SDATAC]);
  assert.equal(send(s, [CMD.RREG | REG.CH1SET, 0, 0])[2], 0x61, 'RESET restores the reset values');
  assert.deepEqual(s.violations, []);
});

test('serial interface: register commands in RDATAC mode and bytes closer than 4 tCLK are not decoded', () => {
  const s = sim();
  send(s, [CMD.WREG | REG.CONFIG2, 0, 0xd0]); // power-up state is RDATAC
  assert.match(s.violations[0]!, /WREG CONFIG2 sent in RDATAC mode: ignored/);
  send(s, [CMD.SDATAC]);
  assert.equal(send(s, [CMD.RREG | REG.CONFIG2, 0, 0])[2], 0xc0);
  const fast = sim('daisy', 16_000_000);
  send(fast, [CMD.SDATAC]);
  send(fast, [CMD.WREG | REG.CONFIG2, 0, 0xd0]);
  assert.match(fast.violations[0]!, /< 4 tCLK = 1\.95 µs\): not decoded/);
  send(fast, [CMD.WREG | REG.CONFIG2, 0, 0xd0], 0, 2);
  assert.equal(send(fast, [CMD.RREG | REG.CONFIG2, 0, 0], 0, 2)[2], 0xd0, 'with a 2 µs pause per byte it is');
});

test('conversions: DRDY paced by CONFIG1, RDATA and RDATAC frames, STANDBY/WAKEUP and STOP', async () => {
  const s = sim();
  send(s, [CMD.SDATAC]);
  send(s, [CMD.WREG | REG.CONFIG1, 0, 0x93]); // 2 kSPS
  const edges: number[] = [];
  await s.drdy.start((t) => edges.push(t));
  send(s, [CMD.START]);
  s.runUntil(s.clock.now() + 10);
  assert.equal(edges.length, 20, '2000 conversions a second');
  assert.ok(Math.abs(edges[1]! - edges[0]! - 0.5) < 1e-9);
  // RDATA in SDATAC mode: the opcode, then the latest frame.
  const rd = send(s, [CMD.RDATA, ...Array<number>(27).fill(0)]);
  assert.equal(rd[1]! & 0xf0, 0xc0, 'status marker');
  assert.equal(readInt24(Uint8Array.from(rd), 4), 19 * 100 + 0 - 800);
  // RDATAC: data from the first clock, the second chip's frame behind the first's.
  send(s, [CMD.RDATAC]);
  const rx = Uint8Array.from(send(s, Array<number>(54).fill(0)));
  assert.equal(readInt24(rx, 3 + 3 * 7), 19 * 100 + 7 - 800);
  assert.equal(readInt24(rx, 27 + 3), 19 * 100 + 8 - 800);
  send(s, [CMD.STANDBY]);
  s.runUntil(s.clock.now() + 5);
  assert.equal(edges.length, 20, 'no DRDY in standby');
  send(s, [CMD.WAKEUP]);
  assert.ok(s.converting);
  send(s, [CMD.STOP]);
  assert.equal(s.converting, false);
  s.drdy.stop();
});

test("multiple-readback mode repeats the first chip's frame; a slower data rate paces DRDY slower", async () => {
  const s = sim();
  send(s, [CMD.SDATAC]);
  send(s, [CMD.WREG | REG.CONFIG1, 0, 0xd4]); // DAISY_EN = 1, 1 kSPS
  let n = 0;
  await s.drdy.start(() => n++);
  send(s, [CMD.START]);
  send(s, [CMD.RDATAC]);
  s.runUntil(s.clock.now() + 10);
  assert.equal(n, 10);
  const rx = Uint8Array.from(send(s, Array<number>(54).fill(0)));
  assert.deepEqual([...rx.subarray(27)], [...rx.subarray(0, 27)]);
});

test('separate chip selects: each bus reaches only its own chip', () => {
  const s = sim('separate');
  send(s, [CMD.SDATAC], 0);
  send(s, [CMD.SDATAC], 1);
  send(s, [CMD.WREG | REG.CH1SET, 0, 0x10], 1);
  assert.equal(s.register(0, REG.CH1SET), 0x61);
  assert.equal(s.register(1, REG.CH1SET), 0x10);
});

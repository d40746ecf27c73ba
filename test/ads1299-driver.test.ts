import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../src/common/errors.js';
import { VirtualClock } from '../src/acquisition/clock.js';
import type { SpiBus, SpiTransferOptions } from '../src/acquisition/bindings/types.js';
import { Ads1299Driver, interByteDelayUs, type Ads1299Options } from '../src/acquisition/ads1299/driver.js';
import { readInt24, writeInt24 } from '../src/acquisition/ads1299/frame.js';
import { REG, voltsPerCount } from '../src/acquisition/ads1299/registers.js';
import { Ads1299Simulator, type SimFaults } from '../src/acquisition/ads1299/simulator.js';
import { CTRL_ACK, CTRL_WORDS, GapGate, type GapMessage } from '../src/acquisition/gap-gate.js';
import { RingBuffer } from '../src/acquisition/ring-buffer.js';

const RATE = 2000;
const IDENTITY = Array.from({ length: 16 }, (_, i) => i);

/**
 * Distinct, reproducible counts for conversion k and ADC channel c, covering the whole 24-bit
 * range (both rails and zero included) so sign extension and byte order are exercised.
 */
function countsFor(k: number, c: number): number {
  if (k % 1000 === 7) return c % 2 ? 0x7fffff : -0x800000;
  if (k % 1000 === 8) return 0;
  const x = Math.imul(k + 1, 2654435761) ^ Math.imul(c + 1, 40503);
  return ((x >>> 8) & 0xffffff) - 0x800000;
}

function options(over: Partial<Ads1299Options> = {}): Ads1299Options {
  return {
    topology: 'daisy',
    sampleRate: RATE,
    gains: Array<number>(16).fill(24),
    vref: 4.5,
    reference: 'srb1',
    biasDrive: true,
    channelMap: IDENTITY,
    lateMarginMs: 0.025,
    maxConsecutiveBadFrames: 2000,
    ...over,
  };
}

interface Rig {
  sim: Ads1299Simulator;
  driver: Ads1299Driver;
  ring: RingBuffer;
  gaps: GapMessage[];
  fatal: Error[];
  clock: VirtualClock;
  opts: Ads1299Options;
}

/** Simulator + real driver + the worker's gap gate and ring, on one thread, acknowledging at once. */
function rig(
  over: Partial<Ads1299Options> = {},
  faults: SimFaults = {},
  simOver: { ids?: number[]; stuckFromStart?: 0xff | 0x00; spiClockHz?: number; buses?: (b: SpiBus) => SpiBus } = {},
): Rig {
  const opts = options(over);
  const clock = new VirtualClock(1000);
  const sim = new Ads1299Simulator({
    topology: opts.topology,
    clock,
    faults,
    signal: (k, out) => {
      for (let c = 0; c < 16; c++) out[c] = countsFor(k, c);
    },
    ...(simOver.ids ? { ids: simOver.ids } : {}),
    ...(simOver.stuckFromStart !== undefined ? { stuckFromStart: simOver.stuckFromStart } : {}),
    ...(simOver.spiClockHz ? { spiClockHz: simOver.spiClockHz } : {}),
  });
  const ring = RingBuffer.create(40000, 16);
  const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_WORDS * 4));
  const gaps: GapMessage[] = [];
  const gate = new GapGate(
    ring,
    ctrl,
    (m) => {
      gaps.push(m);
      Atomics.store(ctrl, CTRL_ACK, m.seq);
    },
    RATE,
  );
  const fatal: Error[] = [];
  const buses = simOver.buses ? sim.buses.map(simOver.buses) : sim.buses;
  const driver = new Ads1299Driver(buses, sim.drdy, clock, opts, {
    frame: (v) => gate.push(v),
    lost: (n, r) => gate.lost(n, r),
  });
  return { sim, driver, ring, gaps, fatal, clock, opts };
}

async function started(r: Rig): Promise<Rig> {
  r.driver.configure();
  await r.driver.start((e) => r.fatal.push(e));
  r.sim.quiet();
  return r;
}

/**
 * The ring must hold exactly the conversions that were not lost, in order, each value the
 * simulator's count × LSB: sample j is conversion j + (frames lost before j).
 */
function assertRingMatches(r: Rig, firstConversion = 0): number[] {
  const { ring, gaps, opts } = r;
  const n = ring.written;
  const out = new Float32Array(n * 16);
  ring.sliceEndingAt(n, n, out);
  const lsb = opts.channelMap.map((adc) => voltsPerCount(opts.vref, opts.gains[adc]!));
  const skipped: number[] = [];
  let g = 0;
  let conv = firstConversion;
  for (let j = 0; j < n; j++) {
    while (g < gaps.length && gaps[g]!.atSample === j) {
      for (let i = 0; i < gaps[g]!.lostSamples; i++) skipped.push(conv++);
      g++;
    }
    for (let i = 0; i < 16; i++) {
      const want = Math.fround(countsFor(conv, opts.channelMap[i]!) * lsb[i]!);
      if (out[j * 16 + i] !== want)
        assert.fail(`ring sample ${j} (conversion ${conv}) channel ${i}: ${out[j * 16 + i]} ≠ ${want}`);
    }
    conv++;
  }
  assert.equal(g, gaps.length, 'every gap lies inside the ring');
  return skipped;
}

test("24-bit two's complement big-endian round trips, rails included", () => {
  const b = new Uint8Array(3);
  for (const v of [0, 1, -1, 0x7fffff, -0x800000, 123456, -654321]) {
    writeInt24(b, 0, v);
    assert.equal(readInt24(b, 0), v);
  }
  writeInt24(b, 0, -1);
  assert.deepEqual([...b], [0xff, 0xff, 0xff]);
  writeInt24(b, 0, 0x900000); // clamps
  assert.equal(readInt24(b, 0), 0x7fffff);
  assert.equal(voltsPerCount(4.5, 24), (2 * 4.5) / 24 / 2 ** 24);
  assert.ok(Math.abs(voltsPerCount(4.5, 24) - 22.35e-9) < 0.01e-9, 'LSB ≈ 22.35 nV at gain 24');
});

test('configuration (daisy chain): reset, SDATAC, ID check, every register written and read back', () => {
  const r = rig();
  const report = r.driver.configure();
  const log = r.sim.commandLog;
  assert.deepEqual(log.slice(0, 5), ['SDATAC', 'STOP', 'RESET', 'SDATAC', 'RREG ID']);
  assert.deepEqual(report.ids, [0x3e, null], 'one entry per chip: the second chip of a chain cannot be read');
  const writes = log.filter((l) => l.startsWith('WREG'));
  const reads = log.filter((l) => l.startsWith('RREG') && l !== 'RREG ID');
  assert.equal(writes.length, 20);
  assert.equal(reads.length, 20, 'each written register is read back');
  for (const chip of [0, 1]) {
    assert.equal(
      r.sim.register(chip, REG.CONFIG1),
      0xb3,
      'CONFIG1: 2 kSPS, daisy-chain mode, clock out (ignored by the second chip)',
    );
    assert.equal(r.sim.register(chip, REG.CONFIG3), 0xec, 'internal reference and bias drive on');
    for (let c = 0; c < 8; c++) assert.equal(r.sim.register(chip, REG.CH1SET + c), 0x60, 'gain 24, normal input');
    assert.equal(r.sim.register(chip, REG.MISC1), 0x20, 'SRB1 reference');
    assert.equal(r.sim.register(chip, REG.BIAS_SENSP), 0xff);
  }
  assert.deepEqual(r.sim.violations, []);
});

test('configuration (separate chip selects): per-chip CONFIG1, per-channel gains, both IDs', () => {
  const gains = [1, 2, 4, 6, 8, 12, 24, 24, 24, 12, 8, 6, 4, 2, 1, 24];
  const r = rig({ topology: 'separate', gains, reference: 'differential', biasDrive: false });
  const report = r.driver.configure();
  assert.deepEqual(report.ids, [0x3e, 0x3e]);
  assert.equal(r.sim.register(0, REG.CONFIG1), 0xf3, 'first chip: multiple readback, clock out');
  assert.equal(r.sim.register(1, REG.CONFIG1), 0xd3, 'second chip: multiple readback, no clock out');
  const codes: Record<number, number> = { 1: 0, 2: 1, 4: 2, 6: 3, 8: 4, 12: 5, 24: 6 };
  for (let c = 0; c < 16; c++)
    assert.equal(r.sim.register(c < 8 ? 0 : 1, REG.CH1SET + (c % 8)), codes[gains[c]!]! << 4);
  assert.equal(r.sim.register(0, REG.CONFIG3), 0xe0, 'bias drive off');
  assert.equal(r.sim.register(1, REG.MISC1), 0x00, 'differential inputs');
  assert.deepEqual(r.sim.violations, []);
});

test('a daisy chain refuses different gains on the two chips (writes reach both)', () => {
  const gains = Array<number>(16).fill(24);
  gains[9] = 12;
  assert.throws(
    () => rig({ gains }).driver.configure(),
    (e: unknown) => e instanceof UserError && /channel 2 of the two chips has gains 24 and 12/.test(e.message),
  );
});

test('a wrong ID, a bus stuck high and a bus stuck low are refused at start-up with the cause', () => {
  const msg = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof UserError);
      return e.message;
    }
    return assert.fail('expected a refusal');
  };
  assert.match(
    msg(() => rig({}, {}, { ids: [0x3c, 0x3e] }).driver.configure()),
    /ID register reads 0x3C: not an 8-channel ADS1299/,
  );
  assert.match(
    msg(() => rig({ topology: 'separate' }, {}, { ids: [0x3e, 0x92] }).driver.configure()),
    /chip 2\): ID register reads 0x92/,
  );
  assert.match(
    msg(() => rig({}, {}, { stuckFromStart: 0xff }).driver.configure()),
    /reads 0xFF: MISO reads all 1s: no chip answering/,
  );
  assert.match(
    msg(() => rig({}, {}, { stuckFromStart: 0x00 }).driver.configure()),
    /reads 0x00: MISO reads all 0s/,
  );
  // Other revisions of the 8-channel part (REV_ID bits 7:5) are accepted.
  assert.doesNotThrow(() => rig({}, {}, { ids: [0x1e] }).driver.configure());
});

test('a register that does not read back what was written is named, with both values', () => {
  // A bus that flips bit 0 of the byte clocked in after an RREG of CONFIG3 (a marginal MISO line).
  const flaky = (b: SpiBus): SpiBus => ({
    name: b.name,
    clockHz: b.clockHz,
    mode: b.mode,
    close: () => b.close(),
    transfer(tx: Uint8Array, rx?: Uint8Array, o?: SpiTransferOptions): Uint8Array {
      const out = b.transfer(tx, rx, o);
      if (tx[0] === (0x20 | REG.CONFIG3) && tx.length === 3) out[2]! ^= 0x02;
      return out;
    },
  });
  assert.throws(
    () => rig({}, {}, { buses: flaky }).driver.configure(),
    (e: unknown) =>
      e instanceof UserError && /register CONFIG3 \(0x03\) reads back 0xEE after writing 0xEC/.test(e.message),
  );
});

test('SPI timing: a clock too slow for one frame per period is refused; fast clocks get inter-byte delays', () => {
  assert.throws(() => rig({}, {}, { spiClockHz: 500_000 }), /reading a frame takes 864 µs/);
  assert.equal(interByteDelayUs(4_000_000), 0);
  assert.equal(interByteDelayUs(8_000_000), 1);
  assert.equal(interByteDelayUs(16_000_000), 2);
  const r = rig({}, {}, { spiClockHz: 16_000_000 });
  r.driver.configure();
  assert.deepEqual(r.sim.violations, [], 'no register byte arrives within 4 tCLK of the previous one');
});

for (const topology of ['daisy', 'separate'] as const) {
  test(`a 10-second stream (${topology}): 20,000 frames, no loss, ring equal to what the chips sent`, async () => {
    const map = [...IDENTITY].reverse(); // exercise the channel map too
    const r = await started(rig({ topology, channelMap: map }));
    r.sim.runConversions(20_000);
    assert.equal(r.ring.written, 20_000);
    assert.deepEqual(r.gaps, []);
    const s = r.driver.stats;
    assert.equal(s.edges, 20_000);
    assert.equal(s.framesDelivered, 20_000);
    assert.equal(s.lostFrames + s.badStatus + s.spuriousEdges, 0);
    assertRingMatches(r);
    assert.deepEqual(r.sim.violations, []);
    assert.deepEqual(r.fatal, []);
    assert.equal(r.driver.describeChannel(0), 'chip 2 CH8');
  });
}

test('fault: a missed DRDY loses one conversion, reported as a gap at the right sample', async () => {
  const r = await started(rig({}, { missedDrdy: (k) => k === 500 || k === 9000 || k === 9001 }));
  r.sim.runConversions(10_000);
  assert.deepEqual(
    r.gaps.map((g) => [g.atSample, g.lostSamples, g.reason]),
    [
      [500, 1, 'missed DRDY'],
      [8999, 2, 'missed DRDY'],
    ],
  );
  assert.equal(r.driver.stats.missedDrdy, 3);
  assert.equal(r.ring.written, 9997);
  assert.deepEqual(assertRingMatches(r), [500, 9000, 9001]);
});

test('fault: a read that starts too late loses its frame, never reads the next one twice', async () => {
  const r = await started(rig({}, { lateDeliveryMs: (k) => (k === 300 ? 0.6 : k === 700 ? 1.6 : 0) }));
  r.sim.runConversions(2000);
  const s = r.driver.stats;
  // 0.6 ms late: the frame of 300 is gone. 1.6 ms late: 700 and the edges queued behind it (701-702) are stale.
  assert.equal(s.lateReads, 4);
  assert.deepEqual(assertRingMatches(r), [300, 700, 701, 702]);
  assert.ok(r.gaps.every((g) => g.reason === 'late read'));
});

test('fault: a read stalled across the next DRDY (torn frame) is dropped', async () => {
  const r = await started(rig({ topology: 'separate' }, { stallMs: (k) => (k === 1234 ? 0.45 : 0) }));
  r.sim.runConversions(3000);
  assert.equal(r.driver.stats.tornReads, 1);
  assert.deepEqual(assertRingMatches(r), [1234]);
});

test('fault: a corrupted status marker drops the frame, on either chip', async () => {
  for (const topology of ['daisy', 'separate'] as const) {
    const r = await started(
      rig({ topology }, { badStatus: (k, chip) => (k === 100 && chip === 0) || (k === 2000 && chip === 1) }),
    );
    r.sim.runConversions(3000);
    assert.equal(r.driver.stats.badStatus, 2);
    assert.deepEqual(assertRingMatches(r), [100, 2000]);
    assert.ok(r.gaps.every((g) => g.reason === 'bad status marker'));
  }
});

test('fault: a bus stuck for a moment drops those frames; stuck for good stops acquisition with the cause', async () => {
  const brief = await started(rig({}, { stuckBus: (k) => (k >= 400 && k < 405 ? 0xff : undefined) }));
  brief.sim.runConversions(1000);
  assert.equal(brief.driver.stats.stuckFrames, 5);
  assert.deepEqual(assertRingMatches(brief), [400, 401, 402, 403, 404]);
  assert.deepEqual(
    brief.gaps.map((g) => [g.atSample, g.lostSamples]),
    [[400, 5]],
  );
  assert.deepEqual(brief.fatal, []);

  for (const level of [0xff, 0x00] as const) {
    const dead = await started(
      rig({ maxConsecutiveBadFrames: 200 }, { stuckBus: (k) => (k >= 1000 ? level : undefined) }),
    );
    dead.sim.runConversions(5000);
    assert.equal(dead.fatal.length, 1);
    assert.match(
      dead.fatal[0]!.message,
      level === 0xff ? /200 frames in a row .* every byte reads 0xFF/ : /every byte reads 0x00: MISO stuck low/,
    );
    assert.equal(dead.ring.written, 1000, 'nothing from the stuck bus reached the ring');
    assertRingMatches(dead);
    assert.ok(dead.sim.conversions < 5000, 'the driver stopped the chips');
    assert.equal(dead.sim.converting, false);
  }
});

test('every fault at once over a 10-second stream: counts add up and no garbage reaches the ring', async () => {
  const r = await started(
    rig(
      {},
      {
        missedDrdy: (k) => k % 997 === 5,
        lateDeliveryMs: (k) => (k % 1499 === 11 ? 0.7 : 0),
        stallMs: (k) => (k % 1999 === 17 ? 0.46 : 0),
        badStatus: (k, chip) => k % 2503 === 29 && chip === 1,
        stuckBus: (k) => (k % 3001 === 31 ? 0x00 : undefined),
      },
    ),
  );
  r.sim.runConversions(20_000);
  const s = r.driver.stats;
  const lost = assertRingMatches(r);
  assert.equal(lost.length, s.lostFrames);
  assert.equal(r.ring.written + s.lostFrames, 20_000);
  assert.equal(s.missedDrdy + s.lateReads + s.tornReads + s.badStatus, s.lostFrames);
  assert.equal(s.missedDrdy, 21);
  // 8 status faults + 7 stuck-low frames, less any that fell on an edge already lost another way.
  assert.ok(s.badStatus >= 13 && s.badStatus <= 15, `badStatus ${s.badStatus}`);
  assert.ok(s.stuckFrames >= 6 && s.stuckFrames <= 7);
  assert.ok(s.lateReads >= 13 && s.tornReads >= 10, JSON.stringify(s));
  assert.equal(
    r.gaps.reduce((a, g) => a + g.lostSamples, 0),
    s.lostFrames,
  );
  assert.deepEqual(r.sim.violations, []);
});

test('stop(): the chips stop converting and leave RDATAC; edges are no longer handled', async () => {
  const r = await started(rig());
  r.sim.runConversions(10);
  assert.equal(r.sim.chips[0]!.rdatac, true);
  r.driver.stop();
  assert.equal(r.sim.converting, false);
  assert.equal(r.sim.chips[0]!.rdatac, false);
  const n = r.ring.written;
  r.sim.runConversions(10);
  assert.equal(r.ring.written, n);
});

test('gap gate: frames after a gap wait for the acknowledgement, then arrive in order', () => {
  const ring = RingBuffer.create(100, 1);
  const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_WORDS * 4));
  const posted: GapMessage[] = [];
  const gate = new GapGate(ring, ctrl, (m) => posted.push(m), 3);
  const f = (v: number): Float32Array => Float32Array.of(v);
  gate.push(f(0));
  gate.push(f(1));
  gate.lost(2, 'missed_drdy');
  gate.push(f(4));
  gate.push(f(5));
  assert.equal(ring.written, 2, 'held until the main thread knows of the gap');
  assert.deepEqual(posted, [{ type: 'gap', seq: 1, atSample: 2, lostSamples: 2, reason: 'missed DRDY' }]);
  gate.lost(1, 'late_read');
  gate.push(f(7)); // a second gap while the first is unacknowledged: numbered after the held frames
  assert.deepEqual(posted[1], { type: 'gap', seq: 2, atSample: 4, lostSamples: 1, reason: 'late read' });
  gate.push(f(8)); // staging (3) full: dropped and reported next
  Atomics.store(ctrl, CTRL_ACK, 1);
  gate.release();
  assert.equal(ring.written, 2, 'gap 2 still unacknowledged');
  Atomics.store(ctrl, CTRL_ACK, 2);
  gate.push(f(9));
  assert.equal(ring.written, 5);
  assert.deepEqual(posted[2], {
    type: 'gap',
    seq: 3,
    atSample: 5,
    lostSamples: 1,
    reason: 'main thread slow to acknowledge a gap',
  });
  Atomics.store(ctrl, CTRL_ACK, 3);
  gate.release();
  const out = new Float32Array(6);
  ring.sliceTail(6, out);
  assert.deepEqual([...out], [0, 1, 4, 5, 7, 9]);
});

test('gap gate: an acknowledgement landing between two reads of it never lets a frame overtake the held ones', () => {
  // The main thread stores the ack whenever it gets to it; under CPU contention the acquisition
  // thread can be preempted right after any read of it. Model that deterministically: the ack
  // lands immediately after the n-th read that still said "waiting", for every n the sequence
  // allows. (Once seen in a loaded full test run: ring sample 6004 held conversion 6010, ahead
  // of the held 6008 and 6009.)
  class AckAfterRead extends GapGate {
    waitingReads = 0;
    landedAtWritten = -1;
    constructor(
      ring: RingBuffer,
      private readonly c: Int32Array,
      post: (m: GapMessage) => void,
      staging: number,
      private readonly landAfter: number,
    ) {
      super(ring, c, post, staging);
    }
    override awaitingAck(): boolean {
      const w = super.awaitingAck();
      if (w && ++this.waitingReads === this.landAfter) {
        this.landedAtWritten = ringOf.get(this)!.written;
        Atomics.store(this.c, CTRL_ACK, 1);
      }
      return w;
    }
  }
  const ringOf = new WeakMap<GapGate, RingBuffer>();
  const f = (v: number): Float32Array => Float32Array.of(v);
  // Every read made while pushing the frames behind the gap, then one more (during release).
  for (let landAfter = 1, pushReads = Infinity; landAfter <= pushReads + 1; landAfter++) {
    assert.ok(landAfter < 50, 'the gate keeps reading the ack while frames are held');
    const ring = RingBuffer.create(100, 1);
    const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_WORDS * 4));
    const posted: GapMessage[] = [];
    const gate = new AckAfterRead(ring, ctrl, (m) => posted.push(m), 10, landAfter);
    ringOf.set(gate, ring);
    gate.push(f(0));
    gate.push(f(1));
    gate.lost(2, 'bad_status');
    for (const v of [4, 5, 6, 7, 8]) gate.push(f(v));
    if (gate.landedAtWritten < 0) pushReads = Math.min(pushReads, gate.waitingReads);
    // The worker's loop calls release() on every tick until nothing is held.
    for (let tick = 0; tick < 5 && gate.held > 0; tick++) gate.release();
    const at = `ack landing after waiting-read ${landAfter}`;
    assert.ok(gate.landedAtWritten >= 0, `${at}: injected (the gate reads the ack through awaitingAck())`);
    assert.ok(gate.landedAtWritten <= 2, `${at}: nothing after the gap was visible before its acknowledgement`);
    assert.deepEqual(posted, [{ type: 'gap', seq: 1, atSample: 2, lostSamples: 2, reason: 'bad status marker' }], at);
    assert.equal(gate.held, 0, at);
    assert.equal(gate.delivered, 7, at);
    const out = new Float32Array(ring.written);
    ring.sliceTail(ring.written, out);
    assert.deepEqual([...out], [0, 1, 4, 5, 6, 7, 8], `${at}: frames in conversion order`);
  }
});

test('the frame path (driver → preprocessing → gap gate → ring) allocates nothing per frame', async () => {
  // A bare bus that answers set-up and returns one fixed frame: the simulator itself allocates.
  const regs = new Uint8Array(32);
  regs[0] = 0x3e;
  const frame = new Uint8Array(54);
  frame[0] = 0xc0;
  frame[27] = 0xc0;
  for (let i = 3; i < 54; i++) if (i !== 27) frame[i] = i;
  const bus: SpiBus = {
    name: 'bare',
    clockHz: 4_000_000,
    mode: 1,
    close: () => undefined,
    transfer(tx: Uint8Array, rx: Uint8Array = new Uint8Array(tx.length)): Uint8Array {
      if (tx.length === 54) rx.set(frame);
      else if ((tx[0]! & 0xe0) === 0x20) rx[2] = regs[tx[0]! & 0x1f]!;
      else if ((tx[0]! & 0xe0) === 0x40) regs[tx[0]! & 0x1f] = tx[2]!;
      return rx;
    },
  };
  let handler: ((t: number) => void) | undefined;
  const drdy = {
    name: 'bare',
    kernelTimestamps: true,
    start: async (h: (t: number) => void) => void (handler = h),
    stop: () => undefined,
  };
  const clock = new VirtualClock(0);
  const ring = RingBuffer.create(20_000, 16);
  const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_WORDS * 4));
  const gate = new GapGate(ring, ctrl, (m) => Atomics.store(ctrl, CTRL_ACK, m.seq), 2000);
  const { Preprocessor } = await import('../src/acquisition/preprocess.js');
  const pre = new Preprocessor({
    channels: 16,
    sampleRate: RATE,
    highpassHz: 20,
    order: 4,
    scale: 1e4,
    badSamplePolicy: 'hold_last',
    saturation: Array<number>(16).fill(0.18),
  });
  const out = new Float32Array(16);
  // 1 kSPS: whole-millisecond timestamps, which the harness can pass without boxing them.
  const driver = new Ads1299Driver([bus], drdy, clock, options({ sampleRate: 1000 }), {
    frame: (v) => {
      pre.processFrame(v, 0, out, 0);
      gate.push(out);
      ring.seekReader(ring.written);
    },
    lost: (n, r) => gate.lost(n, r),
  });
  driver.configure();
  await driver.start(() => undefined);
  const { PerformanceObserver } = await import('node:perf_hooks');
  // The harness itself allocates a little now and then; measure it with an empty handler.
  const gcsDuring = async (h: (t: number) => void, from: number): Promise<number> => {
    let gcs = 0;
    const obs = new PerformanceObserver((l) => {
      gcs += l.getEntries().length;
    });
    obs.observe({ entryTypes: ['gc'] });
    for (let i = 0; i < 200_000; i++) {
      const t = from + i;
      clock.advanceTo(t);
      h(t);
    }
    await new Promise((r) => setTimeout(r, 150));
    obs.disconnect();
    return gcs;
  };
  let sinkHole = 0;
  const empty = (t: number): void => {
    sinkHole += t > 0 ? 1 : 0;
  };
  await gcsDuring(empty, 0);
  const baseline = await gcsDuring(empty, 200_000);
  await gcsDuring(handler!, 400_000); // warm-up, including one late frame (configure() slept): the gap path runs too
  const gcs = await gcsDuring(handler!, 600_000);
  assert.equal(driver.stats.framesDelivered, 400_000 - driver.stats.lostFrames);
  assert.ok(sinkHole > 0);
  // One small object per frame would be 200,000 objects: dozens of collections.
  assert.ok(gcs <= baseline + 2, `${gcs} garbage collections over 200,000 frames (an empty handler: ${baseline})`);
});

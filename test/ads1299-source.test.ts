import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../src/common/errors.js';
import { silentLogger } from '../src/common/logger.js';
import { loadConfig } from '../src/daemon/config.js';
import { ads1299WorkerConfig } from '../src/acquisition/ads1299/options.js';
import { AdcWorkerSource as Ads1299Source } from '../src/acquisition/worker-source.js';
import { COUNT_MAX, voltsPerCount } from '../src/acquisition/ads1299/registers.js';
import { Preprocessor } from '../src/acquisition/preprocess.js';
import { RingBuffer } from '../src/acquisition/ring-buffer.js';
import type { GapEvent, SampleSink } from '../src/acquisition/source.js';
import { createSource, sourceContext } from '../src/acquisition/sources.js';
import { SyntheticGenerator } from '../src/acquisition/synthetic.js';

interface Run {
  ring: RingBuffer;
  gaps: GapEvent[];
  /** ring.written at the moment each gap reached the sink. */
  writtenAtGap: number[];
}

/** Runs a source into a fresh ring, with a reader that keeps up (as the pipeline's cursor does). */
async function drive(
  src: { run(s: SampleSink, a: AbortSignal): Promise<void> },
  capacity: number,
  abortAfterMs?: number,
): Promise<Run> {
  const ring = RingBuffer.create(capacity, 16);
  const gaps: GapEvent[] = [];
  const writtenAtGap: number[] = [];
  const sink: SampleSink = {
    emg: ring,
    note: () => undefined,
    gap: (g) => {
      gaps.push(g);
      writtenAtGap.push(ring.written);
    },
    waitForSpace: async () => undefined,
  };
  const reader = setInterval(() => ring.seekReader(Math.max(0, ring.written - 100)), 1);
  const ac = new AbortController();
  if (abortAfterMs !== undefined) setTimeout(() => ac.abort(), abortAfterMs);
  try {
    await src.run(sink, ac.signal);
  } finally {
    clearInterval(reader);
  }
  return { ring, gaps, writtenAtGap };
}

test('ads1299-sim end to end through the worker: 10 s with faults, every sample equal to a replay of the chain', async () => {
  const cfg = loadConfig(undefined, [
    'input.source=ads1299-sim',
    'input.duration_s=10',
    'acquisition.synthetic_seed=7',
    'acquisition.ads1299.sim.missed_drdy_every=2999',
    'acquisition.ads1299.sim.late_read_every=4001',
    'acquisition.ads1299.sim.bad_status_every=6007',
    // Every loss reported as a gap (none bridged), so the replay below can follow the numbering.
    'acquisition.bridge_max_samples=0',
  ]);
  const src = await createSource(cfg, silentLogger());
  assert.equal(src.info.kind, 'ads1299-sim');
  assert.equal(src.info.hasJointAngles, false);
  const r = await drive(src, 20_000);
  assert.equal(r.ring.written, 20_000);
  const reasons = r.gaps.map((g) => g.reason);
  assert.ok(
    reasons.includes('missed DRDY') && reasons.includes('late read') && reasons.includes('bad status marker'),
    reasons.join('; '),
  );
  for (let i = 0; i < r.gaps.length; i++) {
    assert.ok(
      r.writtenAtGap[i]! <= r.gaps[i]!.atSample,
      `gap ${i} at ${r.gaps[i]!.atSample} arrived after sample ${r.writtenAtGap[i]} was visible`,
    );
  }
  const stats = src.stats!();
  assert.equal(stats['gapsReported'], r.gaps.length);
  // The driver keeps counting after the 20,000th sample until the worker stops it.
  assert.ok(stats['lostFrames']! >= r.gaps.reduce((a, g) => a + g.lostSamples, 0));
  assert.equal(stats['ringFrames'], 20_000);

  // Replay the chain on this thread: generator (volts) → 24-bit counts at gain 24 → volts → preprocessing.
  const lsb = voltsPerCount(4.5, 24);
  const gen = new SyntheticGenerator({
    seed: 7,
    sampleRate: 2000,
    mode: 'raw',
    unitsPerVolt: cfg.acquisition.preprocess.units_per_volt,
  });
  const pre = new Preprocessor({
    channels: 16,
    sampleRate: 2000,
    highpassHz: 20,
    order: 4,
    scale: 1e4,
    badSamplePolicy: 'hold_last',
    saturation: Array<number>(16).fill(lsb * (COUNT_MAX - 2)),
  });
  const v = new Float32Array(16);
  const frame = new Float32Array(16);
  const want = new Float32Array(16);
  const got = new Float32Array(16);
  let g = 0;
  let conv = 0;
  for (let j = 0; j < 20_000; j++) {
    while (g < r.gaps.length && r.gaps[g]!.atSample === j) conv += r.gaps[g++]!.lostSamples;
    while (gen.index <= conv) gen.next(1, v, 0);
    for (let c = 0; c < 16; c++) frame[c] = Math.max(-0x800000, Math.min(0x7fffff, Math.round(v[c]! / lsb))) * lsb;
    assert.ok(pre.processFrame(frame, 0, want, 0));
    r.ring.sliceEndingAt(j + 1, 1, got);
    for (let c = 0; c < 16; c++)
      if (got[c] !== want[c]) assert.fail(`sample ${j} (conversion ${conv}) channel ${c}: ${got[c]} ≠ ${want[c]}`);
    conv++;
  }
  let ss = 0;
  const all = new Float32Array(20_000 * 16);
  r.ring.sliceTail(5000, all);
  for (let i = 0; i < 5000 * 16; i++) ss += all[i]! * all[i]!;
  const rms = Math.sqrt(ss / (5000 * 16));
  assert.ok(rms > 0.6 && rms < 1.4, `conditioned RMS ${rms} is near the model's scale (1.0)`);
});

test('ads1299-sim paced in real time delivers about 2000 samples a second and stops on abort', async () => {
  const cfg = loadConfig(undefined, ['input.source=ads1299-sim', 'input.speed=1']);
  const src = await createSource(cfg, silentLogger());
  // The worker's start-up is not timed (a loaded machine may take long): the pace is measured
  // from the first sample, and the run is aborted once 400 have arrived (or after 20 s).
  const ring = RingBuffer.create(20_000, 16);
  const gaps: GapEvent[] = [];
  const sink: SampleSink = {
    emg: ring,
    note: () => undefined,
    gap: (g) => gaps.push(g),
    waitForSpace: async () => undefined,
  };
  const ac = new AbortController();
  let tFirst = NaN;
  let tAbort = NaN;
  const deadline = performance.now() + 20_000;
  const watch = setInterval(() => {
    const now = performance.now();
    if (Number.isNaN(tFirst) && ring.written > 0) tFirst = now;
    ring.seekReader(Math.max(0, ring.written - 100));
    if (Number.isNaN(tAbort) && (ring.written >= 400 || now > deadline)) {
      tAbort = now;
      ac.abort();
    }
  }, 2);
  try {
    await src.run(sink, ac.signal);
  } finally {
    clearInterval(watch);
  }
  const n = ring.written;
  assert.ok(n >= 400, `${n} samples before the 20 s deadline`);
  const secs = (tAbort - tFirst) / 1000;
  assert.ok(n < secs * 2000 + 100, `${n} samples in ${secs.toFixed(3)} s after the first: not faster than real time`);
  assert.ok(n < 400 + 2000, `stopped on abort: ${n} samples`);
  assert.deepEqual(gaps, []);
});

test('ads1299 on a machine without the hardware fails fast with a UserError naming the device', async () => {
  const cfg = loadConfig(undefined, ['input.source=ads1299']);
  await assert.rejects(
    createSource(cfg, silentLogger()),
    (e: unknown) => e instanceof UserError && /SPI: \/dev\/spidev0\.0 does not exist/.test(e.message),
  );
  const sep = loadConfig(undefined, [
    'input.source=ads1299',
    'acquisition.ads1299.topology=separate',
    'acquisition.ads1299.chip_selects=[1, 0]',
    'acquisition.ads1299.spi_bus=2',
  ]);
  await assert.rejects(createSource(sep, silentLogger()), /\/dev\/spidev2\.1 does not exist/);
});

test('the worker reports a hardware failure as a UserError (preflight bypassed)', async () => {
  const cfg = loadConfig(undefined, ['input.source=ads1299']);
  const src = new Ads1299Source(
    ads1299WorkerConfig(cfg.acquisition.ads1299, sourceContext(cfg, silentLogger()), false),
    silentLogger(),
  );
  const ring = RingBuffer.create(4000, 16);
  const sink: SampleSink = {
    emg: ring,
    gap: () => undefined,
    note: () => undefined,
    waitForSpace: async () => undefined,
  };
  await assert.rejects(
    src.run(sink, new AbortController().signal),
    (e: unknown) => e instanceof UserError && /\/dev\/spidev0\.0/.test(e.message),
  );
});

test('the ads1299 source needs the shared ring itself', async () => {
  const cfg = loadConfig(undefined, ['input.source=ads1299-sim']);
  const src = await createSource(cfg, silentLogger());
  const ring = RingBuffer.create(4000, 16);
  const wrapped: SampleSink = {
    emg: { channels: 16, written: 0, append: (a: Float32Array, n?: number, o?: number) => ring.append(a, n, o) },
    gap: () => undefined,
    note: () => undefined,
    waitForSpace: async () => undefined,
  };
  await assert.rejects(src.run(wrapped, new AbortController().signal), /shared RingBuffer/);
});

test('the worker opens the ADC its configuration names from the device table, and refuses a name not in it', async () => {
  const cfg = loadConfig(undefined, ['input.source=ads1299-sim']);
  const w = {
    ...ads1299WorkerConfig(cfg.acquisition.ads1299, sourceContext(cfg, silentLogger()), true),
    device: 'nope',
  };
  const src = new Ads1299Source(w, silentLogger());
  const sink: SampleSink = {
    emg: RingBuffer.create(4000, 16),
    gap: () => undefined,
    note: () => undefined,
    waitForSpace: async () => undefined,
  };
  await assert.rejects(src.run(sink, new AbortController().signal), /no ADC named "nope" \(expected ads1299, i2c\)/);
});

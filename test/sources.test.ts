import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../src/common/errors.js';
import { silentLogger } from '../src/common/logger.js';
import { loadConfig } from '../src/daemon/config.js';
import { Preprocessor } from '../src/acquisition/preprocess.js';
import { RingBuffer } from '../src/acquisition/ring-buffer.js';
import type { EmgSource, GapEvent, SampleSink } from '../src/acquisition/source.js';
import { createSource } from '../src/acquisition/sources.js';
import { SyntheticGenerator, syntheticAngleBounds } from '../src/acquisition/synthetic.js';
import { runCli } from './helpers.js';

function generate(
  seed: number,
  n: number,
  mode: 'model' | 'raw' = 'model',
): { emg: Float32Array; angles: Float32Array } {
  const g = new SyntheticGenerator({ seed, sampleRate: 2000, mode, unitsPerVolt: 1e4 });
  const emg = new Float32Array(n * 16);
  const angles = new Float32Array(n * 20);
  g.next(n, emg, 0, angles, 0);
  return { emg, angles };
}

function corr(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/** Power of one channel at `freq` (Goertzel), averaged over consecutive blocks. */
function powerAt(x: Float32Array, ch: number, channels: number, freq: number): number {
  const block = 2000;
  let total = 0;
  let blocks = 0;
  for (let start = 0; start + block <= x.length / channels; start += block, blocks++) {
    const w = (2 * Math.PI * freq) / 2000;
    let s1 = 0;
    let s2 = 0;
    for (let t = 0; t < block; t++) {
      const hann = 0.5 - 0.5 * Math.cos((2 * Math.PI * t) / block); // keeps in-band power from leaking into far bins
      const s = hann * x[(start + t) * channels + ch]! + 2 * Math.cos(w) * s1 - s2;
      s2 = s1;
      s1 = s;
    }
    total += s1 * s1 + s2 * s2 - 2 * Math.cos(w) * s1 * s2;
  }
  return total / blocks;
}

test('synthetic: deterministic for a seed, different across seeds', () => {
  const a = generate(3, 4000);
  const b = generate(3, 4000);
  const c = generate(4, 4000);
  assert.ok(Buffer.from(a.emg.buffer).equals(Buffer.from(b.emg.buffer)));
  assert.ok(Buffer.from(a.angles.buffer).equals(Buffer.from(b.angles.buffer)));
  assert.ok(!Buffer.from(a.emg.buffer).equals(Buffer.from(c.emg.buffer)));
  // Chunking does not change the stream.
  const g = new SyntheticGenerator({ seed: 3, sampleRate: 2000, mode: 'model', unitsPerVolt: 1e4 });
  const e = new Float32Array(4000 * 16);
  for (let t = 0; t < 4000; t += 40) g.next(40, e, t * 16);
  assert.ok(Buffer.from(e.buffer).equals(Buffer.from(a.emg.buffer)));
});

test("synthetic EMG is at the golden input's scale (RMS 1.0) and band-limited to 20-450 Hz", () => {
  const { emg } = generate(1, 40_000);
  let ss = 0;
  let mean = 0;
  for (const v of emg) {
    ss += v * v;
    mean += v;
  }
  const rms = Math.sqrt(ss / emg.length);
  assert.ok(rms > 0.85 && rms < 1.15, `RMS ${rms}`);
  assert.ok(Math.abs(mean / emg.length) < 0.02, 'zero mean');
  for (const ch of [0, 7, 15]) {
    const inBand = powerAt(emg, ch, 16, 150);
    const low = powerAt(emg, ch, 16, 3) / inBand;
    const high = powerAt(emg, ch, 16, 900) / inBand;
    assert.ok(low < 1e-3, `channel ${ch}: 3 Hz at ${low} of 150 Hz`);
    assert.ok(high < 1e-2, `channel ${ch}: 900 Hz at ${high} of 150 Hz`);
  }
});

test('synthetic joint angles: 20 plausible, smooth angles that move with the EMG envelopes', () => {
  const n = 40_000;
  const { emg, angles } = generate(1, n);
  const bounds = syntheticAngleBounds();
  assert.equal(bounds.length, 20);
  for (let j = 0; j < 20; j++) {
    let lo = Infinity;
    let hi = -Infinity;
    let maxStep = 0;
    for (let t = 0; t < n; t++) {
      const v = angles[t * 20 + j]!;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      if (t > 0) maxStep = Math.max(maxStep, Math.abs(v - angles[(t - 1) * 20 + j]!));
    }
    assert.ok(
      lo >= bounds[j]!.lo - 1e-6 && hi <= bounds[j]!.hi + 1e-6,
      `joint ${j} in [${bounds[j]!.lo}, ${bounds[j]!.hi}]`,
    );
    assert.ok(lo >= -0.5 && hi <= 1.7, `joint ${j} within anatomical range`);
    assert.ok(hi - lo > 0.05, `joint ${j} moves`);
    assert.ok(maxStep < 0.005, `joint ${j} is smooth (step ${maxStep})`);
  }
  // Each channel's 100 ms RMS tracks at least one joint angle.
  const W = 200;
  for (let c = 0; c < 16; c++) {
    const env: number[] = [];
    for (let w = 0; w < n / W; w++) {
      let s = 0;
      for (let t = w * W; t < (w + 1) * W; t++) s += emg[t * 16 + c]! ** 2;
      env.push(Math.sqrt(s / W));
    }
    let best = 0;
    for (let j = 0; j < 20; j++) {
      const a = env.map((_, w) => angles[(w * W + W / 2) * 20 + j]!);
      best = Math.max(best, Math.abs(corr(env, a)));
    }
    assert.ok(best > 0.5, `channel ${c}: best envelope/angle correlation ${best}`);
  }
});

test('synthetic raw mode: volts with electrode offsets that preprocessing brings back to the model scale', () => {
  const n = 20_000;
  const raw = generate(1, n, 'raw').emg;
  const model = generate(1, n, 'model').emg;
  assert.ok(Math.abs(raw[0]!) > 1e-4 && Math.abs(raw[0]!) < 0.03, 'an electrode offset of some mV');
  const pre = new Preprocessor({
    channels: 16,
    sampleRate: 2000,
    highpassHz: 20,
    order: 4,
    scale: 1e4,
    badSamplePolicy: 'hold_last',
  });
  const y = new Float32Array(n * 16);
  pre.process(raw, n, 0, y, 0);
  const from = 4000 * 16;
  const r = corr(y.subarray(from), model.subarray(from));
  assert.ok(r > 0.8, `conditioned raw vs model correlation ${r}`);
});

/** A sink like the pipeline's: rings, flow control on the reader cursor, gaps recorded. */
function pipelineSink(
  capacity: number,
  signal: AbortSignal,
): { sink: SampleSink; emg: RingBuffer; truth: RingBuffer; gaps: GapEvent[] } {
  const emg = RingBuffer.create(capacity, 16);
  const truth = RingBuffer.create(capacity, 20);
  const gaps: GapEvent[] = [];
  const sink: SampleSink = {
    emg,
    truth,
    gap: (g) => gaps.push(g),
    note: () => undefined,
    waitForSpace: async (frames) => {
      while (emg.written + frames - emg.readCursor > emg.capacity && !signal.aborted)
        await new Promise((r) => setTimeout(r, 1));
    },
  };
  return { sink, emg, truth, gaps };
}

async function runFor(
  src: EmgSource,
  capacity: number,
  abortMs?: number,
): Promise<ReturnType<typeof pipelineSink> & { ms: number }> {
  const ac = new AbortController();
  const p = pipelineSink(capacity, ac.signal);
  if (abortMs !== undefined) setTimeout(() => ac.abort(), abortMs);
  const t0 = performance.now();
  await src.run(p.sink, ac.signal);
  return { ...p, ms: performance.now() - t0 };
}

test('createSource(synthetic): joint angles carried, duration honoured, same stream as the generator', async () => {
  const cfg = loadConfig(undefined, ['input.source=synthetic', 'input.duration_s=1.5', 'acquisition.synthetic_seed=5']);
  const src = await createSource(cfg, silentLogger());
  assert.equal(src.info.kind, 'synthetic');
  assert.equal(src.info.hasJointAngles, true);
  assert.equal(src.info.totalSamples, 3000);
  const r = await runFor(src, 4000);
  assert.equal(r.emg.written, 3000);
  assert.equal(r.truth.written, 3000);
  const want = generate(5, 3000);
  const e = new Float32Array(3000 * 16);
  const a = new Float32Array(3000 * 20);
  r.emg.sliceTail(3000, e);
  r.truth.sliceTail(3000, a);
  assert.ok(Buffer.from(e.buffer).equals(Buffer.from(want.emg.buffer)));
  assert.ok(Buffer.from(a.buffer).equals(Buffer.from(want.angles.buffer)));
});

test('createSource(synthetic): paced by input.speed, endless until aborted, waits for the consumer at speed 0', async () => {
  const paced = await createSource(
    loadConfig(undefined, ['input.source=synthetic', 'input.speed=1', 'input.duration_s=0.25']),
    silentLogger(),
  );
  const r1 = await runFor(paced, 4000);
  assert.ok(r1.ms >= 200, `real time: 0.25 s of signal took ${r1.ms.toFixed(0)} ms`);
  const endless = await createSource(
    loadConfig(undefined, ['input.source=synthetic', 'input.speed=4']),
    silentLogger(),
  );
  const r2 = await runFor(endless, 20_000, 150);
  assert.ok(
    r2.emg.written > 400 && r2.emg.written <= 4 * 2000 * (r2.ms / 1000) + 80,
    `${r2.emg.written} samples at 4× in ${r2.ms.toFixed(0)} ms`,
  );
  // Speed 0 with a reader that never consumes: the source stops at the ring's capacity.
  const fast = await createSource(loadConfig(undefined, ['input.source=synthetic']), silentLogger());
  const r3 = await runFor(fast, 1000, 100);
  assert.equal(r3.emg.written, 1000);
  assert.equal(r3.emg.overwritten, 0);
});

test('createSource(synthetic, raw): preprocessing on by default, conditioned to the model scale', async () => {
  const cfg = loadConfig(undefined, ['input.source=synthetic', 'acquisition.synthetic_mode=raw', 'input.duration_s=3']);
  const src = await createSource(cfg, silentLogger());
  assert.match(src.info.description, /preprocessed \(high-pass 20 Hz/);
  const r = await runFor(src, 8000);
  assert.equal(r.emg.written, 6000);
  assert.equal(r.truth.written, 6000);
  const e = new Float32Array(4000 * 16);
  r.emg.sliceTail(4000, e);
  const rms = Math.sqrt(e.reduce((s, v) => s + v * v, 0) / e.length);
  assert.ok(rms > 0.7 && rms < 1.3, `RMS ${rms}`);
  assert.equal(src.stats!()['preprocess_frames'], 6000);
  const off = await createSource(
    loadConfig(undefined, [
      'input.source=synthetic',
      'acquisition.synthetic_mode=raw',
      'acquisition.preprocess.enabled=false',
    ]),
    silentLogger(),
  );
  assert.doesNotMatch(off.info.description, /preprocessed/);
});

test('createSource(replay): unchanged, no preprocessing unless asked for', async () => {
  const src = await createSource(
    loadConfig(undefined, ['input.source=replay:models/golden/input.mtb', 'input.duration_s=1']),
    silentLogger(),
  );
  assert.equal(src.info.kind, 'replay');
  assert.doesNotMatch(src.info.description, /preprocessed/);
  const r = await runFor(src, 4000);
  assert.equal(r.emg.written, 2000);
  const on = await createSource(
    loadConfig(undefined, [
      'input.source=replay:models/golden/input.mtb',
      'acquisition.preprocess.enabled=true',
      'acquisition.preprocess.units_per_volt=1',
    ]),
    silentLogger(),
  );
  assert.match(on.info.description, /preprocessed/);
});

test('createSource refuses an unknown source by name', async () => {
  await assert.rejects(
    createSource(loadConfig(undefined, ['input.source=usb']), silentLogger()),
    (e: unknown) =>
      e instanceof UserError &&
      /"usb": unknown source \(expected synthetic, replay:FILE, ads1299, ads1299-sim, i2c, i2c-sim\)/.test(e.message),
  );
});

test('CLI: --source ads1299 without the hardware exits 2 with one line naming the device', () => {
  const r = runCli(['run', '--source', 'ads1299', '--quiet'], { timeoutMs: 30_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /\/dev\/spidev0\.0 does not exist/);
});

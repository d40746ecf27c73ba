import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Preprocessor,
  butterworthHighpass,
  preprocessSink,
  type PreprocessOptions,
  type PreprocessStats,
} from '../src/acquisition/preprocess.js';
import { RingBuffer } from '../src/acquisition/ring-buffer.js';
import type { GapEvent, SampleSink } from '../src/acquisition/source.js';

const RATE = 2000;

function opts(over: Partial<PreprocessOptions> = {}): PreprocessOptions {
  return {
    channels: 4,
    sampleRate: RATE,
    highpassHz: 20,
    order: 4,
    scale: 1e4,
    badSamplePolicy: 'hold_last',
    saturation: [0.18, 0.18, 0.18, 0.18],
    ...over,
  };
}

/** Electrode-like input in volts: offset + drift + a few tones + rare NaN/Inf/saturated samples. */
function input(frames: number, ch: number, seed = 1): Float32Array {
  const x = new Float32Array(frames * ch);
  let s = seed;
  const rnd = (): number => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
  for (let t = 0; t < frames; t++) {
    for (let c = 0; c < ch; c++) {
      let v =
        0.01 * (c + 1) +
        0.002 * Math.sin(0.0003 * t) +
        1e-4 * Math.sin((2 * Math.PI * (60 + 13 * c) * t) / RATE) +
        2e-5 * (rnd() - 0.5);
      const r = rnd();
      if (r < 0.001) v = NaN;
      else if (r < 0.002) v = Infinity;
      else if (r < 0.003) v = 0.2;
      x[t * ch + c] = v;
    }
  }
  return x;
}

function runChunked(pre: Preprocessor, x: Float32Array, ch: number, chunk: number): Float32Array {
  const frames = x.length / ch;
  const out = new Float32Array(x.length);
  let w = 0;
  for (let t = 0; t < frames; t += chunk) {
    const n = Math.min(chunk, frames - t);
    w += pre.process(x, n, t * ch, out, w * ch);
  }
  return out.subarray(0, w * ch);
}

for (const policy of ['hold_last', 'zero', 'gap'] as const) {
  test(`output does not depend on chunk size: 1, 40 and 10000 samples at a time give identical bits (${policy})`, () => {
    const x = input(20_000, 4);
    const outs = [1, 40, 10_000].map((chunk) =>
      runChunked(new Preprocessor(opts({ badSamplePolicy: policy })), x, 4, chunk),
    );
    const bytes = outs.map((o) => Buffer.from(o.buffer, o.byteOffset, o.byteLength));
    assert.ok(bytes[0]!.equals(bytes[1]!) && bytes[0]!.equals(bytes[2]!));
    assert.ok(outs[0]!.every(Number.isFinite), 'no NaN or Inf gets through');
  });
}

function gainAt(freq: number, order: 2 | 4): number {
  const pre = new Preprocessor(opts({ channels: 1, order, scale: 1, saturation: undefined }));
  const n = 8000;
  const x = new Float32Array(n);
  for (let t = 0; t < n; t++) x[t] = Math.sin((2 * Math.PI * freq * t) / RATE);
  const y = runChunked(pre, x, 1, 1000);
  let ss = 0;
  for (let t = n / 2; t < n; t++) ss += y[t]! * y[t]!;
  return Math.sqrt(ss / (n / 2)) * Math.SQRT2;
}

test('Butterworth high-pass: -3 dB at the corner, flat in the band, steep below', () => {
  assert.ok(Math.abs(gainAt(20, 4) - Math.SQRT1_2) < 0.01, `gain at 20 Hz ${gainAt(20, 4)}`);
  assert.ok(Math.abs(gainAt(20, 2) - Math.SQRT1_2) < 0.01);
  assert.ok(Math.abs(gainAt(150, 4) - 1) < 0.005);
  assert.ok(gainAt(5, 4) < 0.006, '4th order: (5/20)^4 ≈ 0.004');
  assert.ok(gainAt(5, 2) < 0.07 && gainAt(5, 2) > 0.05, '2nd order: (5/20)^2 ≈ 0.06');
  const secs = butterworthHighpass(20, RATE, 4);
  assert.equal(secs.length, 2);
  for (const s of secs) assert.ok(Math.abs(s.b0 + s.b1 + s.b2) < 1e-12, 'zero gain at DC');
});

test('an electrode offset present from the first sample causes no start-up transient', () => {
  const pre = new Preprocessor(opts({ channels: 1, saturation: undefined }));
  const x = new Float32Array(4000).fill(0.05); // 50 mV × 1e4 would be 500 model units
  const y = runChunked(pre, x, 1, 40);
  assert.ok(
    y.every((v) => Math.abs(v) < 1e-6),
    `max |y| ${Math.max(...y.map(Math.abs))}`,
  );
});

test('bad samples are counted by kind; hold_last and zero replace them, gap drops the frame', () => {
  const x = Float32Array.from([
    0.01,
    0.01, // good
    NaN,
    0.01, // NaN on channel 0
    0.01,
    Infinity, // Inf on channel 1
    0.19,
    0.01, // saturated (≥ 0.18)
    0.01,
    -0.5, // saturated negative
    0.01,
    0.01, // good
  ]);
  const counts = (policy: 'hold_last' | 'zero' | 'gap'): { out: Float32Array; st: PreprocessStats } => {
    const pre = new Preprocessor(
      opts({ channels: 2, highpassHz: 0, scale: 2, badSamplePolicy: policy, saturation: [0.18, 0.18] }),
    );
    return { out: runChunked(pre, x, 2, 1), st: pre.stats };
  };
  const hold = counts('hold_last');
  assert.deepEqual({ ...hold.st }, { frames: 6, badFrames: 4, nan: 1, inf: 1, saturated: 2, droppedFrames: 0 });
  assert.deepEqual(
    [...hold.out].map((v) => Number(v.toFixed(6))),
    [0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02],
  );
  const zero = counts('zero');
  assert.deepEqual(
    [...zero.out].map((v) => Number(v.toFixed(6))),
    [0.02, 0.02, 0, 0.02, 0.02, 0, 0, 0.02, 0.02, 0, 0.02, 0.02],
  );
  const gap = counts('gap');
  assert.equal(gap.st.droppedFrames, 4);
  assert.equal(gap.out.length, 4);
});

test('the sink wrapper reports dropped frames as gaps and keeps joint angles aligned', () => {
  const emg = RingBuffer.create(100, 2);
  const truth = RingBuffer.create(100, 1);
  const gaps: GapEvent[] = [];
  const reports: PreprocessStats[] = [];
  const sink: SampleSink = {
    emg,
    truth,
    gap: (g) => gaps.push(g),
    note: () => undefined,
    waitForSpace: async () => undefined,
  };
  const pre = new Preprocessor(
    opts({ channels: 2, highpassHz: 0, scale: 1, badSamplePolicy: 'gap', saturation: undefined }),
  );
  const wrapped = preprocessSink(sink, pre, { onBadSamples: (s) => reports.push({ ...s }), reportEverySamples: 4 });
  // Frame t carries t on both channels and joint angle 100 + t; frames 2, 3 and 7 are bad.
  const bad = new Set([2, 3, 7]);
  const mk = (from: number, n: number): [Float32Array, Float32Array] => {
    const e = new Float32Array(n * 2);
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const t = from + i;
      e[i * 2] = bad.has(t) ? NaN : t;
      e[i * 2 + 1] = t;
      a[i] = 100 + t;
    }
    return [e, a];
  };
  for (const [from, n] of [
    [0, 5],
    [5, 5],
  ] as const) {
    const [e, a] = mk(from, n);
    wrapped.truth!.append(a, n, 0);
    wrapped.emg.append(e, n, 0);
  }
  assert.equal(emg.written, 7);
  assert.equal(truth.written, 7);
  assert.equal(wrapped.emg.written, 7);
  assert.deepEqual(
    gaps.map((g) => [g.atSample, g.lostSamples]),
    [
      [2, 2],
      [5, 1],
    ],
  );
  const e = new Float32Array(14);
  const a = new Float32Array(7);
  emg.sliceTail(7, e);
  truth.sliceTail(7, a);
  assert.deepEqual(
    [...e].filter((_, i) => i % 2 === 1),
    [0, 1, 4, 5, 6, 8, 9],
  );
  assert.deepEqual([...a], [100, 101, 104, 105, 106, 108, 109]);
  assert.equal(reports.length, 2, 'first bad sample reported at once, then at most once per 4 samples');
  assert.equal(reports[0]!.nan, 2);
});

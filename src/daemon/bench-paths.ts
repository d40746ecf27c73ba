import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { RingBuffer } from '../acquisition/ring-buffer.js';
import { nearestRank } from '../common/statistics.js';
import { readTensorBundle } from '../common/tensor-bundle.js';
import { LEFT_CONTEXT, NUM_CHANNELS } from '../domain/geometry.js';
import type { PoseEvent } from '../domain/pose.js';
import { ExactPredictor } from '../inference/exact-predictor.js';
import type { LoadedModels } from '../inference/models.js';
import type { FrameEncoder, FrameListener } from '../inference/frame-encoder.js';
import type { Predictor } from '../inference/predictor.js';

// What `myostream bench` times and how: the paths it steps side by side, its input, the exact blocks.

/** Exact blocks timed per rollout kind (after one untimed block each). */
export const EXACT_BLOCKS = 6;

export interface Percentiles {
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}

export interface PathStats extends Percentiles {
  mean_ms: number;
  max_ms: number;
  /** The FrameEncoder's part of T_compute (frame() calls of the step). */
  encoder: Percentiles & { mean_ms: number };
  /** The rest: single point / interpolation + LSTM step. */
  lstm_and_rest: Percentiles & { mean_ms: number };
}

/** FrameEncoder wrapper that adds up the time spent in frame() during one predictor step. */
export class TimedFrameEncoder implements FrameEncoder {
  ms = 0;
  constructor(readonly inner: FrameEncoder) {}
  get onFrame(): FrameListener | undefined {
    return this.inner.onFrame;
  }
  set onFrame(f: FrameListener | undefined) {
    this.inner.onFrame = f;
  }
  get kind(): FrameEncoder['kind'] {
    return this.inner.kind;
  }
  reset(origin: number): void {
    this.inner.reset(origin);
  }
  readyAt(q: number): number {
    return this.inner.readyAt(q);
  }
  oldestNeeded(q: number): number {
    return this.inner.oldestNeeded(q);
  }
  async frame(ring: RingBuffer, q: number, out: Float32Array, outOffset: number): Promise<void> {
    const t0 = performance.now();
    await this.inner.frame(ring, q, out, outOffset);
    this.ms += performance.now() - t0;
  }
}

export class Path {
  /** Wall time of the predictor's advance() (for the supervised path: the step and its shadow work). */
  readonly wall: Float64Array;
  /** T_compute as the predictor reports it. */
  readonly total: Float64Array;
  readonly enc: Float64Array;
  n = 0;
  /** `timed`: the encoder's share is measured (two-run steps only; a one-run step cannot be split). */
  constructor(
    readonly name: string,
    readonly predictor: Predictor,
    readonly timed: TimedFrameEncoder | undefined,
    steps: number,
  ) {
    this.wall = new Float64Array(steps);
    this.total = new Float64Array(steps);
    this.enc = new Float64Array(steps);
  }
  async step(ring: RingBuffer, record: boolean, emit: (e: PoseEvent) => void): Promise<void> {
    if (this.timed) this.timed.ms = 0;
    const t0 = performance.now();
    const ms = await this.predictor.advance(ring, emit);
    const wall = performance.now() - t0;
    if (record) {
      this.wall[this.n] = wall;
      this.total[this.n] = ms;
      this.enc[this.n] = this.timed ? this.timed.ms : NaN;
      this.n++;
    }
  }
  stats(): PathStats & { wall: Percentiles & { mean_ms: number; max_ms: number } } {
    const rest = this.total.map((t, i) => t - this.enc[i]!);
    const t = summarize(this.total);
    return {
      ...pick(t),
      mean_ms: t.mean_ms,
      max_ms: t.max_ms,
      encoder: summarize(this.enc, false),
      lstm_and_rest: summarize(rest, false),
      wall: summarize(this.wall),
    };
  }
}

export function summarize(values: Float64Array, withMax = true): Percentiles & { mean_ms: number; max_ms: number } {
  const s = Float64Array.from(values).sort();
  const at = (p: number): number => r4(nearestRank(s, s.length, p));
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const r: Percentiles & { mean_ms: number; max_ms: number } = {
    p50_ms: at(50),
    p95_ms: at(95),
    p99_ms: at(99),
    mean_ms: r4(mean),
    max_ms: r4(s[s.length - 1]!),
  };
  if (!withMax) delete (r as Partial<typeof r>).max_ms;
  return r;
}

export const pick = (p: Percentiles): Percentiles => ({ p50_ms: p.p50_ms, p95_ms: p.p95_ms, p99_ms: p.p99_ms });
export const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** A callable gc() without --expose-gc on the command line (for clean heap figures). */
export function gcFunction(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** Bench input: the golden recording (or seeded noise), tiled with every other copy reversed. */
export function benchSignal(modelDir: string, samples: number): { data: Float32Array; source: string } {
  const golden = join(modelDir, 'golden', 'input.mtb');
  let base: Float32Array | undefined;
  if (existsSync(golden)) {
    const emg = readTensorBundle(golden).arrays.get('emg');
    if (emg && emg.shape[1] === NUM_CHANNELS) base = emg.data;
  }
  const out = new Float32Array(samples * NUM_CHANNELS);
  if (!base) {
    let seed = 12345;
    for (let i = 0; i < out.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      out[i] = (seed / 0x1_0000_0000 - 0.5) * 3.4;
    }
    return { data: out, source: 'seeded uniform noise (no golden/input.mtb)' };
  }
  const n = base.length / NUM_CHANNELS;
  for (let t = 0; t < samples; t++) {
    const tile = Math.floor(t / n);
    const i = t % n;
    const src = tile % 2 === 0 ? i : n - 1 - i;
    out.set(base.subarray(src * NUM_CHANNELS, (src + 1) * NUM_CHANNELS), t * NUM_CHANNELS);
  }
  return { data: out, source: `${golden} tiled (every other copy time-reversed)` };
}

/** Block compute of the stepped rollout and, where the model set has the Loop graph, the one-run rollout. */
export function timeExactRollouts(
  models: LoadedModels,
  blockSamples: number,
  ring: RingBuffer,
): Promise<Float64Array[]> {
  const stepped = new ExactPredictor(models.encoder, models.decoder, blockSamples, false);
  const looped = models.rollout
    ? new ExactPredictor(models.encoder, models.decoder, blockSamples, false, models.rollout)
    : undefined;
  return timeExactBlocks(looped ? [stepped, looped] : [stepped], ring);
}

/** Block compute of a rollout kind: the same blocks of the same ring, alternating with the other kind. */
async function timeExactBlocks(kinds: readonly ExactPredictor[], ring: RingBuffer): Promise<Float64Array[]> {
  const out = kinds.map(() => new Float64Array(EXACT_BLOCKS));
  const blocksInRing = Math.max(1, Math.floor((ring.written - LEFT_CONTEXT) / kinds[0]!.blockSamples));
  const order = kinds.map((_, k) => k);
  for (let i = -1; i < EXACT_BLOCKS; i++) {
    // Which kind goes first alternates; i = -1 is the untimed first block of each.
    for (const k of i % 2 === 0 ? order : [...order].reverse()) {
      const x = kinds[k]!;
      x.restartAt(((i + 1) % blocksInRing) * x.blockSamples);
      const r = await x.runBlock(ring);
      if (i >= 0) out[k]![i] = r.computeMs;
    }
  }
  return out;
}

import { setTimeout as sleep } from 'node:timers/promises';
import { butterworthHighpass } from './preprocess.js';
import { waitForSpaceOrAbort, type EmgSource, type SampleSink, type SourceInfo } from './source.js';

export const SYNTHETIC_CHANNELS = 16;
export const SYNTHETIC_JOINTS = 20;

/**
 * Deterministic EMG-like signal with matching joint angles, generated sample by sample.
 *
 * Seven slowly varying latent drives (five finger flexions, thumb opposition, finger spread;
 * 0.1–1.5 Hz) set both the hand pose and the activation envelope of each channel, so EMG power
 * and joint angles move together. Each channel is white noise band-limited to 20–450 Hz (4th-order
 * Butterworth high- and low-pass), mixed 25 % into its neighbours (cross-talk), multiplied by its
 * envelope, and scaled to an overall RMS of 1.0: the scale of the model's golden input
 * (models/golden/input.mtb, "arbitrary units, overall RMS 1.0").
 *
 * Raw mode instead emits what electrodes would give an ADC: the same signal divided by
 * `unitsPerVolt`, plus a per-channel electrode offset (±20 mV) and a slow drift, for the
 * preprocessing path to remove.
 */
export interface SyntheticOptions {
  readonly seed: number;
  readonly sampleRate: number;
  readonly mode: 'model' | 'raw';
  readonly unitsPerVolt: number;
}

const LATENTS = 7; // thumb, index, middle, ring, pinky flexion; thumb opposition; spread
const CROSSTALK = 0.25;

/** xoshiro128** seeded through splitmix32: small, fast, and the same on every platform. */
class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r / 4294967296;
  }

  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Standard normal (Box–Muller, both values used). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u = this.uniform();
    while (u <= 1e-12) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    this.hasSpare = true;
    return r * Math.cos(2 * Math.PI * v);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

interface Section {
  b0: number;
  b1: number;
  b2: number;
  a1: number;
  a2: number;
}

function butterworthLowpass(cornerHz: number, sampleRate: number): Section[] {
  const w0 = (2 * Math.PI * cornerHz) / sampleRate;
  const cw = Math.cos(w0);
  const sw = Math.sin(w0);
  return [1, 2].map((k) => {
    const q = 1 / (2 * Math.cos(((2 * k - 1) * Math.PI) / 8));
    const alpha = sw / (2 * q);
    const a0 = 1 + alpha;
    return {
      b0: (1 - cw) / 2 / a0,
      b1: (1 - cw) / a0,
      b2: (1 - cw) / 2 / a0,
      a1: (-2 * cw) / a0,
      a2: (1 - alpha) / a0,
    };
  });
}

/** Typical range of each joint (radians) and which latent drives it; SPEC §2 joint order. */
const JOINTS: readonly { lo: number; hi: number; drive: number; spread?: number }[] = [
  { lo: 0.1, hi: 0.6, drive: 0 }, // THUMB_CMC_FE
  { lo: -0.1, hi: 0.4, drive: 5 }, // THUMB_CMC_AA (opposition)
  { lo: 0.05, hi: 0.75, drive: 0 }, // THUMB_MCP_FE
  { lo: 0.05, hi: 0.95, drive: 0 }, // THUMB_IP_FE
  ...[1, 2, 3, 4].flatMap((f) => [
    { lo: 0, hi: 0, drive: 6, spread: [0.15, 0.03, -0.1, -0.2][f - 1]! }, // MCP_AA: spread, signed per finger
    { lo: -0.1, hi: 1.3, drive: f }, // MCP_FE
    { lo: 0.05, hi: 1.6, drive: f }, // PIP_FE
    { lo: 0.02, hi: 1.05, drive: f }, // DIP_FE
  ]),
];

export class SyntheticGenerator {
  readonly channels = SYNTHETIC_CHANNELS;
  /** Samples generated so far. */
  index = 0;
  private readonly rng: Rng;
  private readonly sections: Section[];
  private readonly state: Float64Array;
  private readonly white = new Float64Array(SYNTHETIC_CHANNELS);
  private readonly band = new Float64Array(SYNTHETIC_CHANNELS);
  private readonly latent = new Float64Array(LATENTS);
  private readonly lf1 = new Float64Array(LATENTS);
  private readonly lf2 = new Float64Array(LATENTS);
  private readonly lp1 = new Float64Array(LATENTS);
  private readonly lp2 = new Float64Array(LATENTS);
  /** [channel][latent] envelope weights, rows summing to 1. */
  private readonly weights = new Float64Array(SYNTHETIC_CHANNELS * LATENTS);
  private readonly offset = new Float64Array(SYNTHETIC_CHANNELS);
  private readonly driftPhase = new Float64Array(SYNTHETIC_CHANNELS);
  private readonly bandGain: number;
  private readonly rmsScale: number;

  constructor(private readonly o: SyntheticOptions) {
    const rng = new Rng(o.seed);
    this.rng = rng;
    for (let j = 0; j < LATENTS; j++) {
      this.lf1[j] = rng.range(0.1, 0.6);
      this.lf2[j] = rng.range(0.5, 1.5);
      this.lp1[j] = rng.range(0, 2 * Math.PI);
      this.lp2[j] = rng.range(0, 2 * Math.PI);
    }
    // Electrodes around the forearm: each channel mostly follows one or two neighbouring drives.
    for (let c = 0; c < SYNTHETIC_CHANNELS; c++) {
      const centre = ((c + rng.uniform()) / SYNTHETIC_CHANNELS) * LATENTS;
      let sum = 0;
      for (let j = 0; j < LATENTS; j++) {
        const d = Math.min(Math.abs(j - centre), LATENTS - Math.abs(j - centre));
        const w = Math.exp(-d * d) + 0.05 * rng.uniform();
        this.weights[c * LATENTS + j] = w;
        sum += w;
      }
      for (let j = 0; j < LATENTS; j++) this.weights[c * LATENTS + j]! /= sum;
      this.offset[c] = rng.range(-0.02, 0.02);
      this.driftPhase[c] = rng.range(0, 2 * Math.PI);
    }
    this.sections = [...butterworthHighpass(20, o.sampleRate, 4), ...butterworthLowpass(450, o.sampleRate)];
    this.state = new Float64Array(SYNTHETIC_CHANNELS * this.sections.length * 2);
    this.bandGain = Math.sqrt(impulseEnergy(this.sections) * (1 + 2 * CROSSTALK * CROSSTALK));
    this.rmsScale = 1 / Math.sqrt(this.meanSquareEnvelope());
    // Let the filters reach their steady state before the first sample is emitted.
    for (let i = 0; i < 4 * o.sampleRate; i++) this.bandSample();
  }

  /**
   * Generates `frames` samples: EMG [frames, 16] at emg[emgOff] and, when `angles` is given,
   * joint angles [frames, 20] at angles[angOff].
   */
  next(frames: number, emg: Float32Array, emgOff: number, angles?: Float32Array, angOff = 0): void {
    const rate = this.o.sampleRate;
    const raw = this.o.mode === 'raw';
    const inv = 1 / this.o.unitsPerVolt;
    for (let i = 0; i < frames; i++) {
      const t = this.index / rate;
      this.latents(t);
      this.bandSample();
      const base = emgOff + i * SYNTHETIC_CHANNELS;
      for (let c = 0; c < SYNTHETIC_CHANNELS; c++) {
        let e = 0;
        for (let j = 0; j < LATENTS; j++) e += this.weights[c * LATENTS + j]! * this.latent[j]!;
        const v = this.band[c]! * (0.2 + 0.8 * e) * this.rmsScale;
        emg[base + c] = raw
          ? v * inv + this.offset[c]! + 0.002 * Math.sin(2 * Math.PI * 0.05 * t + this.driftPhase[c]!)
          : v;
      }
      if (angles) writeAngles(this.latent, angles, angOff + i * SYNTHETIC_JOINTS);
      this.index++;
    }
  }

  /** Latent drives in [0, 1] (spread in [−1, 1]) at time t. */
  private latents(t: number): void {
    for (let j = 0; j < LATENTS; j++) {
      const s =
        0.65 * Math.sin(2 * Math.PI * this.lf1[j]! * t + this.lp1[j]!) +
        0.35 * Math.sin(2 * Math.PI * this.lf2[j]! * t + this.lp2[j]!);
      this.latent[j] = j === 6 ? s : 0.5 + 0.5 * s;
    }
  }

  private bandSample(): void {
    const n = this.sections.length;
    for (let c = 0; c < SYNTHETIC_CHANNELS; c++) {
      let v = this.rng.normal();
      let base = c * n * 2;
      for (let k = 0; k < n; k++, base += 2) {
        const s = this.sections[k]!;
        const y = s.b0 * v + this.state[base]!;
        this.state[base] = s.b1 * v - s.a1 * y + this.state[base + 1]!;
        this.state[base + 1] = s.b2 * v - s.a2 * y;
        v = y;
      }
      this.white[c] = v;
    }
    for (let c = 0; c < SYNTHETIC_CHANNELS; c++) {
      const l = this.white[(c + SYNTHETIC_CHANNELS - 1) % SYNTHETIC_CHANNELS]!;
      const r = this.white[(c + 1) % SYNTHETIC_CHANNELS]!;
      this.band[c] = (this.white[c]! + CROSSTALK * (l + r)) / this.bandGain;
    }
  }

  /** Mean over channels and over a long stretch of time of the squared envelope. */
  private meanSquareEnvelope(): number {
    let sum = 0;
    let n = 0;
    for (let i = 0; i < 12000; i++) {
      this.latents(i / 20); // 600 s at 20 Hz
      for (let c = 0; c < SYNTHETIC_CHANNELS; c++) {
        let e = 0;
        for (let j = 0; j < LATENTS; j++) e += this.weights[c * LATENTS + j]! * this.latent[j]!;
        const env = 0.2 + 0.8 * e;
        sum += env * env;
        n++;
      }
    }
    return sum / n;
  }
}

function writeAngles(latent: Float64Array, out: Float32Array, off: number): void {
  for (let k = 0; k < SYNTHETIC_JOINTS; k++) {
    const j = JOINTS[k]!;
    const d = latent[j.drive]!;
    out[off + k] =
      j.spread !== undefined ? j.spread * d : j.lo + (j.hi - j.lo) * (k === 3 ? d * (0.7 + 0.3 * latent[5]!) : d);
  }
}

/** Sum of the squared impulse response of a cascade: its gain on white noise, squared. */
function impulseEnergy(sections: readonly Section[]): number {
  const st = new Float64Array(sections.length * 2);
  let e = 0;
  for (let i = 0; i < 16384; i++) {
    let v = i === 0 ? 1 : 0;
    for (let k = 0; k < sections.length; k++) {
      const s = sections[k]!;
      const y = s.b0 * v + st[2 * k]!;
      st[2 * k] = s.b1 * v - s.a1 * y + st[2 * k + 1]!;
      st[2 * k + 1] = s.b2 * v - s.a2 * y;
      v = y;
    }
    e += v * v;
  }
  return e;
}

/** Joint-angle bounds the synthetic source stays within (radians), for tests and docs. */
export function syntheticAngleBounds(): { lo: number; hi: number }[] {
  return JOINTS.map((j) =>
    j.spread !== undefined ? { lo: -Math.abs(j.spread), hi: Math.abs(j.spread) } : { lo: j.lo, hi: j.hi },
  );
}

export interface SyntheticSourceOptions extends SyntheticOptions {
  /** 1 = real time, N = N× real time, 0 = as fast as the consumer takes it. */
  readonly speed: number;
  /** Stop after this many samples (0 = endless). */
  readonly maxSamples: number;
  /** Samples per append. */
  readonly chunkSamples: number;
}

/** The synthetic generator as a source, paced against the wall clock. */
export class SyntheticSource implements EmgSource {
  readonly info: SourceInfo;

  constructor(private readonly o: SyntheticSourceOptions) {
    this.info = {
      kind: 'synthetic',
      description: `synthetic (seed ${o.seed}, ${o.mode === 'raw' ? 'raw volts with electrode offset' : 'model units, RMS 1.0'}, joint angles)`,
      sampleRate: o.sampleRate,
      channels: SYNTHETIC_CHANNELS,
      hasJointAngles: true,
      ...(o.maxSamples > 0 ? { totalSamples: o.maxSamples } : {}),
    };
  }

  async run(sink: SampleSink, signal: AbortSignal): Promise<void> {
    const o = this.o;
    const gen = new SyntheticGenerator(o);
    const chunk = Math.max(1, o.chunkSamples);
    const emg = new Float32Array(chunk * SYNTHETIC_CHANNELS);
    const angles = new Float32Array(chunk * SYNTHETIC_JOINTS);
    const t0 = performance.now();
    let done = 0;
    while (!signal.aborted && (o.maxSamples === 0 || done < o.maxSamples)) {
      const n = o.maxSamples === 0 ? chunk : Math.min(chunk, o.maxSamples - done);
      await waitForSpaceOrAbort(sink, n, signal);
      if (signal.aborted) break;
      if (o.speed > 0) {
        const due = t0 + ((done + n) / o.sampleRate / o.speed) * 1000;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) break;
      } else if ((done / chunk) % 64 === 63) {
        // Endless and unpaced: yield now and then so that timers and signals still run.
        await new Promise<void>((r) => setImmediate(r));
      }
      gen.next(n, emg, 0, angles, 0);
      if (sink.truth) sink.truth.append(angles, n, 0);
      sink.emg.append(emg, n, 0);
      done += n;
    }
  }
}

import { RingBuffer } from '../acquisition/ring-buffer.js';
import { SyntheticGenerator, SYNTHETIC_CHANNELS, SYNTHETIC_JOINTS } from '../acquisition/synthetic.js';
import { NUM_CHANNELS, POSE_DIM, SAMPLE_RATE } from '../domain/geometry.js';
import { ExactPredictor } from '../inference/exact-predictor.js';
import { incrementalEncoderFrom } from '../inference/incremental-encoder.js';
import { precisionKey, type LoadedModels, type Precision } from '../inference/models.js';
import { StreamingPredictor } from '../inference/streaming-predictor.js';
import { STREAM_STEP_MODEL_KEY } from '../inference/stream-step.js';

/** |Δ angle| in degrees between two pose series of the same moments. */
export interface DeviationFigures {
  max_deg: number;
  p99_deg: number;
  per_joint_max_deg: number[];
  per_joint_p99_deg: number[];
  /** Largest |Δ| of each consecutive segment (segment_s long): does it grow with time? */
  segment_max_deg: number[];
}

export interface PrecisionStudy {
  seconds: number;
  steps: number;
  /** Steps compared with exact (those inside whole exact blocks). */
  exact_steps: number;
  segment_s: number;
  /** Both sessions continuous (never reset): what int8 changes in a live session, over time. */
  int8_vs_fp32_streaming: DeviationFigures;
  /**
   * int8 streaming restarted at every block start against fp32 exact: what the live shadow's
   * aligned check (eval.streaming_tolerance_int8) sees, block by block.
   */
  int8_reset_per_block_vs_fp32_exact: DeviationFigures;
  /** The same with fp32 streaming: ≈ 1e-6 degrees, exact_grid reproduces exact. */
  fp32_reset_per_block_vs_fp32_exact: DeviationFigures;
  /** Continuous int8 streaming against exact (which resets per block): dominated by that reset, as for fp32 below. */
  int8_vs_fp32_exact: DeviationFigures;
  fp32_streaming_vs_fp32_exact: DeviationFigures;
}

export interface StudyOptions {
  /** Length of the segments of segment_max_deg (seconds of signal). */
  segmentS?: number;
  /** Called every `progressEvery` streaming steps of each run (a caller's progress deadline). */
  onProgress?: (run: string, steps: number) => void;
  progressEvery?: number;
}

const BLOCK_SAMPLES = 10000;
const DEG = 180 / Math.PI;

/** `seconds` of the synthetic source's model-scale EMG (seeded, the same on every platform), time-major [n, 16]. */
export function syntheticEmg(seconds: number, seed: number): Float32Array {
  const n = Math.round(seconds * SAMPLE_RATE);
  const gen = new SyntheticGenerator({ seed, sampleRate: SAMPLE_RATE, mode: 'model', unitsPerVolt: 1 });
  const emg = new Float32Array(n * SYNTHETIC_CHANNELS);
  const angles = new Float32Array(4096 * SYNTHETIC_JOINTS);
  for (let done = 0; done < n; done += 4096)
    gen.next(Math.min(4096, n - done), emg, done * SYNTHETIC_CHANNELS, angles, 0);
  return emg;
}

/**
 * exact_grid streaming at `precision` over the whole input, [steps, 20]: one continuous session,
 * or (resetPerBlock) a fresh session at every block start, 250 steps each.
 */
async function streamingPoses(
  models: LoadedModels,
  ring: RingBuffer,
  precision: Precision,
  o: StudyOptions,
  resetPerBlock = false,
): Promise<Float32Array> {
  const decoder = models.sessions[precisionKey('decoder_step', precision)];
  if (!decoder) throw new Error(`${precisionKey('decoder_step', precision)} not loaded`);
  const p = new StreamingPredictor(incrementalEncoderFrom(models, { precision }), decoder, {
    policy: 'exact_grid',
    blockSamples: BLOCK_SAMPLES,
    fusedStep: models.sessions[precisionKey(STREAM_STEP_MODEL_KEY, precision)],
  });
  const out: number[] = [];
  const every = o.progressEvery ?? 250;
  const emit = (e: { angles: Float32Array }): void => {
    for (let k = 0; k < POSE_DIM; k++) out.push(e.angles[k]!);
  };
  const run = async (limit: number): Promise<void> => {
    while (p.stepsDone < limit && ring.written >= p.nextReadyAt) {
      await p.advance(ring, emit);
      if (p.stepsDone % every === 0) o.onProgress?.(`streaming ${precision}`, out.length / POSE_DIM);
    }
  };
  if (resetPerBlock) {
    const points = BLOCK_SAMPLES / 40;
    for (let b = 0; (b + 1) * BLOCK_SAMPLES + 1790 <= ring.written; b++) {
      p.restartAt(b * BLOCK_SAMPLES);
      await run(points);
    }
    return Float32Array.from(out);
  }
  p.restartAt(0);
  await run(Infinity);
  p.endInputAt(ring.written);
  await run(Infinity);
  return Float32Array.from(out);
}

/** Exact's poses of every whole block, concatenated: [blocks × 250, 20]. */
async function exactPoses(models: LoadedModels, ring: RingBuffer, o: StudyOptions): Promise<Float32Array> {
  const x = new ExactPredictor(models.encoder, models.decoder, BLOCK_SAMPLES, false, models.rollout);
  x.restartAt(0);
  const out: number[] = [];
  while (ring.written >= x.nextReadyAt) {
    const r = await x.runBlock(ring);
    for (let i = 0; i < r.points * POSE_DIM; i++) out.push(r.poses[i]!);
    o.onProgress?.('exact', out.length / POSE_DIM);
  }
  return Float32Array.from(out);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Figures of |a − b| over their first `steps` poses, in degrees. */
export function deviationFigures(
  a: Float32Array,
  b: Float32Array,
  steps: number,
  segmentSteps: number,
): DeviationFigures {
  const all = new Float64Array(steps * POSE_DIM);
  const perJoint = Array.from({ length: POSE_DIM }, () => new Float64Array(steps));
  const segments: number[] = [];
  for (let j = 0; j < steps; j++) {
    const seg = Math.floor(j / segmentSteps);
    if (segments.length <= seg) segments.push(0);
    for (let k = 0; k < POSE_DIM; k++) {
      const d = Math.abs(a[j * POSE_DIM + k]! - b[j * POSE_DIM + k]!) * DEG;
      all[j * POSE_DIM + k] = d;
      perJoint[k]![j] = d;
      if (d > segments[seg]!) segments[seg] = d;
    }
  }
  all.sort();
  for (const v of perJoint) v.sort();
  const r = (x: number): number => Number(x.toPrecision(4));
  return {
    max_deg: r(all[all.length - 1] ?? NaN),
    p99_deg: r(percentile(all, 99)),
    per_joint_max_deg: perJoint.map((v) => r(v[v.length - 1] ?? NaN)),
    per_joint_p99_deg: perJoint.map((v) => r(percentile(v, 99))),
    segment_max_deg: segments.map(r),
  };
}

/**
 * The int8 variant's deviation over one input (time-major [n, 16] EMG): one continuous
 * exact_grid session at fp32 and one at int8 (incremental encoder, one run per step where the
 * folder has stream_step), and exact (fp32, reset per block) over every whole block.
 */
export async function precisionStudy(
  models: LoadedModels,
  emg: Float32Array,
  o: StudyOptions = {},
): Promise<PrecisionStudy> {
  const n = emg.length / NUM_CHANNELS;
  const ring = RingBuffer.create(n, NUM_CHANNELS);
  ring.append(emg);
  const fp32 = await streamingPoses(models, ring, 'fp32', o);
  const int8 = await streamingPoses(models, ring, 'int8', o);
  const exact = await exactPoses(models, ring, o);
  const int8Blocks = await streamingPoses(models, ring, 'int8', o, true);
  const fp32Blocks = await streamingPoses(models, ring, 'fp32', o, true);
  const steps = Math.min(fp32.length, int8.length) / POSE_DIM;
  const exactSteps = Math.min(steps, exact.length / POSE_DIM);
  const segmentS = o.segmentS ?? 30;
  const segmentSteps = Math.max(1, Math.round(segmentS * 50));
  return {
    seconds: Number((n / SAMPLE_RATE).toFixed(3)),
    steps,
    exact_steps: exactSteps,
    segment_s: segmentS,
    int8_vs_fp32_streaming: deviationFigures(int8, fp32, steps, segmentSteps),
    int8_reset_per_block_vs_fp32_exact: deviationFigures(
      int8Blocks,
      exact,
      Math.min(exactSteps, int8Blocks.length / POSE_DIM),
      segmentSteps,
    ),
    fp32_reset_per_block_vs_fp32_exact: deviationFigures(
      fp32Blocks,
      exact,
      Math.min(exactSteps, fp32Blocks.length / POSE_DIM),
      segmentSteps,
    ),
    int8_vs_fp32_exact: deviationFigures(int8, exact, exactSteps, segmentSteps),
    fp32_streaming_vs_fp32_exact: deviationFigures(fp32, exact, exactSteps, segmentSteps),
  };
}

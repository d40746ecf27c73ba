import type { RingBuffer } from '../acquisition/ring-buffer.js';
import type { BlockResult, ExactPredictor } from '../inference/exact-predictor.js';
import { POSE_DIM, SAMPLE_RATE, LEFT_CONTEXT, STEP_SAMPLES } from '../domain/geometry.js';
import type { Predictor } from '../inference/predictor.js';
import type { StreamingPredictor } from '../inference/streaming-predictor.js';
import type { PoseEvent } from '../domain/pose.js';
import { ErrorAccumulator, stepErrors } from '../domain/error-figures.js';
import type { BlockFigures, StepMetrics } from '../domain/events.js';

/** Shadow decoder steps per streaming step: a 250-point block finishes in 125 steps (2.5 s). */
const SHADOW_STEPS = 2;

/** A shadow exact block compared with the streaming steps of the same moments. */
export type BlockComparison = BlockFigures;

export interface SupervisionHooks {
  onStep(m: StepMetrics): void;
  onBlock?(c: BlockComparison): void;
}

/**
 * Streaming with its supervision: per-step metrics (T_compute, end-to-end latency, error
 * against ground truth when the source has it) and, when alignment checking is on, a shadow
 * exact predictor on the same ring whose blocks are compared with the streaming poses of the
 * same moments. The shadow's block runs right after the streaming step that completes it.
 */
export class SupervisedStreaming implements Predictor {
  readonly mode = 'streaming' as const;
  private readonly points: number;
  // Per-step records of two blocks (slot = block parity): the shadow decodes block b while the
  // streaming steps of block b + 1 are being recorded.
  private readonly blockPoses: Float32Array;
  private readonly blockCompute: Float64Array;
  private readonly blockE2e: Float64Array;
  private readonly blockTruth: Float64Array; // [2 × points, 2]: mae, mse (NaN without truth)
  private readonly truthRow = new Float32Array(POSE_DIM);

  constructor(
    readonly streaming: StreamingPredictor,
    private readonly shadow: ExactPredictor | undefined,
    private readonly truth: RingBuffer | undefined,
    private readonly hooks: SupervisionHooks,
    /** ms timestamp (performance.now) when the sample that completed the step arrived, if known. */
    private readonly arrivalOf?: (sample: number) => number | undefined,
  ) {
    this.points = shadow?.points ?? 1;
    this.blockPoses = new Float32Array(2 * this.points * POSE_DIM);
    this.blockCompute = new Float64Array(2 * this.points);
    this.blockE2e = new Float64Array(2 * this.points);
    this.blockTruth = new Float64Array(2 * this.points * 2);
  }

  get nextReadyAt(): number {
    return this.streaming.nextReadyAt;
  }

  get resumeAt(): number {
    return this.streaming.nextWindowStart;
  }

  /**
   * At the end of the input: finishes a shadow block still being decoded, so the last block's
   * comparison is not lost.
   */
  async finish(): Promise<void> {
    if (this.shadow?.blockInProgress) {
      const r = await this.shadow.continueBlock(Infinity);
      if (r) this.compare(r);
    }
  }

  get oldestNeeded(): number {
    return this.shadow ? Math.min(this.streaming.oldestNeeded, this.shadow.oldestNeeded) : this.streaming.oldestNeeded;
  }

  restartAt(sample: number): void {
    this.streaming.restartAt(sample);
    this.shadow?.restartAt(sample);
  }

  async advance(ring: RingBuffer, emit: (e: PoseEvent) => void): Promise<number> {
    this.readyAt = this.streaming.nextReadyAt;
    this.emit = emit;
    const ms = await this.streaming.advance(ring, this.onStreamingPose);
    // The shadow's compute is supervision, not the step's: it stays outside T_compute.
    await this.runShadow(ring);
    return ms;
  }

  // Bound once: the 50 Hz loop hands it to every step without making a closure per step.
  private readyAt = 0;
  private emit: (e: PoseEvent) => void = () => undefined;
  private readonly onStreamingPose = (e: PoseEvent): void => {
    const j = e.step;
    const t = e.t;
    const arrived = this.arrivalOf?.(this.readyAt - 1);
    if (arrived !== undefined) e.inputArrivedAt = arrived;
    this.emit(e);
    this.afterPose(j, t, e.angles, performance.now(), arrived);
  };

  private afterPose(j: number, t: number, angles: Float32Array, handedAt: number, arrived: number | undefined): void {
    const computeMs = this.streaming.lastComputeMs;
    const e2e = arrived === undefined ? NaN : handedAt - arrived;
    let maeT = NaN;
    let mseT = NaN;
    if (this.truth) {
      // Ground truth at the centre of the step's 40-sample output interval, where the exact
      // rollout's 2 kHz upsampling places the point.
      const at = this.streaming.sessionOrigin + LEFT_CONTEXT + STEP_SAMPLES * j + STEP_SAMPLES / 2;
      if (at < this.truth.written && at >= this.truth.oldest) {
        this.truth.sliceEndingAt(at + 1, 1, this.truthRow);
        const err = stepErrors(angles, 0, this.truthRow, 0, POSE_DIM);
        maeT = err.mae;
        mseT = err.mse;
      }
    }
    if (!this.shadow) {
      this.hooks.onStep(metricsLine(j, t, computeMs, e2e, NaN, NaN, maeT, mseT));
      return;
    }
    const i = this.slotOf(j);
    this.blockPoses.set(angles, i * POSE_DIM);
    this.blockCompute[i] = computeMs;
    this.blockE2e[i] = e2e;
    this.blockTruth[2 * i] = maeT;
    this.blockTruth[2 * i + 1] = mseT;
  }

  /** Record slot of session step j: block parity × points + index within the block. */
  private slotOf(j: number): number {
    return (Math.floor(j / this.points) % 2) * this.points + (j % this.points);
  }

  /**
   * Advances the shadow exact block a little after each streaming step rather than all at once:
   * the whole-window encoder when a block's moments are all streamed, then SHADOW_STEPS decoder
   * steps per streaming step, so supervision never holds up the 50 Hz loop for a whole block
   * (≈ 100 ms on a 2-core CPU). The comparison lands half a block later.
   */
  private async runShadow(ring: RingBuffer): Promise<BlockComparison | undefined> {
    const shadow = this.shadow;
    if (!shadow) return undefined;
    if (!shadow.blockInProgress) {
      if (this.streaming.stepsDone < (shadow.blocksDone + 1) * this.points || ring.written < shadow.nextReadyAt) return undefined;
      await shadow.beginBlock(ring);
      return undefined;
    }
    const r = await shadow.continueBlock(SHADOW_STEPS);
    if (!r) return undefined;
    return this.compare(r);
  }

  /** Compares a finished shadow block with the recorded streaming steps of the same moments. */
  private compare(r: BlockResult): BlockComparison {
    const firstStep = r.block * this.points;
    const c = compareBlock(r.block, r.start, r.block === 0, this.blockPoses, (i) => this.slotOf(firstStep + i), r.poses, this.points, (i, err) => {
      const step = firstStep + i;
      const k = this.slotOf(step);
      const t = this.streaming.stepBoundary(step) / SAMPLE_RATE;
      this.hooks.onStep(metricsLine(step, t, this.blockCompute[k]!, this.blockE2e[k]!, err.mae, err.mse, this.blockTruth[2 * k]!, this.blockTruth[2 * k + 1]!));
    });
    this.hooks.onBlock?.(c);
    return c;
  }
}

/**
 * The one comparison of a streamed block with exact's: the live shadow and `myostream align`
 * both use it. Streamed pose i of the block sits at `slotOf(i)` (rows of POSE_DIM) in
 * `streamed`; exact's at row i of `exact`. `perStep` sees each step's own errors.
 */
export function compareBlock(
  block: number, startSample: number, aligned: boolean,
  streamed: Float32Array, slotOf: (i: number) => number, exact: Float32Array, points: number,
  perStep?: (i: number, err: { mae: number; mse: number }) => void,
): BlockComparison {
  const main = new ErrorAccumulator();
  const boundary = new ErrorAccumulator();
  let offset = 0;
  for (let i = 0; i < points; i++) {
    const k = slotOf(i);
    for (let d = 0; d < POSE_DIM; d++) offset += streamed[k * POSE_DIM + d]! - exact[i * POSE_DIM + d]!;
    (i === 0 ? boundary : main).add(streamed, k * POSE_DIM, exact, i * POSE_DIM, POSE_DIM);
    perStep?.(i, stepErrors(streamed, k * POSE_DIM, exact, i * POSE_DIM, POSE_DIM));
  }
  return { block, startSample, aligned, main: main.figures(), boundary: boundary.figures(), meanOffset: offset / (points * POSE_DIM), acc: { main, boundary } };
}

function metricsLine(step: number, t: number, computeMs: number, e2e: number, maeX: number, mseX: number, maeT: number, mseT: number): StepMetrics {
  const m: StepMetrics = { step, t: Number(t.toFixed(6)), mode: 'streaming', t_compute_ms: Number(computeMs.toFixed(4)) };
  if (Number.isFinite(e2e)) m.e2e_ms = Number(e2e.toFixed(4));
  if (Number.isFinite(mseX)) {
    m.mae_exact = maeX;
    m.mse_exact = mseX;
  }
  if (Number.isFinite(mseT)) {
    m.mae_truth = maeT;
    m.mse_truth = mseT;
  }
  return m;
}

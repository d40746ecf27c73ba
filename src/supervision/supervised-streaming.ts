import type { RingBuffer } from '../acquisition/ring-buffer.js';
import type { BlockResult, ExactPredictor } from '../inference/exact-predictor.js';
import { FEATURE_DIM, POSE_DIM, SAMPLE_RATE, LEFT_CONTEXT, STEP_SAMPLES } from '../domain/geometry.js';
import type { Predictor } from '../inference/predictor.js';
import type { StepCompanion, StreamingPredictor } from '../inference/streaming-predictor.js';
import type { DecoderStep } from '../inference/decoder.js';
import type { PoseEvent } from '../domain/pose.js';
import { ErrorAccumulator, stepErrors } from '../domain/error-figures.js';
import type { BlockFigures, StepMetrics } from '../domain/events.js';

/** A shadow exact block compared with the streaming steps of the same moments. */
export type BlockComparison = BlockFigures;

export interface SupervisionHooks {
  onStep(m: StepMetrics): void;
  onBlock?(c: BlockComparison): void;
  /** The shadow's own exact block (poses are a view, valid during the call), before its comparison. */
  onShadowBlock?(r: BlockResult): void;
}

/**
 * Streaming with its supervision: per-step metrics (T_compute, end-to-end latency, error
 * against ground truth when the source has it) and, when alignment checking is on, a shadow
 * exact rollout whose blocks are compared with the streaming poses of the same moments.
 *
 * The shadow runs no encoder of its own: exact's whole-window features are its native frames
 * interpolated over the block, and those frames are the streaming session's even frames (frame
 * q = 2k sees the same 1791 samples as native frame k), which the streaming encoder computes
 * anyway. They are collected as they come (FrameEncoder.onFrame), and each exact point is
 * decoded as soon as its two frames are in, batched with the streaming step's own decoder run
 * (StepCompanion): the shadow adds a second row to a weight-bound step instead of a second
 * 24 MB pass. A point whose frames are not in yet waits; the few left at a block's end (the
 * sliding-window policy asks frame q at step q, one native frame behind exact's grid) run on
 * their own right after that step. A block's comparison lands at the end of the block.
 */
export class SupervisedStreaming implements Predictor, StepCompanion {
  readonly mode = 'streaming' as const;
  private readonly points: number;
  // Per-step records of two blocks (slot = block parity): the shadow decodes block b while the
  // streaming steps of block b + 1 are being recorded.
  private readonly blockPoses: Float32Array;
  private readonly blockCompute: Float64Array;
  private readonly blockE2e: Float64Array;
  private readonly blockTruth: Float64Array; // [2 × points, 2]: mae, mse (NaN without truth)
  private readonly truthRow = new Float32Array(POSE_DIM);
  /** Native frames of two blocks (slot = block parity), channel-major [64, frames] each. */
  private readonly frameBuf: [Float32Array, Float32Array];
  private readonly frameSeen: [Uint8Array, Uint8Array];
  private readonly frameBlock = new Float64Array(2).fill(-1);
  private readonly framesPerBlock: number;
  /** Shadow blocks passed over because some of their frames never came (counted, not compared). */
  shadowBlocksSkipped = 0;

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
    this.framesPerBlock = shadow?.frames ?? 1;
    this.frameBuf = [new Float32Array(FEATURE_DIM * this.framesPerBlock), new Float32Array(FEATURE_DIM * this.framesPerBlock)];
    this.frameSeen = [new Uint8Array(this.framesPerBlock), new Uint8Array(this.framesPerBlock)];
    if (shadow) {
      streaming.encoder.onFrame = this.onFrame;
      streaming.setCompanion(this);
    }
  }

  // Bound once: called with every frame the streaming encoder computes.
  private readonly onFrame = (q: number, frame: Float32Array, offset: number): void => {
    if (q % 2 !== 0) return;
    const kg = q / 2;
    const block = Math.floor(kg / this.framesPerBlock);
    const k = kg - block * this.framesPerBlock;
    const slot = block % 2;
    if (this.frameBlock[slot] !== block) {
      this.frameBlock[slot] = block;
      this.frameSeen[slot]!.fill(0);
    }
    const buf = this.frameBuf[slot]!;
    const F = this.framesPerBlock;
    for (let c = 0; c < FEATURE_DIM; c++) buf[c * F + k] = frame[offset + c]!;
    this.frameSeen[slot]![k] = 1;
  };

  get nextReadyAt(): number {
    return this.streaming.nextReadyAt;
  }

  get resumeAt(): number {
    return this.streaming.nextWindowStart;
  }

  endInputAt(sample: number): void {
    this.streaming.endInputAt(sample);
  }

  /**
   * At the end of the input: finishes a shadow block still being decoded, so the last block's
   * comparison is not lost.
   */
  async finish(): Promise<void> {
    const shadow = this.shadow;
    if (!shadow) return;
    for (let d = this.readyShadowPoint(); d; d = this.readyShadowPoint()) {
      await d.step();
      shadow.completeStep();
    }
    const r = shadow.takeFinished();
    if (r) this.compare(r);
    this.flushSteps(this.recorded);
  }

  /** Swapped out (a fallback): the steps no shadow block will compare still get their lines. */
  suspend(): void {
    this.flushSteps(this.recorded);
  }

  // Session steps whose poses were recorded, and those whose metrics lines are out: every
  // streaming step gets one line, with the exact figures when its block was compared.
  private recorded = 0;
  private emitted = 0;

  /** Lines without exact figures for steps [emitted, upTo) that no comparison will cover. */
  private flushSteps(upTo: number): void {
    for (let step = this.emitted; step < upTo; step++) {
      const k = this.slotOf(step);
      const t = this.streaming.stepBoundary(step) / SAMPLE_RATE;
      this.hooks.onStep(metricsLine(step, t, this.blockCompute[k]!, this.blockE2e[k]!, NaN, NaN, this.blockTruth[2 * k]!, this.blockTruth[2 * k + 1]!));
    }
    this.emitted = Math.max(this.emitted, upTo);
  }

  /** The shadow reads no samples (it takes the streaming session's frames): only streaming's needs count. */
  get oldestNeeded(): number {
    return this.streaming.oldestNeeded;
  }

  restartAt(sample: number): void {
    this.flushSteps(this.recorded);
    this.recorded = 0;
    this.emitted = 0;
    this.streaming.restartAt(sample);
    this.shadow?.restartAt(sample);
    this.frameBlock.fill(-1);
  }

  async advance(ring: RingBuffer, emit: (e: PoseEvent) => void): Promise<number> {
    this.readyAt = this.streaming.nextReadyAt;
    this.emit = emit;
    const ms = await this.streaming.advance(ring, this.onStreamingPose);
    await this.runShadow();
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
    // Two blocks of slots: a step about to reuse an uncompared step's slot writes that one's line first.
    if (j - this.emitted >= 2 * this.points) this.flushSteps(j - 2 * this.points + 1);
    this.recorded = j + 1;
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

  /** StepCompanion: the shadow's next point, when its frames are in (called inside the streaming step). */
  prepareStep(): DecoderStep | undefined {
    const shadow = this.shadow;
    if (!shadow) return undefined;
    if (!shadow.blockInProgress) this.beginShadowBlock();
    return this.readyShadowPoint();
  }

  /** StepCompanion: the shared step's output for the shadow. */
  completeStep(): void {
    this.shadow!.completeStep();
  }

  /** The shadow decoder with its next point filled in, if that point's frames are in. */
  private readyShadowPoint(): DecoderStep | undefined {
    const shadow = this.shadow!;
    const t = shadow.nextPoint;
    if (t === undefined || t >= this.points) return undefined;
    const block = shadow.blocksDone - 1;
    const slot = block % 2;
    if (this.frameBlock[slot] !== block) return undefined;
    const need = shadow.framesOfPoint(t);
    const seen = this.frameSeen[slot]!;
    if (seen[need.lo] === 0 || (need.w > 0 && seen[need.hi] === 0)) return undefined;
    shadow.fillPoint(t, this.frameBuf[slot]!);
    return shadow.prepareStep();
  }

  /**
   * After each streaming step: once the streaming session has left a block, the shadow points
   * still owed run on their own (a few at most), then the block is compared. Outside T_compute.
   */
  private async runShadow(): Promise<void> {
    const shadow = this.shadow;
    if (!shadow) return;
    if (shadow.blockInProgress && this.streaming.stepsDone >= shadow.blocksDone * this.points) {
      for (let d = this.readyShadowPoint(); d; d = this.readyShadowPoint()) {
        await d.step();
        shadow.completeStep();
      }
    }
    const r = shadow.takeFinished();
    if (r) this.compare(r);
  }

  /** Starts the shadow on the block the streaming session is in, once its first frame came. */
  private beginShadowBlock(): void {
    const shadow = this.shadow!;
    // Blocks whose frames were never all seen (a session restart inside them) are passed over.
    for (;;) {
      const b = shadow.blocksDone;
      const own = this.frameBlock[b % 2]!;
      if (own === b || !(own > b || this.frameBlock[(b + 1) % 2] === b + 1)) break;
      shadow.skipBlock();
      this.shadowBlocksSkipped++;
    }
    if (this.frameBlock[shadow.blocksDone % 2] === shadow.blocksDone) shadow.beginBlockByPoints();
  }

  /** Compares a finished shadow block with the recorded streaming steps of the same moments. */
  private compare(r: BlockResult): BlockComparison | undefined {
    this.hooks.onShadowBlock?.(r);
    const firstStep = r.block * this.points;
    // A comparison arrives only for a block whose slots still hold its steps.
    if (firstStep < this.emitted) {
      this.shadowBlocksSkipped++;
      return undefined;
    }
    this.flushSteps(firstStep);
    this.emitted = firstStep + this.points;
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

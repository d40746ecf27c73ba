import ort from 'onnxruntime-node';
import type { RingBuffer } from '../acquisition/ring-buffer.js';
import { DecoderStep, PoseIntegrator } from './decoder.js';
import { WindowEncoder } from './encoder.js';
import { FEATURE_DIM, LEFT_CONTEXT, POSE_DIM, framesFor, rolloutPointsFor } from '../domain/geometry.js';
import {
  alignCornersSource,
  interpolateChannelMajorAt,
  lerpPoint,
  resizeAlignCorners,
  upsampleHalfPixel,
  type LerpPoint,
} from './interpolate.js';

/** Key of the one-run block rollout in model_info.json (refer/export.py writes it). */
export const DECODER_ROLLOUT_MODEL_KEY = 'decoder_rollout';

export interface BlockResult {
  /** Block index since the start of the stream. */
  block: number;
  /** Absolute index of the block's first input sample. */
  start: number;
  /** [points, 20] poses at 50 Hz. */
  poses: Float32Array;
  points: number;
  /** [points × 40 samples, 20] poses at the input rate, when upsampling is on. */
  upsampled?: Float32Array;
  /** Input samples the block's poses cover (blockSamples; fewer for the last, partial block). */
  samples: number;
  /** Encoder + interpolation + all LSTM steps, milliseconds. */
  computeMs: number;
}

/**
 * The whole decoder rollout of a block as one run of decoder_rollout.onnx (an ONNX Loop over
 * decoder_step's own nodes): no per-step session.run and JS glue, the graph's weights stay
 * packed across the 250 iterations. Same operators, same weights, same poses as the stepped
 * rollout (test/exact-rollout.test.ts).
 */
class BlockRollout {
  private readonly feeds: Record<string, ort.Tensor>;
  private readonly fetches: Record<string, ort.Tensor>;

  constructor(
    private readonly session: ort.InferenceSession,
    features: Float32Array,
    poses: Float32Array,
    points: number,
  ) {
    if (!session.inputNames.includes('features') || !session.outputNames.includes('poses')) {
      throw new Error(
        `${DECODER_ROLLOUT_MODEL_KEY}: graph has inputs [${session.inputNames.join(', ')}], outputs [${session.outputNames.join(', ')}]; regenerate models/ with refer/export.py`,
      );
    }
    this.feeds = {
      features: new ort.Tensor('float32', features.subarray(0, points * FEATURE_DIM), [points, FEATURE_DIM]),
    };
    this.fetches = { poses: new ort.Tensor('float32', poses.subarray(0, points * POSE_DIM), [points, POSE_DIM]) };
  }

  async run(): Promise<void> {
    await this.session.run(this.feeds, this.fetches);
  }
}

/**
 * The stage-1 baseline, unchanged in behaviour: blocks of left_context + block_samples input
 * samples (stride block_samples), whole-window encoder, features resized to the block's 50 Hz
 * points with align_corners=true, decoder state reset per block, pose/velocity switch at step 12.
 *
 * A block runs its decoder rollout in one run of the Loop graph when it is given (`rollout`),
 * else step by step. The step-by-step path stays for what must spread a block over time (the
 * shadow of a streaming run: beginBlock… / prepareStep / completeStep).
 */
export class ExactPredictor {
  readonly blockSamples: number;
  readonly windowSamples: number;
  readonly points: number;
  /** Native encoder frames per block. */
  readonly frames: number;
  private readonly encoder: WindowEncoder;
  private readonly decoder: DecoderStep;
  private readonly integrator = new PoseIntegrator();
  private readonly features: Float32Array;
  private readonly poses: Float32Array;
  private readonly upsampled: Float32Array | undefined;
  private readonly rollout: BlockRollout | undefined;
  private nextBlock = 0;
  /** The block between beginBlock and its last step. */
  private pending: { block: number; start: number; t: number; computeMs: number } | undefined;
  /** A block finished by completeStep, until takeFinished() collects it. */
  private finished: BlockResult | undefined;
  /** Absolute sample where block 0 starts (moves after a gap). */
  private origin = 0;

  constructor(
    private readonly encoderSession: ort.InferenceSession,
    private readonly decoderSession: ort.InferenceSession,
    blockSamples: number,
    upsample: boolean,
    private readonly rolloutSession?: ort.InferenceSession,
  ) {
    this.blockSamples = blockSamples;
    this.windowSamples = LEFT_CONTEXT + blockSamples;
    this.points = rolloutPointsFor(this.windowSamples);
    this.frames = framesFor(this.windowSamples);
    this.encoder = new WindowEncoder(encoderSession, this.windowSamples);
    this.decoder = new DecoderStep(decoderSession);
    this.features = new Float32Array(this.points * FEATURE_DIM);
    this.poses = new Float32Array(this.points * POSE_DIM);
    this.upsampled = upsample ? new Float32Array(blockSamples * POSE_DIM) : undefined;
    this.rollout = rolloutSession
      ? new BlockRollout(rolloutSession, this.features, this.poses, this.points)
      : undefined;
  }

  /** True when whole blocks run as one Loop-graph run. */
  get oneRunRollout(): boolean {
    return this.rollout !== undefined;
  }

  /** Starts block numbering afresh at `origin` (stream start, or the first sample after a gap). */
  restartAt(origin: number): void {
    this.origin = origin;
    this.nextBlock = 0;
    this.pending = undefined;
    this.finished = undefined;
  }

  /** Blocks begun since the last restart. */
  get blocksDone(): number {
    return this.nextBlock;
  }

  /** Absolute sample count the next block needs. */
  get nextReadyAt(): number {
    return this.origin + this.nextBlock * this.blockSamples + this.windowSamples;
  }

  /** Oldest sample any future block needs (for the ring's reader cursor). */
  get oldestNeeded(): number {
    return this.origin + this.nextBlock * this.blockSamples;
  }

  /** Runs the next block from the ring. Call only when ring.written ≥ nextReadyAt. */
  async runBlock(ring: RingBuffer): Promise<BlockResult> {
    if (!this.rollout) {
      await this.beginBlock(ring);
      return (await this.continueBlock(Infinity))!;
    }
    const start = this.oldestNeeded;
    const t0 = performance.now();
    await this.encodeWindow(ring, start);
    await this.rollout.run();
    const block = this.nextBlock++;
    return this.result(block, start, this.points, this.blockSamples, this.poses, performance.now() - t0);
  }

  /**
   * The input's last, incomplete block (end of a source): the samples [oldestNeeded, end) as
   * one shorter exact window, encoded whole and rolled out over its own 50 Hz points
   * (round((T − 1790)/2000 × 50), as the reference does for a window of T samples). Undefined
   * when those samples hold no encoder frame or no point. Allocates (once per input).
   */
  async runPartialBlock(ring: RingBuffer, end: number): Promise<BlockResult | undefined> {
    const start = this.oldestNeeded;
    const samples = Math.min(end, ring.written) - start;
    if (samples >= this.windowSamples) return this.runBlock(ring);
    const points = rolloutPointsFor(samples);
    const frames = framesFor(samples);
    if (points < 1 || frames < 1 || start < ring.oldest) return undefined;
    const t0 = performance.now();
    const enc = new WindowEncoder(this.encoderSession, samples);
    ring.sliceChannelMajorEndingAt(start + samples, samples, enc.input);
    const feats = await enc.run();
    const features = new Float32Array(points * FEATURE_DIM);
    const poses = new Float32Array(points * POSE_DIM);
    resizeAlignCorners(feats, FEATURE_DIM, frames, points, features);
    if (this.rolloutSession) {
      await new BlockRollout(this.rolloutSession, features, poses, points).run();
    } else {
      const decoder = new DecoderStep(this.decoderSession);
      const integrator = new PoseIntegrator();
      for (let t = 0; t < points; t++) {
        integrator.fillDecoderInput(features, t * FEATURE_DIM, decoder.input);
        poses.set(integrator.update(await decoder.step()), t * POSE_DIM);
      }
    }
    const block = this.nextBlock++;
    const covered = samples - LEFT_CONTEXT;
    let upsampled: Float32Array | undefined;
    if (this.upsampled) {
      upsampled = new Float32Array(covered * POSE_DIM);
      upsampleHalfPixel(poses, POSE_DIM, points, covered, upsampled);
    }
    const r: BlockResult = { block, start, poses, points, samples: covered, computeMs: performance.now() - t0 };
    return upsampled ? { ...r, upsampled } : r;
  }

  /**
   * The block in parts, for a caller that must not stall (the shadow of a streaming run):
   * beginBlock runs the encoder and resets the rollout; continueBlock runs at most `maxSteps`
   * decoder steps and returns the result once all points are done. Same arithmetic as runBlock.
   */
  async beginBlock(ring: RingBuffer): Promise<void> {
    const start = this.oldestNeeded;
    const t0 = performance.now();
    await this.encodeWindow(ring, start);
    this.startRollout(start, performance.now() - t0);
  }

  /**
   * beginBlock from the block's native encoder frames already computed elsewhere (channel-major
   * [64, frames]: the streaming session's even frames): the whole-window encoder's output is
   * exactly those frames, so only the interpolation and the decoder are left to do.
   */
  beginBlockFromFrames(frames: Float32Array): void {
    const t0 = performance.now();
    resizeAlignCorners(frames, FEATURE_DIM, this.frames, this.points, this.features);
    this.startRollout(this.oldestNeeded, performance.now() - t0);
  }

  /**
   * beginBlock for a caller that hands in the block's features point by point as its native
   * frames come in (fillPoint), instead of all at once.
   */
  beginBlockByPoints(): void {
    this.startRollout(this.oldestNeeded, 0);
  }

  /** Next point of the block in progress (undefined when none is). */
  get nextPoint(): number | undefined {
    return this.pending?.t;
  }

  /** The two native frames (lower, upper; upper unused when w = 0) point t of a block is interpolated from. */
  framesOfPoint(t: number): LerpPoint {
    return lerpPoint(alignCornersSource(t, this.frames, this.points), this.frames, this.lerp);
  }

  /**
   * Writes point t's features from the block's native frames (channel-major [64, frames]; only
   * the two framesOfPoint(t) names need to be there yet): the same arithmetic as the resize of
   * a whole block.
   */
  fillPoint(t: number, frames: Float32Array): void {
    const p = this.framesOfPoint(t);
    // On a frame exactly (weight 0) the upper one only adds 0 × frame: not needed yet.
    if (p.w === 0) p.hi = p.lo;
    interpolateChannelMajorAt(frames, FEATURE_DIM, this.frames, p, this.features, t * FEATURE_DIM);
  }

  private readonly lerp: LerpPoint = { lo: 0, hi: 0, w: 0 };

  /** Passes over the next block without computing it (its inputs are gone). */
  skipBlock(): void {
    this.pending = undefined;
    this.nextBlock++;
  }

  /** True between beginBlock and the step that finishes it. */
  get blockInProgress(): boolean {
    return this.pending !== undefined;
  }

  async continueBlock(maxSteps: number): Promise<BlockResult | undefined> {
    for (let n = 0; n < maxSteps; n++) {
      const d = this.prepareStep();
      if (!d) break;
      const t0 = performance.now();
      await d.step();
      this.pending!.computeMs += performance.now() - t0;
      this.completeStep();
    }
    return this.takeFinished();
  }

  /**
   * The decoder of the block in progress with the input of its next point filled in, for a
   * caller that runs the step itself (batched with the streaming step: DecoderStep.stepWith);
   * undefined when no block is in progress. Follow with completeStep().
   */
  prepareStep(): DecoderStep | undefined {
    const p = this.pending;
    if (!p || p.t >= this.points) return undefined;
    this.integrator.fillDecoderInput(this.features, p.t * FEATURE_DIM, this.decoder.input);
    return this.decoder;
  }

  /** Takes the decoder output of the step prepareStep() set up; finishes the block at its last point. */
  completeStep(): void {
    const p = this.pending;
    if (!p) throw new Error('completeStep without a block in progress');
    this.poses.set(this.integrator.update(this.decoder.output), p.t * POSE_DIM);
    p.t++;
    if (p.t < this.points) return;
    this.pending = undefined;
    this.finished = this.result(p.block, p.start, this.points, this.blockSamples, this.poses, p.computeMs);
  }

  /** The block completeStep() finished, once. */
  takeFinished(): BlockResult | undefined {
    const r = this.finished;
    this.finished = undefined;
    return r;
  }

  private async encodeWindow(ring: RingBuffer, start: number): Promise<void> {
    ring.sliceChannelMajorEndingAt(start + this.windowSamples, this.windowSamples, this.encoder.input);
    const feats = await this.encoder.run();
    resizeAlignCorners(feats, FEATURE_DIM, this.encoder.frames, this.points, this.features);
  }

  private startRollout(start: number, computeMs: number): void {
    this.decoder.resetState();
    this.integrator.reset();
    this.finished = undefined;
    this.pending = { block: this.nextBlock++, start, t: 0, computeMs };
  }

  private result(
    block: number,
    start: number,
    points: number,
    samples: number,
    poses: Float32Array,
    computeMs: number,
  ): BlockResult {
    if (this.upsampled) upsampleHalfPixel(poses, POSE_DIM, points, samples, this.upsampled);
    const r: BlockResult = { block, start, poses, points, samples, computeMs };
    return this.upsampled ? { ...r, upsampled: this.upsampled } : r;
  }
}

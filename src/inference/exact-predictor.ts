import type { RingBuffer } from '../acquisition/ring-buffer.js';
import { DecoderStep, PoseIntegrator } from './decoder.js';
import { WindowEncoder } from './encoder.js';
import { FEATURE_DIM, LEFT_CONTEXT, POSE_DIM, rolloutPointsFor } from '../domain/geometry.js';
import { resizeAlignCorners, upsampleHalfPixel } from './interpolate.js';
import type ort from 'onnxruntime-node';

export interface BlockResult {
  /** Block index since the start of the stream. */
  block: number;
  /** Absolute index of the block's first input sample. */
  start: number;
  /** [points, 20] poses at 50 Hz. */
  poses: Float32Array;
  points: number;
  /** [blockSamples, 20] poses at the input rate, when upsampling is on. */
  upsampled?: Float32Array;
  /** Encoder + interpolation + all LSTM steps, milliseconds. */
  computeMs: number;
}

/**
 * The stage-1 baseline, unchanged in behaviour: blocks of left_context + block_samples input
 * samples (stride block_samples), whole-window encoder, features resized to the block's 50 Hz
 * points with align_corners=true, decoder state reset per block, pose/velocity switch at step 12.
 */
export class ExactPredictor {
  readonly blockSamples: number;
  readonly windowSamples: number;
  readonly points: number;
  private readonly encoder: WindowEncoder;
  private readonly decoder: DecoderStep;
  private readonly integrator = new PoseIntegrator();
  private readonly features: Float32Array;
  private readonly poses: Float32Array;
  private readonly upsampled: Float32Array | undefined;
  private nextBlock = 0;
  /** The block between beginBlock and its last continueBlock. */
  private pending: { block: number; start: number; t: number; computeMs: number } | undefined;
  /** Absolute sample where block 0 starts (moves after a gap). */
  private origin = 0;

  constructor(encoder: ort.InferenceSession, decoder: ort.InferenceSession, blockSamples: number, upsample: boolean) {
    this.blockSamples = blockSamples;
    this.windowSamples = LEFT_CONTEXT + blockSamples;
    this.points = rolloutPointsFor(this.windowSamples);
    this.encoder = new WindowEncoder(encoder, this.windowSamples);
    this.decoder = new DecoderStep(decoder);
    this.features = new Float32Array(this.points * FEATURE_DIM);
    this.poses = new Float32Array(this.points * POSE_DIM);
    this.upsampled = upsample ? new Float32Array(blockSamples * POSE_DIM) : undefined;
  }

  /** Starts block numbering afresh at `origin` (stream start, or the first sample after a gap). */
  restartAt(origin: number): void {
    this.origin = origin;
    this.nextBlock = 0;
    this.pending = undefined;
  }

  /** Blocks run since the last restart. */
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
    await this.beginBlock(ring);
    return (await this.continueBlock(Infinity))!;
  }

  /**
   * The block in two parts, for a caller that must not stall (the shadow of a streaming run):
   * beginBlock runs the encoder and resets the rollout; continueBlock runs at most `maxSteps`
   * decoder steps and returns the result once all points are done. Same arithmetic as runBlock.
   */
  async beginBlock(ring: RingBuffer): Promise<void> {
    const start = this.oldestNeeded;
    const t0 = performance.now();
    ring.sliceChannelMajorEndingAt(start + this.windowSamples, this.windowSamples, this.encoder.input);
    const feats = await this.encoder.run();
    resizeAlignCorners(feats, FEATURE_DIM, this.encoder.frames, this.points, this.features);
    this.decoder.resetState();
    this.integrator.reset();
    this.pending = { block: this.nextBlock++, start, t: 0, computeMs: performance.now() - t0 };
  }

  /** True between beginBlock and the continueBlock that finishes it. */
  get blockInProgress(): boolean {
    return this.pending !== undefined;
  }

  async continueBlock(maxSteps: number): Promise<BlockResult | undefined> {
    const p = this.pending;
    if (!p) throw new Error('continueBlock without beginBlock');
    const t0 = performance.now();
    const input = this.decoder.input;
    const end = Math.min(this.points, p.t + maxSteps);
    for (; p.t < end; p.t++) {
      this.integrator.fillDecoderInput(this.features, p.t * FEATURE_DIM, input);
      const out = await this.decoder.step();
      this.poses.set(this.integrator.update(out), p.t * POSE_DIM);
    }
    p.computeMs += performance.now() - t0;
    if (p.t < this.points) return undefined;
    this.pending = undefined;
    if (this.upsampled) upsampleHalfPixel(this.poses, POSE_DIM, this.points, this.blockSamples, this.upsampled);
    const r: BlockResult = { block: p.block, start: p.start, poses: this.poses, points: this.points, computeMs: p.computeMs };
    return this.upsampled ? { ...r, upsampled: this.upsampled } : r;
  }
}

import type ort from 'onnxruntime-node';
import type { RingBuffer } from '../acquisition/ring-buffer.js';
import { WindowEncoder } from './encoder.js';
import { ENCODER_STRIDE, FEATURE_DIM, RECEPTIVE_FIELD, STEP_SAMPLES } from '../domain/geometry.js';

/**
 * Source of encoder frames on the 40-sample grid of a streaming session. Frame q is the
 * encoder's output for the receptive field [origin + 40q, origin + 40q + 1791): the single
 * point of the sliding window of step q, and, for even q, exact's native frame q/2.
 */
/** Sees every frame an encoder computes: frame q is the 64 values at frame[offset…]; copy what you keep. */
export type FrameListener = (q: number, frame: Float32Array, offset: number) => void;

export interface FrameEncoder {
  readonly kind: 'window' | 'incremental';
  /**
   * Called with each frame as it is computed (the live shadow collects the even ones, exact's
   * native frames, instead of running a second encoder).
   */
  onFrame?: FrameListener | undefined;
  /** Starts a new session whose frame 0 begins at absolute sample `origin`. */
  reset(origin: number): void;
  /** Absolute sample count needed before frame q can be computed. */
  readyAt(q: number): number;
  /** Oldest absolute sample that computing frame q (and later ones) still needs. */
  oldestNeeded(q: number): number;
  /** Writes frame q (64 values) into out[outOffset…]. */
  frame(ring: RingBuffer, q: number, out: Float32Array, outOffset: number): Promise<void>;
}

/**
 * Frames by running the whole encoder over a window: the sliding-window path. The
 * window ends at the step boundary of frame q and its newest encoder frame is frame q, so a
 * window of 1830 + 80k samples gives the same frame as 1830 (k more frames of waste). With a
 * 1791-sample window a frame is ready 39 samples sooner, which exact_grid uses.
 */
export class WindowFrameEncoder implements FrameEncoder {
  readonly kind = 'window' as const;
  private readonly encoder: WindowEncoder;
  /** Samples between a frame's receptive field end and the window end. */
  private readonly lead: number;
  private origin = 0;
  onFrame: FrameListener | undefined;

  constructor(
    session: ort.InferenceSession,
    readonly windowSamples: number,
  ) {
    this.encoder = new WindowEncoder(session, windowSamples);
    this.lead = (windowSamples - RECEPTIVE_FIELD) % ENCODER_STRIDE;
  }

  reset(origin: number): void {
    this.origin = origin;
  }

  readyAt(q: number): number {
    return this.origin + STEP_SAMPLES * q + RECEPTIVE_FIELD + this.lead;
  }

  oldestNeeded(q: number): number {
    return this.readyAt(q) - this.windowSamples;
  }

  async frame(ring: RingBuffer, q: number, out: Float32Array, outOffset: number): Promise<void> {
    const end = this.readyAt(q);
    ring.sliceChannelMajorEndingAt(end, this.windowSamples, this.encoder.input);
    const feats = await this.encoder.run();
    // Channel-major [64, frames]: the newest frame is the last column.
    const frames = this.encoder.frames;
    const last = frames - 1;
    for (let c = 0; c < FEATURE_DIM; c++) out[outOffset + c] = feats[c * frames + last]!;
    this.onFrame?.(q, out, outOffset);
  }
}

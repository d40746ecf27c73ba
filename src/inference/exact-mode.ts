import type { RingBuffer } from '../acquisition/ring-buffer.js';
import type { BlockResult, ExactPredictor } from './exact-predictor.js';
import { LEFT_CONTEXT, POSE_DIM, SAMPLE_RATE, STEP_SAMPLES } from '../domain/geometry.js';
import { newPoseEvent, type PoseEvent } from '../domain/pose.js';
import type { Predictor } from './predictor.js';

export interface UpsampledPose {
  /** Absolute input sample index the pose is for. */
  sample: number;
  angles: Float32Array;
}

/** Exact mode as a pipeline predictor: one block per advance, its poses emitted in order. */
export class ExactMode implements Predictor {
  readonly mode = 'exact' as const;
  private readonly event = newPoseEvent('exact', new Float32Array(POSE_DIM));

  constructor(
    readonly exact: ExactPredictor,
    private readonly onUpsampled?: (p: UpsampledPose) => void,
  ) {}

  get nextReadyAt(): number {
    return this.exact.nextReadyAt;
  }

  get oldestNeeded(): number {
    return this.exact.oldestNeeded;
  }

  get resumeAt(): number {
    return this.exact.oldestNeeded;
  }

  restartAt(sample: number): void {
    this.exact.restartAt(sample);
  }

  // The last ring and emitter advance() saw, for a finish() called without them.
  private lastRing: RingBuffer | undefined;
  private lastEmit: ((e: PoseEvent) => void) | undefined;

  async advance(ring: RingBuffer, emit: (e: PoseEvent) => void): Promise<number> {
    this.lastRing = ring;
    this.lastEmit = emit;
    return this.emitBlock(await this.exact.runBlock(ring), emit);
  }

  /**
   * At the end of the input: the samples after the last whole block (a source that ends mid
   * block, or a fallback that started blocks off the 5 s grid) run as one shorter exact window,
   * so its poses are emitted instead of dropped.
   */
  async finish(ring?: RingBuffer, emit?: (e: PoseEvent) => void): Promise<void> {
    const r = ring ?? this.lastRing;
    const out = emit ?? this.lastEmit;
    if (!r || !out) return;
    const block = await this.exact.runPartialBlock(r, r.written);
    if (block) this.emitBlock(block, out);
  }

  private emitBlock(r: BlockResult, emit: (e: PoseEvent) => void): number {
    const firstStep = r.block * this.exact.points;
    const windowEnd0 = r.start + LEFT_CONTEXT + STEP_SAMPLES; // first point's window end
    for (let i = 0; i < r.points; i++) {
      const e = this.event;
      e.angles.set(r.poses.subarray(i * POSE_DIM, (i + 1) * POSE_DIM));
      e.t = (windowEnd0 + i * STEP_SAMPLES) / SAMPLE_RATE;
      e.step = firstStep + i;
      e.inputArrivedAt = NaN;
      emit(e);
    }
    if (r.upsampled && this.onUpsampled) {
      const first = r.start + LEFT_CONTEXT;
      for (let u = 0; u < r.samples; u++) {
        this.onUpsampled({ sample: first + u, angles: r.upsampled.subarray(u * POSE_DIM, (u + 1) * POSE_DIM) });
      }
    }
    return r.computeMs;
  }
}

import type { RingBuffer } from '../acquisition/ring-buffer.js';
import { ExactPredictor } from './exact-predictor.js';
import { POSE_DIM, SAMPLE_RATE, STEP_SAMPLES } from '../domain/geometry.js';
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

  constructor(readonly exact: ExactPredictor, private readonly onUpsampled?: (p: UpsampledPose) => void) {}

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

  async advance(ring: RingBuffer, emit: (e: PoseEvent) => void): Promise<number> {
    const r = await this.exact.runBlock(ring);
    const firstStep = r.block * r.points;
    const windowEnd0 = r.start + this.exact.windowSamples - this.exact.blockSamples + STEP_SAMPLES; // first point's window end
    for (let i = 0; i < r.points; i++) {
      const e = this.event;
      e.angles.set(r.poses.subarray(i * POSE_DIM, (i + 1) * POSE_DIM));
      e.t = (windowEnd0 + i * STEP_SAMPLES) / SAMPLE_RATE;
      e.step = firstStep + i;
      e.inputArrivedAt = NaN;
      emit(e);
    }
    if (r.upsampled && this.onUpsampled) {
      const first = r.start + this.exact.windowSamples - this.exact.blockSamples;
      for (let u = 0; u < this.exact.blockSamples; u++) {
        this.onUpsampled({ sample: first + u, angles: r.upsampled.subarray(u * POSE_DIM, (u + 1) * POSE_DIM) });
      }
    }
    return r.computeMs;
  }
}

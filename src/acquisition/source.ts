import type { RingBuffer } from './ring-buffer.js';

export interface SourceInfo {
  /** synthetic | replay | ads1299 */
  readonly kind: string;
  /** For logs and summary.json: what is being read. */
  readonly description: string;
  readonly sampleRate: number;
  readonly channels: number;
  /** True when the source carries ground-truth joint angles aligned with its samples. */
  readonly hasJointAngles: boolean;
  /** Total samples when known in advance (recordings), else undefined. */
  readonly totalSamples?: number;
}

/** Samples the source could not deliver: the consumer resets streaming state across it. */
export interface GapEvent {
  /** Absolute index (in the ring's numbering) of the first sample after the gap. */
  readonly atSample: number;
  /** Samples lost (best estimate). */
  readonly lostSamples: number;
  readonly reason: string;
}

/**
 * Where a source delivers. `emg` is [time, 16]; `truth`, when the source has joint angles, is
 * [time, 20] with the same sample numbering.
 */
export interface SampleSink {
  readonly emg: RingBuffer;
  readonly truth?: RingBuffer;
  gap(event: GapEvent): void;
  /**
   * Resolves once the consumer has room for `frames` more samples. Sources that can wait
   * (files, synthetic at full speed) call it before each append; live hardware cannot wait and
   * never calls it, so the ring's overflow policy applies.
   */
  waitForSpace(frames: number): Promise<void>;
}

export interface EmgSource {
  readonly info: SourceInfo;
  /** Produces into `sink` until the source ends or `signal` aborts. */
  run(sink: SampleSink, signal: AbortSignal): Promise<void>;
}

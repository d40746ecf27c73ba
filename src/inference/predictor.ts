import type { RingBuffer } from '../acquisition/ring-buffer.js';
import type { Mode, PoseEvent } from '../domain/pose.js';

/** What the pipeline drives: exact blocks or streaming steps, one unit per advance(). */
export interface Predictor {
  readonly mode: Mode;
  /** Absolute sample count the next unit needs. */
  readonly nextReadyAt: number;
  /** Oldest sample any future unit needs; the ring's reader cursor follows it. */
  readonly oldestNeeded: number;
  /** Where a successor must start so that its first output continues this one's timeline. */
  readonly resumeAt: number;
  /** Starts afresh at `sample` (stream start, or the first sample after a gap). */
  restartAt(sample: number): void;
  /** Computes the next unit from the ring and hands each pose to `emit`. Returns compute ms. */
  advance(ring: RingBuffer, emit: (e: PoseEvent) => void): Promise<number>;
  /**
   * Work still owed when the input has ended (a half-done supervision block, exact's last
   * partial block). Poses it produces go to `emit`; without the arguments a predictor uses the
   * ring and emitter of its last advance(), if any.
   */
  /**
   * No sample after `sample` will come for the current session (the input ended, or a gap
   * starts there): a unit that would wait for samples beyond it runs without them.
   */
  endInputAt?(sample: number): void;
  /** Swapped out for another predictor (a fallback): settle what it owes for the steps so far. */
  suspend?(): void;
  finish?(ring?: RingBuffer, emit?: (e: PoseEvent) => void): Promise<void>;
}

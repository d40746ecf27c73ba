import type { RingBuffer } from '../acquisition/ring-buffer.js';
import type { PoseEvent } from '../domain/pose.js';
import type { DecoderStep } from './decoder.js';
import type { Predictor } from './predictor.js';
import type { ShadowRollout } from './shadow-rollout.js';
import type { StepCompanion, StreamingPredictor } from './streaming-predictor.js';

/** The live shadow's name where its failure is reported (the `error` bus event's `plugin`, summary.json's disabled list). */
export const SHADOW_PART = 'shadow';

/** Where a paired predictor's shadow reports. */
export interface ShadowHooks {
  /** The shadow is off from now on after a failure during `during`; the streaming steps go on. */
  onShadowFailed(during: string, error: unknown): void;
}

/** What the shadow is doing: running, never configured, or switched off after a failure. */
export type ShadowState = 'on' | 'none' | 'failed';

/**
 * The streaming predictor with its live shadow (the alignment check's exact rollout) running
 * beside each step, as the daemon drives it. The shadow's decoder row rides in the step's own
 * decoder run and it is fed the step's frames and poses, but none of its failures reaches the
 * step: a throw or a rejected promise anywhere in its work (a frame it takes, the point it
 * prepares, the shared run, its work after the step, a restart, the end of the input) is
 * caught, reported once through `hooks`, and the shadow is switched off; the step in flight
 * finishes without it and the next steps run bare. Nothing outside this class can attach or
 * detach the shadow, so nothing can take it from a step that awaits it.
 */
export class PairedStreamingPredictor implements Predictor {
  readonly mode = 'streaming' as const;
  private state: ShadowState;

  constructor(
    readonly streaming: StreamingPredictor,
    private readonly shadow: ShadowRollout | undefined,
    private readonly hooks: ShadowHooks,
  ) {
    this.state = shadow ? 'on' : 'none';
    if (shadow) streaming.encoder.onFrame = this.onFrame;
  }

  get shadowState(): ShadowState {
    return this.state;
  }

  /** Shadow blocks passed over because their frames or steps were gone (0 without a shadow). */
  get shadowBlocksSkipped(): number {
    return this.shadow?.shadowBlocksSkipped ?? 0;
  }

  get nextReadyAt(): number {
    return this.streaming.nextReadyAt;
  }

  get oldestNeeded(): number {
    return this.streaming.oldestNeeded;
  }

  get resumeAt(): number {
    return this.streaming.resumeAt;
  }

  restartAt(sample: number): void {
    this.streaming.restartAt(sample);
    if (this.state !== 'on') return;
    try {
      this.shadow!.restartAt(sample);
    } catch (e) {
      this.fail('restart', e);
    }
  }

  endInputAt(sample: number): void {
    this.streaming.endInputAt(sample);
  }

  advance(ring: RingBuffer, emit: (e: PoseEvent) => void): Promise<number> {
    // Decided between steps: a step runs with the shadow or without it from start to end.
    if (this.state !== 'on') return this.streaming.advance(ring, emit);
    return this.pairedStep(ring, emit);
  }

  /** The input has ended: the shadow finishes the block it is decoding, so its comparison is not lost. */
  async finish(): Promise<void> {
    if (this.state !== 'on') return;
    try {
      await this.shadow!.finish();
    } catch (e) {
      this.fail('finish', e);
    }
  }

  private async pairedStep(ring: RingBuffer, emit: (e: PoseEvent) => void): Promise<number> {
    const ms = await this.streaming.advance(ring, emit, this.companion);
    // Work outside T_compute: the step's pose is recorded, owed points run, a block is compared.
    if (this.state === 'on') {
      try {
        await this.shadow!.afterStep(this.streaming.stepsDone - 1, this.streaming.pose);
      } catch (e) {
        this.fail('after step', e);
      }
    }
    return ms;
  }

  // Bound once: the streaming encoder calls it with every frame it computes.
  private readonly onFrame = (q: number, frame: Float32Array, offset: number): void => {
    if (this.state !== 'on') return;
    try {
      this.shadow!.onFrame(q, frame, offset);
    } catch (e) {
      this.fail('frame', e);
    }
  };

  // Handed to each paired step; a shadow switched off mid-step answers "no step" from then on.
  private readonly companion: StepCompanion = {
    prepareStep: (): DecoderStep | undefined => {
      if (this.state !== 'on') return undefined;
      try {
        return this.shadow!.prepareStep();
      } catch (e) {
        this.fail('prepare step', e);
        return undefined;
      }
    },
    completeStep: (): void => {
      if (this.state !== 'on') return;
      try {
        this.shadow!.completeStep();
      } catch (e) {
        this.fail('complete step', e);
      }
    },
    abandonStep: (error: unknown): void => this.fail('shared decoder run', error),
  };

  private fail(during: string, error: unknown): void {
    if (this.state !== 'on') return;
    this.state = 'failed';
    const enc = this.streaming.encoder;
    if (enc.onFrame === this.onFrame) enc.onFrame = undefined;
    this.hooks.onShadowFailed(during, error);
  }
}
